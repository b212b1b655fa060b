"""Train, check and install the bundled default English model (data/default).

Steps (each a real wordrnn command or library call, so the bundle is made like any user's model):

1. ``wordrnn train`` on Brown train.txt with the quality recipe of scripts/bench_quality.py,
   validated (early stopping, best epoch) on Brown valid.txt, within ``--minutes``; or reuse an
   already trained directory with ``--from-run DIR`` (e.g. the benchmark's OUT/model).
2. ``wordrnn interpolate``: fits the word-cache / trigram weights on valid.txt.
3. The bundle: the usable model only (no resumable checkpoint), weights stored as float16 to fit
   the 10 MB cap, then a LiteRT export (dynamic int8 when it keeps the top-3 words at >= 99% of
   positions, else float16, which is exact for float16 weights), metrics on Brown valid (BENCHMARKS.md §1) and a model card.
4. Installs it as data/default by an atomic rename (the previous bundle stays until then).

Prints one JSON line describing the installed model.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_quality import BROWN, RECIPE, WORDRNN, display, run  # noqa: E402

from wordrnn import checkpoint as ckpt  # noqa: E402
from wordrnn.saved import SavedModel  # noqa: E402

CAP_BYTES = 10_000_000
MIN_INT8_AGREEMENT = 0.99
LICENCE = ("Brown Corpus (Francis & Kucera, 1964/1979) as distributed with NLTK: redistribution permitted by the "
           "copyright holder. Model weights: MIT, like wordrnn.")


def top3_agreement(reference, candidate, saved: SavedModel, text: Path, positions: int = 2000) -> float:
    """Share of positions of real held-out text where two runners offer the same top-3 words."""
    from wordrnn.config import TokenizerConfig
    from wordrnn.evaluation import read_tokens
    from wordrnn.export import text_agreement
    from wordrnn.tokenizer import Tokenizer

    words = read_tokens([text], Tokenizer(TokenizerConfig(pretokenized=True)), positions)
    return text_agreement(reference, candidate, saved.vocab.encode(words))["top3_agreement"]


def bundle(source: Path, target: Path, train_info: dict) -> dict:
    """Write the usable model of ``source`` into a fresh ``target`` with float16 weights."""
    saved = SavedModel.load(source)
    manifest = saved.manifest
    meta = {k: v for k, v in manifest.items()
            if k not in ("format", "format_version", "written", "generation", "files", "checksums", "litert", "position")}
    files = {"vocab.json": saved.vocab.to_json(),
             "weights.npz": {k: v.astype(np.float16) for k, v in saved.weights.items()},
             "history.json": saved.history}
    for stem, name in manifest["files"].items():  # interpolation parts (n-gram counts...) travel as they are
        if stem not in ("vocab", "weights", "history", "litert", "metrics"):
            files[f"{stem}.{name.rsplit('.', 1)[1]}"] = (source / name).read_bytes()
    meta["config"]["tokenizer"]["pretokenized"] = False  # Brown is read pre-tokenized; typed text is tokenized
    files["start_state.npz"] = start_state(saved)
    ckpt.write_manifest(target, ckpt.MODEL_MANIFEST, {**meta, "training": train_info}, files)
    return meta


def start_state(saved: SavedModel, tokens: int = 64_000) -> dict[str, np.ndarray]:
    """The mean network state at sentence ends of the training text: the learned start-of-text state."""
    from wordrnn.config import TokenizerConfig
    from wordrnn.evaluation import read_tokens
    from wordrnn.generator import mean_state_before
    from wordrnn.runtime import KerasStep
    from wordrnn.tokenizer import Tokenizer
    from wordrnn.vocab import EOS_ID

    words = read_tokens([BROWN / "train.txt"], Tokenizer(TokenizerConfig(pretokenized=True)), tokens)
    state = mean_state_before(KerasStep(saved), np.asarray(saved.vocab.encode(words)), EOS_ID)
    return {f"state_{i}": s for i, s in enumerate(state)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/wordrnn-default"), help="scratch directory")
    parser.add_argument("--from-run", type=Path, help="reuse this trained model directory instead of training")
    parser.add_argument("--minutes", type=float, default=55.0, help="training wall-time budget")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--install", type=Path, default=ROOT / "data" / "default")
    parser.add_argument("--with-trigram", action="store_true", help="interpolate the pruned trigram too (over the cap)")
    args = parser.parse_args()
    train, valid = BROWN / "train.txt", BROWN / "valid.txt"
    if not train.is_file():
        raise SystemExit(f"Brown corpus not found under {BROWN}")
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "default.log"

    model = args.work / "model"
    train_cmd = [*WORDRNN, "train", str(train), "--valid", str(valid), "-o", str(model), *RECIPE,
                 "--epochs", str(args.epochs), "--seed", "1", "--force", "-q"]
    if args.from_run:
        shutil.rmtree(model, ignore_errors=True)
        shutil.copytree(args.from_run, model)
        record = args.from_run.parent / "train.json"
        trained = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
        train_seconds, command = trained.get("train_seconds"), trained.get("command", display(train_cmd))
    else:
        _, train_seconds = run(train_cmd, log, time.perf_counter() + 60 * args.minutes)
        command = display(train_cmd)
    # The pruned trigram (2 MB) would take the bundle over the 10 MB cap next to the network's own
    # weights and export, so the bundled model interpolates the word cache only (--with-trigram to add it).
    interpolate_cmd = [*WORDRNN, "interpolate", str(model), "--valid", str(valid), "--pretokenized", "--json", "-q"]
    if args.with_trigram:
        interpolate_cmd[-3:-3] = ["--ngram", str(train), "--ngram-min-count", "2"]
    interpolation = json.loads(run(interpolate_cmd, log)[0])

    staging = args.install.with_name(f".{args.install.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    history = SavedModel.load(model).history
    train_info = {"command": command, "interpolate_command": display(interpolate_cmd),
                  "train_seconds": round(train_seconds, 1) if train_seconds else None, "epochs": len(history),
                  "best_val_ppl": round(float(np.exp(min(h["val_loss"] for h in history))), 2) if history else None}
    meta = bundle(model, staging, train_info)

    from wordrnn.evaluation import evaluate
    from wordrnn.export import export_model
    from wordrnn.runtime_litert import LiteRTStep

    export_model(staging, "none")
    float_step = LiteRTStep(SavedModel.load(staging))
    export = export_model(staging, "dynamic")
    agreement = top3_agreement(float_step, LiteRTStep(SavedModel.load(staging)), SavedModel.load(staging), valid)
    if agreement < MIN_INT8_AGREEMENT:
        # float16 is exact for float16 weights and nearly as small as int8 here (the embedding dominates)
        export = export_model(staging, "float16")
    export["int8_held_out_top3_agreement"] = agreement
    metrics = evaluate([valid], staging, pretokenized=True, save=True)
    network_only = evaluate([valid], staging, pretokenized=True, interpolated=False)
    saved = SavedModel.load(staging)
    card = {
        "name": "wordrnn default English model",
        "date": datetime.date.today().isoformat(),
        "data": {"train": "Brown Corpus, first ~800k tokens (shared/corpora/brown/train.txt)",
                 "validation": "Brown Corpus, next ~200k tokens (valid.txt): early stopping, interpolation weights "
                               "and the metrics below (not trained on)",
                 "tokenization": "pre-tokenized Brown tokens, case kept; vocabulary: words seen >= 3 times"},
        "licence": LICENCE,
        "configuration": meta["config"],
        "interpolation": interpolation,
        "training": train_info,
        "export": {k: export[k] for k in ("quantize", "bytes", "check", "int8_held_out_top3_agreement") if k in export},
        "metrics_brown_valid": {k: metrics[k] for k in ("ppl", "bits", "top1", "top3", "top5", "ksr3", "oov_rate",
                                                        "tokens", "vocab")},
        "metrics_brown_valid_network_only": {k: network_only[k] for k in ("ppl", "top1", "top3", "ksr3")},
        "parameters": saved.parameter_count(),
        "weights_dtype": "float16 (cast to float32 on load)",
    }
    ckpt.update_files(staging, ckpt.MODEL_MANIFEST, {"card.json": card})
    size = sum(p.stat().st_size for p in staging.iterdir() if p.is_file())
    if size > CAP_BYTES:
        raise SystemExit(f"the bundle is {size / 1e6:.1f} MB, over the 10 MB cap; nothing installed")
    previous = args.install.with_name(f".{args.install.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if args.install.exists():
        args.install.rename(previous)
    staging.rename(args.install)
    shutil.rmtree(previous, ignore_errors=True)
    print(json.dumps({"bench": "default_model", "installed": str(args.install), "bytes": size, **card["metrics_brown_valid"],
                      "network_only_ppl": network_only["ppl"], "quantize": export["quantize"],
                      "top3_agreement_int8": agreement, "train_seconds": train_info["train_seconds"]}))


if __name__ == "__main__":
    main()
