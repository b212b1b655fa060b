"""Quality on text the model never trained on (BENCHMARKS.md §1b), beside the trigram from the same text.

For every evaluation text, tokenized with the model's own tokenizer, one JSON line per system:

- ``model``: the model as it predicts (network + cache + trigram mixture), closed vocabulary;
- ``model+lexicon``: the same distributions with the model's open-vocabulary lexicon (KSR@3 counts
  unknown words it completes; ``ppl_open`` spreads the ``<unk>`` mass over the lexicon);
- ``network``: the network alone;
- ``trigram`` and ``trigram+lexicon``: the Kneser-Ney trigram built from the same training text
  with the same vocabulary (``wordrnn baseline train TRAIN --model MODEL``), without and with the
  same lexicon, so the lexicon's gain is not mistaken for the network's.

Each system's distributions are computed once and scored with and without the lexicon.

Usage:
  python scripts/bench_ood.py --model DIR --trigram DIR [--heldout DIR] [--limit N]
  python scripts/bench_ood.py --smoke        # a tiny model made on the spot, seconds
Default texts: ../shared/corpora/dev/switchboard.txt and tinyshakespeare.txt (raw text), plus every
``test-*.txt`` of ``--heldout`` (the held-out slices written by build_default_corpus.py, pre-tokenized).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CORPORA = ROOT.parent / "shared" / "corpora"
KEYS = ("ppl", "ppl_open", "top1", "top3", "ksr3", "oov_rate", "oov_completable", "tokens")


def texts(heldout: Path | None) -> list[tuple[str, Path, bool]]:
    """(name, path, pre-tokenized) of every text to measure on, those that exist."""
    found = [("switchboard", CORPORA / "dev" / "switchboard.txt", False),
             ("tinyshakespeare", CORPORA / "tinyshakespeare.txt", False)]
    if heldout is not None:
        found += [(p.stem.removeprefix("test-"), p, True) for p in sorted(heldout.glob("test-*.txt"))]
    return [t for t in found if t[1].is_file()]


def scored(distributions, vocab, ids: np.ndarray, tokens: list[str], lexicon) -> tuple[dict, dict | None]:  # noqa: ANN001
    """Closed- and open-vocabulary metrics of one pass of (probabilities, positions) pairs."""
    from wordrnn.evaluation.metrics import MetricAccumulator

    closed = MetricAccumulator(vocab)
    opened = MetricAccumulator(vocab, lexicon) if lexicon is not None else None
    for probs, positions in distributions:
        spellings = [tokens[i] for i in positions.tolist()]
        closed.add(probs, ids[positions], spellings)
        if opened is not None:
            opened.add(probs, ids[positions], spellings)
    return closed.result(), opened.result() if opened is not None else None


def measure(model: Path, trigram: Path, name: str, path: Path, pretokenized: bool, limit: int | None,
            network_lexicon: bool = False) -> list[dict]:
    """JSON rows for one text: model, model+lexicon, network, trigram, trigram+lexicon (and
    network+lexicon after network when ``network_lexicon``)."""
    from wordrnn.evaluation.baseline import load_baseline
    from wordrnn.evaluation.streams import keras_runner, network_distributions, ngram_distributions, read_ids
    from wordrnn.store.saved import SavedModel

    saved = SavedModel.load(model)
    lexicon = saved.load_lexicon()
    tokens, ids = read_ids([path], saved, pretokenized, limit, "utf-8")
    kn, kn_vocab, _ = load_baseline(trigram)
    if kn_vocab.words != saved.vocab.words:
        raise SystemExit(f"{trigram} has another vocabulary than {model}; build it with --model")
    rows = []
    systems = [("model", network_distributions(keras_runner(saved, True), ids)),
               ("network", network_distributions(keras_runner(saved, False), ids)),
               ("trigram", ngram_distributions(kn, ids))]
    for system, distributions in systems:
        started = time.perf_counter()
        scores_lexicon = system != "network" or network_lexicon
        closed, opened = scored(distributions, saved.vocab, ids, tokens, lexicon if scores_lexicon else None)
        for label, metrics in ((system, closed), (f"{system}+lexicon", opened)):
            if metrics is not None:
                rows.append({"bench": "ood", "text": name, "system": label, "seconds": round(time.perf_counter() - started, 1),
                             **{k: round(metrics[k], 5) if isinstance(metrics[k], float) else metrics[k]
                                for k in KEYS if k in metrics}})
    return rows


def smoke_models(work: Path) -> tuple[Path, Path, Path]:
    """A tiny model (with trigram mixture and lexicon), its trigram and a text: seconds, not minutes."""
    from wordrnn.config import ModelConfig, TrainConfig
    from wordrnn.evaluation.baseline import train_baseline
    from wordrnn.evaluation.interpolation import interpolate
    from wordrnn.train.jobs import train_text
    from wordrnn.train.lexicon import add_lexicon

    text = ROOT / "data" / "sample.txt"
    model, trigram = work / "model", work / "trigram"
    train_text([text], model, model_config=ModelConfig(vocab_size=1, units=8, embedding=8),
               train_config=TrainConfig(epochs=1, batch_size=4, window=10, early_stopping=0), max_vocab=200)
    interpolate(model, [text], ngram_corpus=[text])
    add_lexicon(model, [text], words=0)
    train_baseline([text], trigram, model=model)
    return model, trigram, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--trigram", type=Path, help="KN trigram from the model's training text and vocabulary")
    parser.add_argument("--heldout", type=Path, help="directory of test-*.txt held-out slices (pre-tokenized)")
    parser.add_argument("--limit", type=int, default=40_000, help="tokens per text, at most")
    parser.add_argument("--smoke", action="store_true", help="a tiny model made on the spot (a test of this script)")
    args = parser.parse_args()
    if args.smoke:
        work = Path(tempfile.mkdtemp(prefix="bench-ood-"))
        model, trigram, text = smoke_models(work)
        todo, limit = [("sample", text, False)], 2000
    else:
        if args.model is None or args.trigram is None:
            parser.error("--model and --trigram are required (or --smoke)")
        model, trigram, todo, limit = args.model, args.trigram, texts(args.heldout), args.limit
    for name, path, pretokenized in todo:
        for row in measure(model, trigram, name, path, pretokenized, limit):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
