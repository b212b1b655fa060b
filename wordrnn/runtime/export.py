"""LiteRT (TFLite) export of a saved model's single recurrent step, stored in its directory.

The exported function is ``(inputs, state_0, ..., state_n) -> (outputs, state_0, ..., state_n)``
with a free batch dimension: token models take embedded words (B, E) (``runtime.LiteRTStep``
looks the ids up in the saved table) and return next-word probabilities (B, V), series models
take values (B, F) and return the predicted values. The state is an input and an output, so the
runtime carries it between calls exactly as ``runtime.KerasStep`` does.

The lookup stays out of the graph because a GATHER reading the (tied) table would keep LiteRT's
XNNPACK delegate off the output layer and, with float16 weights, widen the whole table on every
step: one step of the bundled model costs 0.18 ms of CPU instead of 0.6.

The step is assembled from the layers of ``model.build_model`` (each recurrent layer's *cell*
called once, output head, softmax) rather than by calling the sequence model on a length-1
sequence: one step then converts to plain builtin ops (FULLY_CONNECTED, LOGISTIC, ...) with no
while loop, and runs in about a tenth of a millisecond.

Quantisation:
    ``none``: float32 weights; matches Keras within 1e-4 (checked on every export).
    ``float16``: weights stored as float16 and widened to float32 when loaded: half the size; exact
        for a model whose weights are already float16 (the bundled default model), otherwise the
        probabilities move by about 1e-3 of their value.
    ``dynamic``: dynamic-range int8 weights (float activations): about 1/4 of the size, faster,
        and the probabilities move by up to ~3e-3; the top-3 words agree with the float model at
        99.7% of the positions of Brown validation text (10k words, 256 units; bench_latency.py).
        The agreement measured at export time is recorded in the manifest (``wordrnn info``).

The export goes through ``checkpoint.update_files``: a crash leaves the previous manifest (with or
without the previous export), never a half-written one. Importing this module imports TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from wordrnn import __version__
from wordrnn.store import checkpoint as ckpt
from wordrnn.errors import ConfigError, ExportError, option
from wordrnn.runtime.keras import KerasStep
from wordrnn.store.exported import WEIGHTS_KEY, find_weight_tensors
from wordrnn.runtime.litert import (EMBEDDING_WEIGHTS, EXPORT_STEM, INPUT_NAME, OUTPUT_NAME, TABLE_KEY, LiteRTStep,
                                    state_name)
from wordrnn.store.saved import SavedModel
from wordrnn.nn.tfimport import quiet_stderr, tensorflow

QUANTIZE_MODES = ("none", "float16", "dynamic")
FLOAT_TOLERANCE = 1e-4  # largest difference from Keras a float export may show
CHECK_STEPS = 64  # steps of the fresh export compared with Keras before it is saved


def step_function(model: Any, config: Any) -> Any:
    """A ``tf.function`` of one step of a ``model.build_model`` network, state in and out.

    Layer names are the ones ``build_model`` gives (embedding, rnn_<i>, projection, output);
    dropout layers are skipped because they do nothing at inference.
    """
    tf = tensorflow()
    tokens = config.input_kind == "tokens"
    names = {layer.name for layer in model.layers}
    cells = [model.get_layer(f"rnn_{i}").cell for i in range(config.layers)]
    projection = model.get_layer("projection") if "projection" in names else None
    head = model.get_layer("output")
    from wordrnn.runtime.litert import expected_state_sizes

    sizes = expected_state_sizes(config)
    per_layer = len(sizes) // config.layers
    # Token models take embedded words (the runner looks ids up, ``LiteRTStep``): a GATHER would share
    # the tied table with the output layer and keep LiteRT's XNNPACK delegate off most of the step.
    input_spec = tf.TensorSpec((None, config.embedding if tokens else config.features), tf.float32, name=INPUT_NAME)
    specs = [input_spec] + [tf.TensorSpec((None, size), tf.float32, name=state_name(i)) for i, size in enumerate(sizes)]

    @tf.function(input_signature=specs)
    def step(inputs, *states):
        hidden = inputs
        new_states = []
        for index, cell in enumerate(cells):
            hidden, layer_states = cell(hidden, list(states[index * per_layer:(index + 1) * per_layer]), training=False)
            new_states.extend(layer_states)
        if projection is not None:
            hidden = projection(hidden)
        outputs = head(hidden)
        if tokens:
            outputs = tf.nn.softmax(outputs, axis=-1)
        return {OUTPUT_NAME: outputs, **{state_name(i): s for i, s in enumerate(new_states)}}

    return step


def convert(model: Any, config: Any, quantize: str = "none") -> bytes:
    """The ``.tflite`` flatbuffer of one step (see the module docstring for ``quantize``)."""
    if quantize not in QUANTIZE_MODES:
        raise ConfigError(f"{option('quantize')} must be one of {', '.join(QUANTIZE_MODES)}, got {quantize!r}")
    tf = tensorflow()
    concrete = step_function(model, config).get_concrete_function()
    holder = tf.Module()  # the converter freezes the variables it can reach through this object
    holder.variables_ = [getattr(v, "value", v) for v in model.variables]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    if quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no dataset: dynamic-range int8 weights
    elif quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # weights stored as float16, computed in float32
        converter.target_spec.supported_types = [tf.float16]
    try:
        with quiet_stderr():  # the MLIR converter logs a page of W/I lines per conversion
            return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - the converter raises many unrelated types
        raise ExportError(f"LiteRT conversion failed: {str(exc).strip().splitlines()[0]}") from None


def compare(reference: Any, candidate: Any, config: Any, steps: int = CHECK_STEPS, batch: int = 2,
            seed: int = 0) -> dict[str, float]:
    """Run both runners on the same inputs, each carrying its own state across calls.

    Token models read text the reference model finds plausible: from the start-of-text token, each
    next input is sampled from the reference's probabilities. Series models read random values.
    Returns the largest absolute difference of the outputs (probabilities or values) and of the
    states, and (token models) the fraction of positions whose top-3 words agree as a set.
    """
    rng = np.random.default_rng(seed)
    ref_state, cand_state = reference.zero_state(batch), candidate.zero_state(batch)
    worst, worst_state, agree, total = 0.0, 0.0, 0, 0
    inputs = np.zeros(batch, np.int32)  # </s>: the start-of-text state
    for _ in range(steps):
        if config.input_kind == "series":
            inputs = rng.normal(size=(batch, config.features)).astype(np.float32)
        ref_out, ref_state = reference.step(inputs, ref_state)
        cand_out, cand_state = candidate.step(inputs, cand_state)
        worst = max(worst, float(np.abs(ref_out - cand_out).max()))
        worst_state = max(worst_state, *(float(np.abs(a - b).max()) for a, b in zip(ref_state, cand_state)))
        if config.input_kind == "tokens":
            k = min(3, config.vocab_size)
            top_ref = np.argsort(-ref_out, axis=-1)[:, :k]
            top_cand = np.argsort(-cand_out, axis=-1)[:, :k]
            agree += sum(set(a) == set(b) for a, b in zip(top_ref.tolist(), top_cand.tolist()))
            total += batch
            cumulative = np.cumsum(ref_out.astype(np.float64), axis=-1)
            draws = rng.random(batch) * cumulative[:, -1]
            inputs = np.minimum((cumulative < draws[:, None]).sum(axis=-1), config.vocab_size - 1).astype(np.int32)
    result = {"steps": steps, "max_abs_diff": worst, "max_state_diff": worst_state}
    if total:
        result["top3_agreement"] = agree / total
    return result


def text_agreement(reference: Any, candidate: Any, ids: list[int]) -> dict[str, float]:
    """How closely two token runners agree while reading real text (batch 1, state carried).

    Each reads ``</s>`` and then the ids; at every position the top-3 *words* (``</s>`` and
    ``<unk>`` excluded, as suggestions never offer them) are compared as sets. Returns the share of
    positions that agree, the number of positions and the largest probability difference.
    """
    state_a, state_b = reference.zero_state(1), candidate.zero_state(1)
    agree, worst = 0, 0.0
    for token in [0, *ids[:-1]]:
        probs_a, state_a = reference.step(np.array([token]), state_a)
        probs_b, state_b = candidate.step(np.array([token]), state_b)
        worst = max(worst, float(np.abs(probs_a - probs_b).max()))
        agree += set(np.argsort(-probs_a[0, 2:])[:3]) == set(np.argsort(-probs_b[0, 2:])[:3])
    return {"top3_agreement": agree / max(len(ids), 1), "positions": len(ids), "max_prob_diff": worst}


def export_model(directory: str | Path, quantize: str = "none", *, lock: bool = True,
                 weights_in_export: bool = False) -> dict[str, Any]:
    """Convert the saved model in ``directory`` and store the export in it (replacing any previous one).

    Args:
        quantize: "none" (float32), "float16" (half-size weights) or "dynamic" (int8 weights).
        lock: take the directory's training lock (pass False when called by the training job that
            already holds it, e.g. from ``after_save``).
        weights_in_export: keep the weights once: record which export tensor holds each weight
            exactly and rewrite the weights file with only the rest (``store.exported``). Refused
            when the export holds none of them. A model already stored so stays so: a new export
            of another kind gets back into the weights file whatever it no longer holds.

    Returns the manifest's description of the export (size, quantisation, agreement with Keras).
    """
    if quantize not in QUANTIZE_MODES:
        raise ConfigError(f"{option('quantize')} must be one of {', '.join(QUANTIZE_MODES)}, got {quantize!r}")
    directory = Path(directory)
    if lock:
        SavedModel.load(directory)  # a clear error for a missing or foreign directory first, before the lock
        if not os.access(directory, os.W_OK):
            raise ExportError(f"{directory}: not writable; copy the model directory somewhere writable and export that")
        with ckpt.TrainingLock(directory):
            return export_model(directory, quantize, lock=False, weights_in_export=weights_in_export)
    saved = SavedModel.load(directory)
    kept_before = WEIGHTS_KEY in (saved.manifest.get(EXPORT_STEM) or {})
    tf = tensorflow()
    keras_model = saved.build_keras()
    content = convert(keras_model, saved.model_config, quantize)
    fresh = LiteRTStep(saved, content)
    check = compare(KerasStep(saved, keras_model), fresh, saved.model_config)
    if quantize == "none" and check["max_abs_diff"] > FLOAT_TOLERANCE:
        raise ExportError(
            f"{directory}: the converted step differs from the Keras model by {check['max_abs_diff']:.2g} "
            f"(more than {FLOAT_TOLERANCE:g}); the export was not saved (run with {option('runtime', 'keras')})"
        )
    # which export tensor holds each weight exactly: the runner's embedding table (a tied model's
    # output matrix, named so a cold start reads it from the export) and the weights kept once
    found = find_weight_tensors(content, saved.weights)
    table = found.get(EMBEDDING_WEIGHTS) if fresh.reads_table else None
    mapping = found if weights_in_export or kept_before else {}
    if weights_in_export and not mapping:
        raise ExportError(f"{directory}: an export with {option('quantize', quantize)} holds none of the "
                          f"{next(iter(saved.weights.values())).dtype} weights exactly, so none can be kept in it; use "
                          f"{option('quantize', 'none')} for float32 weights or float16 for float16 ones")
    info = {
        "quantize": quantize,
        "weights": saved.manifest["files"]["weights"],
        **({WEIGHTS_KEY: mapping} if mapping else {}),
        "bytes": len(content),
        "input_kind": saved.model_config.input_kind,
        "check": check,
        **({TABLE_KEY: table[0]} if table and not table[1] else {}),
        "tensorflow_version": tf.__version__,
        "wordrnn_version": __version__,
    }
    files: dict[str, Any] = {f"{EXPORT_STEM}.tflite": content}
    if weights_in_export or kept_before:  # the weights file holds what the export does not (all, if nothing)
        files["weights.npz"] = {k: v for k, v in saved.weights.items() if k not in mapping}
    manifest = ckpt.update_files(directory, ckpt.MODEL_MANIFEST, files,
                                 lambda names: {EXPORT_STEM: {**info, "weights": names.get("weights", info["weights"])}})
    return manifest[EXPORT_STEM]
