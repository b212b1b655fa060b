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
CAP_BYTES = 10_000_000
ACCEPTABLE_TOP5 = {
    "i would like to ": {"be", "see", "know", "have", "go", "make", "take", "say", "get", "do", "thank", "point",
                          "hear", "think", "ask", "add", "call", "talk", "tell", "help", "come", "find", "give"},
    "the united ": {"States", "Nations", "Kingdom", "Church", "Press", "Fund"},
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


def test_card_matches_the_files(bundled):
    card = bundled.optional_json("card")
    assert card, "the bundle has no model card"
    for key in ("data", "licence", "configuration", "training", "metrics_brown_valid", "date"):
        assert card[key], key
    assert card["parameters"] == bundled.parameter_count()
    assert card["configuration"] == bundled.manifest["config"]
    assert card["metrics_brown_valid"]["vocab"] == len(bundled.vocab)
    assert card["export"]["quantize"] == bundled.manifest["litert"]["quantize"]
    for name in bundled.manifest["files"].values():  # every file named is present and verified
        ckpt.read_file(bundled.path, bundled.manifest, name.rsplit("-", 1)[0])


def test_card_figures_agree_with_what_can_be_recomputed(bundled):
    """The card's figures and metrics.json come from one dict of the same run, so each is checked
    against a recomputation instead: bits from perplexity, the perplexity against the interpolation
    fit's own pass over the text, and the token counts against the validation text itself."""
    card = bundled.optional_json("card")
    figures = card["metrics_brown_valid"]
    assert figures["bits"] == pytest.approx(math.log2(figures["ppl"]))
    assert 0 < figures["top1"] <= figures["top3"] <= figures["top5"] < 1 and 0 < figures["ksr3"] < 1
    fitted = card["interpolation"]  # what `wordrnn interpolate` measured in its own pass, not `evaluate`
    assert {k: fitted[k] for k in bundled.manifest["interpolation"]} == bundled.manifest["interpolation"]
    assert figures["tokens"] == fitted["tokens"]
    assert figures["ppl"] == pytest.approx(fitted["valid_ppl_interpolated"], rel=2e-3)
    valid = ROOT.parent / "shared" / "corpora" / "brown" / "valid.txt"
    if not valid.is_file():
        pytest.skip(f"{valid} is absent: the token counts cannot be recounted")
    sentences = [line.split() for line in valid.read_text(encoding="utf-8").splitlines() if line.strip()]
    words = sum(map(len, sentences))  # pre-tokenized: one sentence a line, tokens split by spaces
    assert figures["tokens"] == words + len(sentences)  # each sentence ends with </s>
    assert bundled.metrics["words"] == words
    assert {key: bundled.metrics[key] for key in figures} == figures  # `info` shows what the card says


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
    assert any("metrics brown valid ppl" in line and f"{card['metrics_brown_valid']['ppl']:.4g}" in line for line in lines)


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
