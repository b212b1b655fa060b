"""Reading a model directory into memory without TensorFlow.

``SavedModel`` holds the manifest, configs, vocabulary and weight arrays;
the Keras network is only built when something asks for it, so the fast
LiteRT path and ``wordrnn info`` never import TensorFlow.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn.store import checkpoint as ckpt
from wordrnn.store.meta import NGRAM_KIND, describe
from wordrnn.store.npz import ArrayLimits
from wordrnn.config import ModelConfig, TokenizerConfig, TrainConfig, from_dict
from wordrnn.nn import size
from wordrnn.nn.size import check_fits, inference_bytes, parameter_count, weight_shapes
from wordrnn.errors import ConfigError, ModelFormatError
from wordrnn.text.lexicon import Lexicon
from wordrnn.text.vocab import Vocabulary


@dataclass
class SavedModel:
    """A validated model directory."""

    path: Path
    manifest: dict[str, Any]
    model_config: ModelConfig
    tokenizer_config: TokenizerConfig
    train_config: TrainConfig
    vocab: Vocabulary | None
    _weights: dict[str, np.ndarray] | None = field(default=None, repr=False)
    _files: ckpt.ModelFiles | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path, manifest_name: str = ckpt.MODEL_MANIFEST) -> SavedModel:
        """Read and check the manifest and vocabulary; its other files are opened now (so a save that
        lands later cannot take them away) and read when first needed."""
        path = Path(path)
        files = ckpt.ModelFiles.open(path, manifest_name)
        try:
            return cls._checked(path, files)
        except BaseException:
            files.close()  # a refused directory keeps no file open
            raise

    @classmethod
    def _checked(cls, path: Path, files: ckpt.ModelFiles) -> SavedModel:
        manifest = files.manifest
        if manifest.get("kind") == NGRAM_KIND:  # a valid directory of another kind: not "damaged"
            raise ModelFormatError(f"{path}: is an n-gram baseline (made by `wordrnn baseline train`), not a network, "
                                   "so there is nothing to export or run step by step; use it with `wordrnn baseline "
                                   "evaluate` or `wordrnn evaluate --baseline`, or give a model made by `wordrnn train`")
        config = manifest.get("config")
        if not isinstance(config, dict):
            raise ModelFormatError(f"{path}: the manifest has no config; the model directory is damaged")
        try:
            model_config = from_dict(ModelConfig, config.get("model"))
            tokenizer_config = from_dict(TokenizerConfig, config.get("tokenizer"))
            train_config = from_dict(TrainConfig, config.get("train"))
        except ConfigError as exc:
            raise ModelFormatError(f"{path}: invalid config in the manifest ({exc.marked}); the model directory is damaged") from None
        vocab = None
        if model_config.input_kind == "tokens":
            vocab = Vocabulary.from_json(files.read_json("vocab"))
            if len(vocab) != model_config.vocab_size:
                raise ModelFormatError(
                    f"{path}: the vocabulary has {len(vocab)} words but the model was built for "
                    f"{model_config.vocab_size}; the directory mixes files of different models"
                )
        return cls(path, manifest, model_config, tokenizer_config, train_config, vocab, _files=files)

    def read_file(self, stem: str) -> bytes:
        """The verified bytes of one of the model's files (``"litert"``...), of the generation loaded."""
        if self._files is None:  # a model made in memory
            return ckpt.read_file(self.path, self.manifest, stem)
        return self._files.read_file(stem)

    def read_json(self, stem: str) -> Any:
        return ckpt.parse_json(self.path, stem, self.read_file(stem))

    def read_arrays(self, stem: str, limits: ArrayLimits | None = None) -> dict[str, np.ndarray]:
        """Arrays of one of the model's ``.npz`` files, their declared shapes checked against ``limits`` first."""
        return ckpt.parse_arrays(self.path, stem, self.read_file(stem), limits)

    def word_vocab(self, purpose: str) -> Vocabulary:
        """The vocabulary of a word model: the one check that refuses a numeric-series model.

        Args:
            purpose: what needs the word model, for the message ("`evaluate`", "an n-gram").
        """
        if self.model_config.input_kind != "tokens" or self.vocab is None:
            raise ModelFormatError(f"{self.path} is a numeric-series model, not a word model; {purpose} needs a "
                                   "model trained with `wordrnn train` on text")
        return self.vocab

    def load_lexicon(self) -> Lexicon | None:
        """The open-vocabulary lexicon the manifest names (verified), or None when it names none."""
        if "lexicon" not in self.manifest.get("files", {}):
            return None
        return Lexicon.from_arrays(self.read_arrays("lexicon"))

    def lexicon_ceiling(self) -> float | None:
        """The largest word probability of the lexicon, as its manifest entry records it (None: unknown).

        Lets a prediction rule out every lexicon word without reading the lexicon. A value that is
        not a probability counts as unknown, which costs only that read.
        """
        if "lexicon" not in self.manifest.get("files", {}):
            return None
        info = self.manifest.get("lexicon")
        value = info.get("max_probability") if isinstance(info, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            return None
        return float(value)

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """Weight arrays by path (read and checksum-verified on first use).

        A model stored with ``wordrnn export --weights-in-export`` keeps most of them in its LiteRT
        export, read by the tensor names its manifest records (``store.exported``), and the rest in
        its weights file.
        """
        if self._weights is None:
            weights = self.read_arrays("weights", array_limits(self.model_config))
            weights = {**self._weights_in_export(), **weights}
            check_weight_shapes(self.path, self.model_config, weights)
            self._weights = weights
        return self._weights

    def _weights_in_export(self) -> dict[str, np.ndarray]:
        """The weights the LiteRT export keeps for this model (none unless it was exported with
        ``--weights-in-export`` from these very weights)."""
        from wordrnn.store import exported

        info = self.manifest.get(exported.EXPORT_STEM)
        if not exported.made_from_present_weights(self.manifest) or exported.WEIGHTS_KEY not in info:
            return {}
        return exported.read_weights(self.read_file(exported.EXPORT_STEM), info[exported.WEIGHTS_KEY], str(self.path))

    def optional_json(self, stem: str, default: Any = None) -> Any:
        if stem not in self.manifest.get("files", {}):
            return default
        return self.read_json(stem)

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.optional_json("history", [])

    @property
    def metrics(self) -> dict[str, Any]:
        return self.optional_json("metrics", {})

    def build_keras(self):
        """The Keras network with these weights (imports TensorFlow), once the weights are known to fit
        the config and the network the memory: building allocates every weight of the config."""
        weights = self.weights
        check_fits(inference_bytes(self.model_config), size.available_memory(), f"{self.path}: running this model",
                   "free some memory or run it on a machine with more")
        from wordrnn.nn.model import build_model, set_weight_arrays

        model = build_model(self.model_config)
        set_weight_arrays(model, weights, f"{self.path}: weights")
        return model

    def parameter_count(self) -> int:
        return int(sum(int(np.prod(a.shape)) for a in self.weights.values()))

    def describe(self) -> dict[str, Any]:
        """What ``wordrnn info`` shows: the manifest's description plus the stored history, metrics and card.

        Read from the directory alone (no TensorFlow), so describing a model stays fast.
        """
        return describe(self.path, self.manifest, parameters=self.parameter_count(),
                        vocab_size=len(self.vocab) if self.vocab else None, history=self.history,
                        metrics=self.metrics, card=self.optional_json("card"))


def array_limits(config: ModelConfig) -> ArrayLimits:
    """The most a network of ``config`` can hold (its largest axis; its values, twice over, which also
    bounds a start state): checked against what its weight and state files declare before they are
    read, so a small tampered archive cannot make ``info`` or ``complete`` allocate gigabytes."""
    return ArrayLimits(max_dim=max(max(shape) for shape in weight_shapes(config)),
                       max_elements=2 * parameter_count(config) + 1024)


def _network(config: ModelConfig) -> str:
    cell = f"{config.layers} {'layer' if config.layers == 1 else 'layers'} of {config.units} units ({config.cell})"
    if config.input_kind == "tokens":
        return f"{cell}, embedding {config.embedding}, {config.vocab_size} words{', tied' if config.tied else ''}"
    return f"{cell}, {config.features} series"


def check_weight_shapes(path: Path, config: ModelConfig, arrays: dict[str, np.ndarray]) -> None:
    """Refuse weights whose shapes are not those of ``config``'s network (an edited or mixed-up
    manifest), before anything is built from the config."""
    expected = Counter(weight_shapes(config))
    found = Counter(tuple(int(n) for n in array.shape) for array in arrays.values())
    if expected == found:
        return
    lacking, extra = sorted(expected - found), sorted(found - expected)
    detail = (f"the config needs shape {lacking[0]} and the file has none" if lacking
              else f"the file holds shape {extra[0]} and the config has no place for it")
    raise ModelFormatError(f"{path}: the weights do not match the model's config, {_network(config)} ({detail}): they "
                           "do not belong to this vocabulary or config; the model directory is damaged or mixed up")


def bundled_model_path() -> Path | None:
    """The default model shipped inside the package (or beside it in a source checkout)."""
    candidates = [Path(__file__).resolve().parents[2] / "data" / "default"]  # a source checkout
    try:
        from importlib import resources

        candidates.insert(0, Path(str(resources.files("wordrnn.data").joinpath("default"))))
    except (ModuleNotFoundError, TypeError):
        pass
    return next((c for c in candidates if (c / ckpt.MODEL_MANIFEST).is_file()), None)


def refuse_bundled(path: str | Path, doing: str, advice: str | None = None) -> None:
    """Refuse to write into the bundled model: it lives inside the installed package, is shared by
    every user of it and would silently change what ``complete`` suggests for all of them.

    Args:
        path: the model directory about to be written.
        doing: what would be written, for the message (e.g. "store metrics").
        advice: what to do instead (default: pass a copy as the model option).
    """
    from wordrnn.errors import ConfigError, option

    bundled = bundled_model_path()
    if bundled is not None and Path(path).resolve() == bundled.resolve():
        raise ConfigError(
            f"will not {doing} in the bundled model ({bundled}): it is read-only; "
            + (advice or f"copy it and pass {option('model', metavar='DIR')} to write into the copy")
        )


def find_model(path: str | Path | None = None) -> Path:
    """Which model to use: ``path``, else ``$WORDRNN_MODEL``, else the bundled default."""
    import os

    from wordrnn.errors import ModelNotFoundError, option

    if path:
        return Path(path)
    if os.environ.get("WORDRNN_MODEL"):
        return Path(os.environ["WORDRNN_MODEL"])
    bundled = bundled_model_path()
    if bundled is None:
        raise ModelNotFoundError(
            "no model given and no default model installed; train one with `wordrnn train corpus.txt -o DIR` "
            f"and pass {option('model', metavar='DIR')} (or set WORDRNN_MODEL)"
        )
    return bundled
