"""Train, check and install the bundled default English model (data/default).

The default model is a case-folded network trained on a broad mix of English (Brown, movie and
product reviews, pros and cons, inaugural addresses), split before training into train / dev /
test parts of every source (scripts/build_default_corpus.py). Each step is a real wordrnn command
or library call, so the bundle is made like any user's model:

1. ``wordrnn train`` on train.txt, early stopping on dev.txt, within ``--minutes`` (or reuse a
   finished run with ``--from-run DIR``); each ``--continue EPOCHS[:EMA]`` then continues it to that
   many epochs (``wordrnn train --resume``), with weight averaging from then on when EMA is given.
2. The bundle: float16 weights, the vocabulary
   with display forms learned from the cased sources' training parts ("i" -> "I"), the learned
   start state (the mean state at sentence ends).
3. ``wordrnn interpolate`` fits the mixture on dev.txt: word cache and pruned Kneser-Ney trigram of
   train.txt by trigram history count, then the continuous cache of the last hidden states; ``wordrnn lexicon`` adds wordfreq's 100k words
   and the training words outside the vocabulary; ``wordrnn export --weights-in-export`` writes the
   float16 step, which then keeps the weights once (the weights file keeps only the two biases the
   converter folds into the output layer).
4. The card's figures come from scripts/bench_ood.py on text nothing was trained or tuned on: the
   held-out test part of every source, Switchboard telephone conversations and tinyshakespeare,
   each beside a Kneser-Ney trigram from the same train.txt with the same vocabulary.
5. Installs it as data/default by an atomic rename when it fits the size cap.

Usage: nice python scripts/train_default_model.py --work /work/runs/default [--from-run DIR] [--continue N[:EMA] ...]
       python scripts/train_default_model.py --work /work/runs/default --corpus CORPUS --refit
         (keeps the installed network, lexicon and export; fits the mixture again, remeasures, rewrites the card)
The shipped model: trained with ``--minutes 90`` (stopped by that limit early in epoch 10, still
improving), then ``--continue 16 --continue 22:0.9995`` (to 16 epochs, then to 22 with the weights
averaged, momentum 0.9995, as averaged SGD does late in a run); its card records every command.
(The second continuation was first started without ``--ema`` and stopped by Ctrl-C after 888
windows of epoch 17; the averaging began from that checkpoint.)
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

from bench_ood import measure, texts  # noqa: E402
from bench_quality import WORDRNN, continuation, continue_run, display, run, trained_history  # noqa: E402
from build_default_corpus import build  # noqa: E402

from wordrnn.store import checkpoint as ckpt  # noqa: E402
from wordrnn.store.saved import SavedModel  # noqa: E402

CAP_BYTES = 16_000_000
CASED_SOURCES = ("brown", "pros_cons", "inaugural")  # the lower-cased review sources say nothing of case
READING = ["--pretokenized", "--lowercase"]  # how the recipe reads the corpus (a resume reads it the same way)
RECIPE = [*READING, "--min-count", "3", "--max-vocab", "20000",
          "--layers", "2", "--units", "256", "--embedding", "96", "--tied", "--dropout", "0.25",
          "--learning-rate", "0.002", "--lr-decay", "0.85", "--batch-size", "32", "--window", "35",
          "--sampled-softmax", "1024", "--early-stopping", "2", "--seed", "1"]
SOURCES = {
    "Brown Corpus (Francis & Kucera, 1964/1979), via NLTK": "the corpus README: \"Distributed with the permission of "
        "the copyright holder, redistribution permitted\"; NLTK's data index: \"May be used for non-commercial purposes.\"",
    "Movie reviews, polarity dataset v2.0 (Pang & Lee, 2004), via NLTK": "Creative Commons Attribution 4.0 "
        "International (NLTK data index)",
    "Customer reviews of 14 products (Hu & Liu, 2004), via NLTK": "Creative Commons Attribution 4.0 International "
        "(NLTK data index)",
    "Pros and cons (Bing Liu), via NLTK": "\"Pros and cons dataset by Bing Liu is licensed under CC BY 4.0 International\"",
    "US presidential inaugural addresses 1789-2009, via NLTK": "public domain",
    "wordfreq 3 word frequencies (Robyn Speer), the lexicon": "wordfreq's README: the code is under the Apache "
        "license and \"it includes data files that may be redistributed under a Creative Commons "
        "Attribution-ShareAlike 4.0 license\"",
}
LICENCE = ("Trained on the Brown Corpus, which NLTK lists as \"May be used for non-commercial purposes\": use this "
           "model for non-commercial purposes only. The CC BY 4.0 sources require attribution (see sources). The "
           "lexicon file holds wordfreq data (CC BY-SA 4.0). wordrnn's code is MIT.")


def bundle(source: Path, target: Path, corpus: Path, train_info: dict) -> None:
    """Write the usable model of ``source`` into a fresh ``target``: float16 weights, display forms, start state."""
    from wordrnn.config import TokenizerConfig
    from wordrnn.text.encode import iter_tokens
    from wordrnn.text.tokenizer import Tokenizer
    from wordrnn.text.truecase import truecase_table
    from wordrnn.text.vocab import Vocabulary

    saved = SavedModel.load(source)
    cased = [corpus / f"train-{name}.txt" for name in CASED_SOURCES]
    table = truecase_table(iter_tokens(cased, Tokenizer(TokenizerConfig(pretokenized=True))))
    vocab = Vocabulary(saved.vocab.words, saved.vocab.counts, table)
    dropped = ("format", "format_version", "written", "generation", "files", "checksums", "position", "litert",
               "interpolation", "lexicon")
    meta = {**{k: v for k, v in saved.manifest.items() if k not in dropped}, "training": train_info}
    meta["config"]["tokenizer"]["pretokenized"] = False  # trained on tokenized files; typed text is tokenized
    files = {"vocab.json": vocab.to_json(), "history.json": saved.history,
             "weights.npz": {k: v.astype(np.float16) for k, v in saved.weights.items()},
             "start_state.npz": start_state(saved, corpus / "train.txt")}
    ckpt.write_manifest(target, ckpt.MODEL_MANIFEST, meta, files)


def start_state(saved: SavedModel, text: Path, tokens: int = 64_000) -> dict[str, np.ndarray]:
    """The mean network state at sentence ends of the training text: the learned start-of-text state."""
    from wordrnn.config import replace
    from wordrnn.evaluation.streams import read_tokens
    from wordrnn.predict.generator import mean_state_before
    from wordrnn.runtime.keras import KerasStep
    from wordrnn.text.tokenizer import Tokenizer
    from wordrnn.text.vocab import EOS_ID

    words = read_tokens([text], Tokenizer(replace(saved.tokenizer_config, pretokenized=True)), tokens)
    state = mean_state_before(KerasStep(saved), np.asarray(saved.vocab.encode(words)), EOS_ID)
    return {f"state_{i}": s for i, s in enumerate(state)}


def scrub(value: object, places: dict[str, str]) -> object:
    """``value`` (JSON) with this machine's paths replaced by names (a bundle names no local paths)."""
    if isinstance(value, str):
        for path, name in places.items():
            value = value.replace(path, name)
        return value
    if isinstance(value, list):
        return [scrub(v, places) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, places) for k, v in value.items()}
    return value


def install(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames (the previous bundle stays until the new one is in place)."""
    previous = target.with_name(f".{target.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        target.rename(previous)
    staging.rename(target)
    shutil.rmtree(previous, ignore_errors=True)


def train(args: argparse.Namespace, corpus: Path, log: Path) -> tuple[Path, dict]:
    """The trained network (trained now, or reused with --from-run) and how it was made."""
    model = args.from_run or args.work / "model"
    command = [*WORDRNN, "train", str(corpus / "train.txt"), "--valid", str(corpus / "dev.txt"), "-o", str(model),
               *RECIPE, "--epochs", str(args.epochs), "--force", "-q"]
    if not args.from_run:
        run(command, log, time.perf_counter() + 60 * args.minutes)
    info = {"command": display(command)}
    if args.continue_to:
        info["continued"] = [display(continue_run(model, corpus / "train.txt", corpus / "dev.txt", READING, epochs, ema,
                                                  log)) for epochs, ema in args.continue_to]
    history = trained_history(model)  # every epoch trained: the model's own history ends at its best epoch
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    return model, {**info, "corpus": "scripts/build_default_corpus.py --out CORPUS", "epochs_run": len(history),
                   "best_epoch": best + 1, "dev_ppl": round(float(np.exp(history[best]["val_loss"])), 2),
                   "train_seconds": round(sum(h.get("seconds", 0) for h in history), 1) or None}


def finish(staging: Path, corpus: Path, log: Path, args: argparse.Namespace) -> dict:
    """Interpolation, lexicon and export on the staged bundle; returns what each step reported."""
    steps = {
        "interpolation": interpolation_command(staging, corpus, args),
        "lexicon": [*WORDRNN, "lexicon", str(staging), "--corpus", str(corpus / "train.txt"), "--pretokenized",
                    "--words", str(args.lexicon_words), "--json"],
        "export": [*WORDRNN, "export", str(staging), "--quantize", "float16", "--weights-in-export", "--json"],
    }
    done = {}
    for name, command in steps.items():
        done[name] = json.loads(run(command, log)[0])
        done[name]["command"] = display(command)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/wordrnn-default"), help="scratch directory")
    parser.add_argument("--corpus", type=Path, help="reuse a corpus made by build_default_corpus.py")
    parser.add_argument("--from-run", type=Path, help="reuse this trained network instead of training it")
    parser.add_argument("--minutes", type=float, default=90.0, help="training wall-time budget")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--continue", dest="continue_to", type=continuation, action="append", metavar="EPOCHS[:EMA]",
                        help="then continue the network to this many epochs (--resume), averaging its weights "
                             "with momentum EMA if given; repeat for each continuation, in order")
    parser.add_argument("--ngram-min-count", type=int, default=3, help="trigram count cut-off (size)")
    parser.add_argument("--lexicon-words", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=40_000, help="tokens per measurement text")
    parser.add_argument("--install", type=Path, default=ROOT / "data" / "default")
    parser.add_argument("--refit", action="store_true",
                        help="keep the installed network, lexicon and export: fit its mixture again with this code, "
                             "measure it and rewrite its card")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "default.log"
    corpus = args.corpus or args.work / "corpus"
    if args.corpus is None:
        build(corpus)
    if args.refit:
        staging, train_info, steps = refit(args, corpus, log)
    else:
        model, train_info = train(args, corpus, log)
        staging = args.install.with_name(f".{args.install.name}.staging")
        shutil.rmtree(staging, ignore_errors=True)
        bundle(model, staging, corpus, train_info)
        steps = finish(staging, corpus, log, args)
    measure_and_install(staging, corpus, args, log, train_info, steps)


def refit(args: argparse.Namespace, corpus: Path, log: Path) -> tuple[Path, dict, dict]:
    """A staged copy of the installed bundle with its mixture fitted again by this code (the network,
    vocabulary, lexicon and export unchanged); the card keeps how the network was trained."""
    card = SavedModel.load(args.install).optional_json("card")
    if not card:
        raise SystemExit(f"{args.install} has no card to carry over; train the model instead of --refit")
    staging = args.install.with_name(f".{args.install.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(args.install, staging)
    command = interpolation_command(staging, corpus, args)
    steps = {"interpolation": {**json.loads(run(command, log)[0]), "command": display(command)},
             "lexicon": card["lexicon"], "export": card["export"], "weights_stored": card["weights_stored"]}
    return staging, card["training"], steps


def interpolation_command(staging: Path, corpus: Path, args: argparse.Namespace) -> list[str]:
    return [*WORDRNN, "interpolate", str(staging), "--valid", str(corpus / "dev.txt"), "--ngram", str(corpus / "train.txt"),
            "--ngram-min-count", str(args.ngram_min_count), "--pretokenized", "--json", "-q"]


def measure_and_install(staging: Path, corpus: Path, args: argparse.Namespace, log: Path, train_info: dict,
                        steps: dict) -> None:
    """Measure the staged bundle beside its trigram, write its card and install it (under the size cap)."""
    trigram = args.work / "trigram"
    run([*WORDRNN, "baseline", "train", str(corpus / "train.txt"), "-o", str(trigram), "--model", str(staging),
         "--pretokenized", "--force"], log)
    rows = [row for name, path, pre in texts(corpus) for row in measure(staging, trigram, name, path, pre, args.limit)]
    places = {str(corpus): "CORPUS", str(staging): "MODEL", str(args.work): "WORK", str(ROOT.parent): ".."}
    if not args.refit:
        places[str(args.from_run or args.work / "model")] = "RUN"
    places.update({p.replace(str(ROOT.parent), ".."): name for p, name in places.items()})  # as display() shows them
    places = dict(sorted(places.items(), key=lambda item: -len(item[0])))  # longest first: a path inside another
    card = scrub(model_card(staging, train_info, steps, rows), places)
    manifest = ckpt.read_manifest(staging)
    ckpt.update_files(staging, ckpt.MODEL_MANIFEST, {"card.json": card},
                      {k: scrub(manifest[k], places) for k in ("corpus", "training", "interpolation") if k in manifest})
    size = sum(p.stat().st_size for p in staging.iterdir() if p.is_file())
    if size > CAP_BYTES:
        raise SystemExit(f"the bundle is {size / 1e6:.1f} MB, over the {CAP_BYTES / 1e6:.0f} MB cap; nothing installed")
    install(staging, args.install)
    print(json.dumps({"bench": "default_model", "bytes": size, "parameters": card["parameters"],
                      "vocab": card["configuration"]["model"]["vocab_size"], "lexicon": steps["lexicon"]["words"],
                      "dev_ppl": train_info["dev_ppl"], "train_seconds": train_info["train_seconds"]}))
    for row in rows:
        print(json.dumps(row))


def metrics_by_text(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """bench_ood's rows as text -> system -> figures (what ``wordrnn info`` shows one line each)."""
    table: dict[str, dict[str, dict]] = {}
    for row in rows:
        figures = {k: v for k, v in row.items() if k not in ("bench", "text", "system", "seconds")}
        table.setdefault(row["text"], {})[row["system"]] = figures
    return table


def stored_once(saved: SavedModel, export: dict) -> str:
    """Where the card's weights are: which the LiteRT export keeps (``--weights-in-export``), which the file."""
    kept = export.get("weight_tensors", {})
    rest = sorted(set(saved.weights) - set(kept))
    return (f"once: {len(kept)} of {len(saved.weights)} weight arrays in the float16 LiteRT export, "
            f"the rest ({', '.join(rest) or 'none'}) in the weights file")


def model_card(staging: Path, train_info: dict, steps: dict, rows: list[dict]) -> dict:
    """What the shipped model is, what it was made from (licences as the sources state them), how it does."""
    saved = SavedModel.load(staging)
    return {
        "name": "wordrnn default English model",
        "date": datetime.date.today().isoformat(),
        "licence": LICENCE,
        "sources": SOURCES,
        "data": {"train": "90% of every source but Brown (first 90% of each file, cut at a blank line) and Brown "
                          "train.txt; ~2.77M tokens, case-folded",
                 "dev": "the next 5% of every source and the first half of Brown valid.txt: early stopping, "
                        "learning-rate decay and the mixture weights were chosen here",
                 "test": "the last 5% of every source and the second half of Brown valid.txt, plus Switchboard "
                         "(dev/switchboard.txt) and tinyshakespeare: never trained or tuned on; the metrics below"},
        "configuration": saved.manifest["config"],
        "training": train_info,
        "interpolation": {k: v for k, v in steps["interpolation"].items() if k not in ("contexts", "warning")},
        "lexicon": steps["lexicon"],
        "export": {k: steps["export"].get(k) for k in ("quantize", "bytes", "check")},
        "weights_stored": steps.get("weights_stored") or stored_once(saved, steps["export"]),
        "metrics": metrics_by_text(rows),
        "metrics_note": "scripts/bench_ood.py: 'model' is the network + word cache + continuous cache + trigram "
                        "mixture as it predicts; "
                        "'trigram' is a Kneser-Ney trigram from the same training text and vocabulary; '+lexicon' "
                        "lets unknown words be completed (KSR@3) and spreads the <unk> mass over it (ppl_open); KSR@3's "
                        "bar shows words a person types only, as complete's does (punctuation is typed)",
        "parameters": saved.parameter_count(),
        "weights_dtype": "float16 (cast to float32 on load)",
    }


if __name__ == "__main__":
    main()
