"""The bundled default English model: present, within its size cap, described by its card, sensible."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wordrnn.store import checkpoint as ckpt
from wordrnn.cli.main import app
from wordrnn.store.saved import SavedModel, bundled_model_path

ROOT = Path(__file__).resolve().parents[1]
CAP_BYTES = 16_000_000
ACCEPTABLE_TOP5 = {
    "i would like to ": {"be", "see", "know", "have", "go", "make", "take", "say", "get", "do", "thank", "point",
                          "hear", "think", "ask", "add", "call", "talk", "tell", "help", "come", "find", "give"},
    "the united ": {"States", "Nations", "nations", "Kingdom", "Church", "Press", "Fund"},
    "it was a ": {"good", "great", "very", "long", "little", "new", "few", "man", "small", "big", "matter", "lot",
                  "fine", "question", "strange", "pleasure", "time", "real", "bit", "year", "place", "day", "sort"},
}


@pytest.fixture(scope="module")
def bundled() -> SavedModel:
    path = bundled_model_path()
    assert path is not None, "the default model is missing: run scripts/train_default_model.py"
    return SavedModel.load(path)


@pytest.fixture(scope="module")
def predictor(bundled):
    import wordrnn

    return wordrnn.load(bundled.path)


def test_size_is_within_the_cap(bundled):
    size = sum(p.stat().st_size for p in bundled.path.iterdir() if p.is_file())
    assert size <= CAP_BYTES, f"{size} bytes"
    assert not (bundled.path / ckpt.CHECKPOINT_MANIFEST).exists(), "the bundle carries no resumable checkpoint"


def test_each_weight_is_stored_once(bundled):
    from wordrnn.store.exported import WEIGHTS_KEY

    kept = bundled.manifest["litert"][WEIGHTS_KEY]
    rest = bundled.read_arrays("weights")
    assert set(kept) | set(rest) == set(bundled.weights) and not set(kept) & set(rest)
    files = bundled.manifest["files"]
    assert (bundled.path / files["weights"]).stat().st_size < 0.02 * (bundled.path / files["litert"]).stat().st_size
    assert "once" in bundled.optional_json("card")["weights_stored"]


def test_card_matches_the_files(bundled):
    card = bundled.optional_json("card")
    assert card, "the bundle has no model card"
    for key in ("data", "licence", "sources", "configuration", "training", "interpolation", "lexicon", "metrics", "date"):
        assert card[key], key
    assert card["parameters"] == bundled.parameter_count()
    assert card["configuration"] == bundled.manifest["config"]
    assert card["configuration"]["model"]["vocab_size"] == len(bundled.vocab)
    assert card["lexicon"]["words"] == len(bundled.load_lexicon())
    assert card["export"]["quantize"] == bundled.manifest["litert"]["quantize"]
    for key in ("buckets", "cache", "ngram"):
        assert card["interpolation"][key] == bundled.manifest["interpolation"][key]
    for name in bundled.manifest["files"].values():  # every file named is present and verified
        ckpt.read_file(bundled.path, bundled.manifest, name.rsplit("-", 1)[0])


def test_the_card_tells_the_licences_as_the_sources_state_them(bundled):
    card = bundled.optional_json("card")
    assert "non-commercial" in card["licence"] and "MIT" not in card["licence"].split("wordrnn's code")[0]
    brown = next(v for k, v in card["sources"].items() if k.startswith("Brown"))
    assert '"May be used for non-commercial purposes."' in brown
    assert sum("Creative Commons Attribution 4.0" in v or "CC BY 4.0" in v for v in card["sources"].values()) == 3
    assert any("ShareAlike" in v for k, v in card["sources"].items() if "wordfreq" in k)


def test_the_bundle_names_no_path_of_the_machine_that_built_it(bundled):
    for path in bundled.path.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert not any(f'"{root}' in text or f" {root}" in text for root in ("/work/", "/tmp/", "/home/", "/root/")), path


def test_card_figures_are_on_held_out_text_and_beat_the_trigram(bundled):
    card = bundled.optional_json("card")
    metrics = card["metrics"]
    assert {"switchboard", "tinyshakespeare", "brown"} <= set(metrics)
    for text, systems in metrics.items():
        assert {"model", "model+lexicon", "network", "trigram", "trigram+lexicon"} == set(systems), text
        model, trigram = systems["model"], systems["trigram"]
        assert model["tokens"] == trigram["tokens"], text  # the same text for both
        assert model["top1"] >= trigram["top1"] and model["top3"] >= trigram["top3"], text
        assert model["ksr3"] > trigram["ksr3"] and model["ppl"] < trigram["ppl"], text
        assert systems["model+lexicon"]["ksr3"] >= model["ksr3"], text


def test_card_out_of_domain_keystroke_savings_beat_the_trigram_by_4_points(bundled):
    """Issue 15's out-of-domain target, as the card records it (text never trained or tuned on)."""
    metrics = bundled.optional_json("card")["metrics"]
    for text in ("switchboard", "tinyshakespeare"):
        for model, trigram in (("model", "trigram"), ("model+lexicon", "trigram+lexicon")):
            gain = metrics[text][model]["ksr3"] - metrics[text][trigram]["ksr3"]
            assert gain >= 0.04, (text, model, gain)


def test_card_figures_agree_with_a_recomputation(bundled, tmp_path):
    """Recompute one held-out text's figures with `evaluate` (an independent code path from the
    script's one-pass scoring): the product-review test slice, rebuilt from the shared corpora."""
    corpora = ROOT.parent / "shared" / "corpora"
    if not (corpora / "extra" / "product_reviews.txt").is_file():
        pytest.skip(f"{corpora} is absent: the held-out slices cannot be rebuilt")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_default_corpus.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    from wordrnn.evaluation.measure import evaluate

    card = bundled.optional_json("card")["metrics"]["product_reviews"]
    for system, lexicon in (("model", False), ("model+lexicon", True)):
        figures = evaluate([tmp_path / "test-product_reviews.txt"], bundled.path, pretokenized=True, limit=30_000,
                           lexicon=lexicon)
        assert figures["tokens"] == card[system]["tokens"]
        for key in ("ppl", "top1", "top3", "ksr3", "oov_rate"):
            assert figures[key] == pytest.approx(card[system][key], rel=2e-3, abs=1e-4), (system, key)


@pytest.mark.parametrize("context", sorted(ACCEPTABLE_TOP5))
def test_common_contexts_give_sensible_words(predictor, context):
    words = [w for w, _ in predictor.suggest(context, k=5)]
    assert len(words) == 5 and set(words) & ACCEPTABLE_TOP5[context], words


def test_everyday_typing_looks_right(predictor):
    after_the = [w for w, _ in predictor.suggest("the next ", k=3)]
    assert all(w.isalpha() and w.islower() for w in after_the), after_the
    starts = [w for w, _ in predictor.suggest("", k=3)]
    assert all(w[0].isupper() for w in starts), starts
    for context in ("", "the next ", "zzqx qqzy ", "i would like to "):
        assert not {"<unk>", "</s>"} & {w for w, _ in predictor.suggest(context, k=20)}


def test_complete_works_without_model_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("WORDRNN_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["complete", "the next ", "--json"])
    assert result.exit_code == 0, result.output
    suggestions = json.loads(result.stdout)["suggestions"]
    assert len(suggestions) == 3 and all(s["word"].isalpha() for s in suggestions)


def test_info_without_argument_describes_the_default_model():
    result = CliRunner().invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)["card"]
    assert card["name"] == "wordrnn default English model"
    shown = CliRunner().invoke(app, ["info"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].strip() == card["name"]  # the card comes first: what the model is, from what, under which licence
    assert any("licence" in line and "Brown Corpus" in line for line in lines)
    shown_ppl = f"ppl={card['metrics']['switchboard']['model']['ppl']:.4g}"
    assert any("metrics switchboard model " in line and shown_ppl in line for line in lines)


def test_the_wheel_ships_the_default_model(tmp_path, bundled):
    """Built offline: without build isolation, with the setuptools and wheel already installed."""
    for backend in ("setuptools", "wheel"):
        pytest.importorskip(backend, reason=f"building the wheel without network access needs {backend} installed")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-build-isolation", "--no-deps",
                            "--no-index", "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(tmp_path.glob("wordrnn-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in [ckpt.MODEL_MANIFEST, *bundled.manifest["files"].values()]:
        assert f"wordrnn/data/default/{name}" in names, name
