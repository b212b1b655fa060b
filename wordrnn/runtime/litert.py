"""The fast step runner: the model's exported single step, run by LiteRT without TensorFlow.

``wordrnn export`` (and ``wordrnn train`` at its end) stores a ``.tflite`` flatbuffer of
``(inputs, state_0, ..., state_n) -> (outputs, state_0, ..., state_n)`` in the model directory.
Loading it needs only ``ai_edge_litert`` and NumPy: importing this module, building a
``LiteRTStep`` and stepping it never imports TensorFlow, so ``wordrnn complete`` starts in a
fraction of a second and a step costs about a tenth of a millisecond. A token model's export
takes embedded words: the runner looks ids up in the saved embedding table.

The export is trusted only when it is intact (checksum), belongs to the saved weights (the manifest
records which weights file it was made from) and has the expected signature; otherwise
``ExportError`` says what is wrong and ``runtime.open_runner`` can fall back to Keras.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from wordrnn.config import ModelConfig
from wordrnn.errors import ExportError, ModelFormatError, option
from wordrnn.store.exported import EXPORT_STEM, made_from_present_weights  # files["litert"], manifest["litert"]
from wordrnn.store.saved import SavedModel

INPUT_NAME = "inputs"
OUTPUT_NAME = "outputs"
SIGNATURE = "serving_default"
EMBEDDING_WEIGHTS = "embedding/embeddings"  # the saved weights' embedding table (``model.build_model``)
TABLE_KEY = "embedding_tensor"  # manifest["litert"][TABLE_KEY]: the export's tensor holding that table


def state_name(index: int) -> str:
    """The signature name of state tensor ``index`` (the same name as input and output)."""
    return f"state_{index}"


def available() -> bool:
    """True when ``ai_edge_litert`` imports (it has no wheels for some platforms)."""
    try:
        _interpreter_class()
    except ExportError:
        return False
    return True


def default_threads() -> int:
    """Two interpreter threads when the process may use two cores, else one.

    XNNPACK splits a step's matrix products (above all the output layer, the largest) across its
    threads: the bundled model's step takes 0.11 ms on two threads against 0.21 ms on one.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def expected_state_sizes(config: ModelConfig) -> list[int]:
    """``model.state_sizes`` without importing TensorFlow (a test keeps the two equal)."""
    return [config.units] * ((2 if config.cell == "lstm" else 1) * config.layers)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ExportError(
            f"the LiteRT runtime is not available ({exc}); install it with `pip install ai-edge-litert` "
            f"or use {option('runtime', 'keras')}"
        ) from None
    return Interpreter


def export_info(saved: SavedModel) -> dict[str, Any]:
    """The manifest's description of a usable export, or ``ExportError`` saying why there is none."""
    where = saved.path
    info = saved.manifest.get(EXPORT_STEM)
    if EXPORT_STEM not in saved.manifest.get("files", {}) or not isinstance(info, dict):
        raise ExportError(f"{where}: the model has no LiteRT export; create one with `wordrnn export {where}`")
    if not made_from_present_weights(saved.manifest):
        raise ExportError(
            f"{where}: the LiteRT export was made from other weights than the saved ones; "
            f"refresh it with `wordrnn export {where}`"
        )
    return info


class LiteRTStep:
    """A ``StepRunner`` over the exported step (same inputs, outputs and state as ``KerasStep``).

    Args:
        saved: the model directory; its manifest must name a current export.
        content: flatbuffer bytes to run instead of the stored export (used to check a fresh
            conversion before it is saved).
        threads: CPU threads for the interpreter (default ``default_threads()``).
    """

    name = "litert"

    def __init__(self, saved: SavedModel, content: bytes | None = None, threads: int | None = None) -> None:
        Interpreter = _interpreter_class()
        self.config = saved.model_config
        self.input_kind = self.config.input_kind
        self.state_sizes = expected_state_sizes(self.config)
        self.quantize = "unsaved"
        info: dict[str, Any] = {}
        if content is None:
            info = export_info(saved)
            self.quantize = str(info.get("quantize", "none"))
            try:
                content = saved.read_file(EXPORT_STEM)
            except ModelFormatError as exc:
                raise ExportError(f"{exc.marked} (LiteRT export); recreate it with `wordrnn export {saved.path}`") from None
        from wordrnn.nn.tfimport import quiet_stderr

        try:
            with quiet_stderr():  # LiteRT logs "Created TensorFlow Lite XNNPACK delegate" at allocation
                self._interpreter = Interpreter(model_content=content, num_threads=threads or default_threads())
                runner = self._interpreter.get_signature_runner(SIGNATURE)
                inputs, outputs = runner.get_input_details(), runner.get_output_details()
                del runner  # it holds a reference that would block resizing
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ExportError(
                f"{saved.path}: the LiteRT export cannot be loaded ({str(exc).splitlines()[0]}); "
                f"recreate it with `wordrnn export {saved.path}`"
            ) from None
        # A token model's export takes embedded words: the lookup happens here, from the saved weights,
        # so the graph has no GATHER sharing the (tied) table with the output layer, and LiteRT's
        # XNNPACK delegate runs the whole step (3x faster with float16 weights). Older exports take ids.
        self._table = None
        if self.input_kind == "tokens" and np.dtype(inputs[INPUT_NAME]["dtype"]) == np.float32:
            self._table = self._embedding_table(saved, info.get(TABLE_KEY))
        self._check_signature(saved, inputs, outputs)
        self._inputs = [inputs[INPUT_NAME]["index"]] + [inputs[state_name(i)]["index"] for i in range(len(self.state_sizes))]
        self._outputs = [outputs[OUTPUT_NAME]["index"]] + [outputs[state_name(i)]["index"] for i in range(len(self.state_sizes))]
        self._dtype = np.int32 if self.input_kind == "tokens" else np.float32
        self._batch = self._allocated_batch()

    def _embedding_table(self, saved: SavedModel, tensor: str | None = None) -> np.ndarray:
        """The (V, E) embedding table, as stored (float16 tables stay float16: rows widen per step).

        A tied model's export holds the table itself (as its output layer's matrix); when the manifest
        names that tensor (``embedding_tensor``, checked equal to the weights at export), it is read
        from the export, and the weights file, as large again, is never read.
        """
        config = saved.model_config
        if tensor is not None:
            table = self.constant(tensor)
            if table is None or table.shape != (config.vocab_size, config.embedding):
                raise ExportError(f"{saved.path}: the LiteRT export lacks the embedding table its manifest names; "
                                  f"recreate it with `wordrnn export {saved.path}`")
            return table
        table = saved.weights.get(EMBEDDING_WEIGHTS)
        if table is None or table.shape != (config.vocab_size, config.embedding):
            raise ExportError(f"{saved.path}: the saved weights have no embedding table that fits the LiteRT export; "
                              f"recreate it with `wordrnn export {saved.path}`")
        return table

    def constant(self, name: str) -> np.ndarray | None:
        """The value of the export's tensor called ``name`` (None when it has none, or no data)."""
        detail = next((d for d in self._interpreter.get_tensor_details() if d["name"] == name), None)
        return None if detail is None else self._value(detail)

    @property
    def reads_table(self) -> bool:
        """Whether this runner looks words up in an embedding table itself (the export takes vectors)."""
        return self._table is not None

    def _value(self, detail: dict) -> np.ndarray | None:
        try:
            return self._interpreter.get_tensor(detail["index"])
        except ValueError:  # an intermediate tensor: no data outside an invoke
            return None

    def _check_signature(self, saved: SavedModel, inputs: dict, outputs: dict) -> None:
        names = {INPUT_NAME} | {state_name(i) for i in range(len(self.state_sizes))}
        width = self.config.vocab_size if self.input_kind == "tokens" else self.config.features
        problems = []
        if set(inputs) != names or set(outputs) != names - {INPUT_NAME} | {OUTPUT_NAME}:
            problems.append(f"signature {sorted(inputs)} -> {sorted(outputs)}")
        else:
            for i, size in enumerate(self.state_sizes):
                for side in (inputs, outputs):
                    if int(side[state_name(i)]["shape_signature"][-1]) != size:
                        problems.append(f"{state_name(i)} width {side[state_name(i)]['shape_signature'][-1]} != {size}")
            if self._table is not None and int(inputs[INPUT_NAME]["shape_signature"][-1]) != self.config.embedding:
                problems.append(f"input width {inputs[INPUT_NAME]['shape_signature'][-1]} != {self.config.embedding}")
            if int(outputs[OUTPUT_NAME]["shape_signature"][-1]) != width:
                problems.append(f"output width {outputs[OUTPUT_NAME]['shape_signature'][-1]} != {width}")
        if problems:
            raise ExportError(
                f"{saved.path}: the LiteRT export does not match the model ({problems[0]}); "
                f"recreate it with `wordrnn export {saved.path}`"
            )

    def _shapes(self, batch: int) -> list[list[int]]:
        """The shapes of the inputs (step input, then each state) for a batch size."""
        if self.input_kind == "tokens" and self._table is None:
            first = [batch]  # an older export that takes ids
        else:
            first = [batch, self.config.embedding if self._table is not None else self.config.features]
        return [first, *([batch, size] for size in self.state_sizes)]

    def _allocated_batch(self) -> int:
        """The batch size the interpreter's tensors are allocated for (-1 when they fit none): an export's
        inputs come allocated for one row, so a first step of one word needs no re-planning."""
        details = {d["index"]: list(d["shape"]) for d in self._interpreter.get_input_details()}
        batch = details[self._inputs[0]][0] if details[self._inputs[0]] else -1
        shapes = self._shapes(batch)
        return batch if all(details.get(index) == shape for index, shape in zip(self._inputs, shapes)) else -1

    def _resize(self, batch: int) -> None:
        """Fit the interpreter to a batch size (only when it changes: re-planning the step, its
        XNNPACK weights included, costs several milliseconds, a tenth of a cold ``complete``)."""
        interpreter = self._interpreter
        for index, shape in zip(self._inputs, self._shapes(batch)):
            interpreter.resize_tensor_input(index, shape)
        interpreter.allocate_tensors()
        self._batch = batch

    def zero_state(self, batch: int = 1) -> list[np.ndarray]:
        return [np.zeros((batch, size), np.float32) for size in self.state_sizes]

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        if self._table is not None:
            inputs = self._table[np.asarray(inputs).reshape(-1)].astype(np.float32)  # (B,) ids -> (B, E) vectors
        else:
            inputs = np.ascontiguousarray(inputs, self._dtype)
        if inputs.shape[0] != self._batch:
            self._resize(inputs.shape[0])
        interpreter = self._interpreter
        interpreter.set_tensor(self._inputs[0], inputs)
        for index, value in zip(self._inputs[1:], state):
            interpreter.set_tensor(index, np.ascontiguousarray(value, np.float32))
        interpreter.invoke()
        outputs = [interpreter.get_tensor(index) for index in self._outputs]  # copies: safe to keep
        return outputs[0], outputs[1:]
