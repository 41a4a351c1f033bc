"""RegularModel: a float TF graph prepared for calibration, fine-tuning and quantization."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from dnn_quant import thresholds as thresholds_file
from dnn_quant.calibration.calibrate import collect, ranges
from dnn_quant.calibration.methods import METHODS
from dnn_quant.data import validate
from dnn_quant.float_runner import FloatRunner, run_batch
from dnn_quant.graph import load_float_graph, tensor_name
from dnn_quant.layers.base import FloatLayer
from dnn_quant.lowering import lower
from dnn_quant.qparams import QParams
from dnn_quant.quantized_model import InMemoryQuantizedModel
from dnn_quant.rewrites import needs_rewrite, rewrite
from pytpu.errors import QuantizationError


class RegularModel:
    """The float model (a TF GraphDef, converted from ONNX or native) and the layers the quantizer found in it.

    ``operation_cfg`` chooses the calibration method per tensor (``{"<tensor name>": "mse"}``) or for the whole
    model (key ``"default"``); methods: max, percentile, entropy, mse. Without it the method is ``max``, or
    ``percentile`` when ``percentile`` < 100. ``swish_layer_mode``: None or ``"lut"`` (x * sigmoid(x) as one
    table) or ``"sigmoid_mul"`` (a sigmoid table, then an element-wise multiply).
    """

    def __init__(
        self,
        original_graph_def: tf.compat.v1.GraphDef,
        input_shapes: Mapping[str, tuple[int | None, ...]],
        output_nodes: list[str],
        anchors_mapping: Mapping[str, str] | None = None,
        percentile: float = 100.0,
        operation_cfg: Mapping[str, str] | None = None,
        swish_layer_mode: str | None = None,
    ):
        if not 0.0 < percentile <= 100.0:
            raise QuantizationError(f"percentile must be in (0, 100], not {percentile}")
        self.graph = load_float_graph(original_graph_def, input_shapes, output_nodes)
        if needs_rewrite(self.graph):
            self.graph = load_float_graph(rewrite(self.graph), input_shapes, output_nodes)
        self.float_layers: list[FloatLayer] = lower(self.graph, swish_layer_mode)
        self.anchors_mapping = dict(anchors_mapping or {})
        self.percentile = percentile
        measured = [layer.calibrated_as for layer in self.float_layers if _measured(layer)]
        self.calibrated = list(dict.fromkeys([*self.graph.inputs, *measured]))
        self.methods = self._methods(operation_cfg or {})

    def _methods(self, operation_cfg: Mapping[str, str]) -> dict[str, str]:
        default = operation_cfg.get("default", "max" if self.percentile >= 100.0 else "percentile")
        per_tensor = {tensor_name(k): v for k, v in operation_cfg.items() if k != "default"}
        unknown = [k for k in per_tensor if k not in self.calibrated]
        if unknown:
            raise QuantizationError(f"operation_cfg names tensors that are not quantized layers: {unknown}")
        for name in [default, *per_tensor.values()]:
            if name not in METHODS:
                raise QuantizationError(f"unknown calibration method {name!r}; known: {', '.join(METHODS)}")
        return {t: per_tensor.get(t, default) for t in self.calibrated}

    def calibrate(
        self,
        calibration_data: Mapping[str, np.ndarray],
        save_output_histograms: bool = False,
        debug_sample_number: int = 0,
        save_dir: str = "",
        original_model_statistic_filename: str | None = None,
    ) -> dict[str, Any]:
        """Per-tensor ranges from the data, streamed in batches. See the class docstring for the methods."""
        data = validate(calibration_data, self.graph.inputs)
        batch = run_batch(self.graph)
        with FloatRunner(self.graph, batch) as runner:
            stats = collect(runner, data, self.calibrated, self.methods, batch, debug_sample_number)
        thresholds = ranges(stats, self.methods, self.percentile)
        if save_dir:
            directory = Path(save_dir)
            directory.mkdir(parents=True, exist_ok=True)
            self.dump_thresholds(str(directory / "thresholds.json"), thresholds)
            if original_model_statistic_filename:
                summary = {name: s.summary() for name, s in stats.items()}
                (directory / original_model_statistic_filename).write_text(json.dumps(summary, indent=1))
            if save_output_histograms:
                from dnn_quant.calibration.histograms import save_histograms

                save_histograms(directory / "histograms", stats, thresholds)
        return thresholds

    @staticmethod
    def dump_thresholds(file_name: str, thresholds: dict[str, Any]) -> None:
        thresholds_file.dump(file_name, thresholds)

    @staticmethod
    def load_thresholds(file_name: str) -> dict[str, Any]:
        return thresholds_file.load(file_name)

    def qparams(self, thresholds: Mapping[str, Any]) -> dict[str, QParams]:
        """The quantization of every tensor a layer produces, from the thresholds."""
        symmetric = symmetric_tensors(self.float_layers)
        result = {
            name: QParams.from_range(float(entry["min"]), float(entry["max"]), symmetric=name in symmetric)
            for name, entry in thresholds.items()
        }
        for layer in self.float_layers:
            fixed = layer.fixed_qparams()
            if layer.INHERITS:
                result[layer.name] = result[layer.inputs[0]]
            elif fixed is not None:
                result[layer.name] = fixed
            else:
                result[layer.name] = result[layer.calibrated_as]
        return result

    def quantize(self, thresholds: dict[str, Any]) -> InMemoryQuantizedModel:
        """The integer model for these thresholds (with the learned weight rounding and bias offsets of
        fine-tuned ones: their ``weights`` entries)."""
        from dnn_quant.fine_tuning.rounding import learned_layers, quantize_layer

        thresholds_file.check(thresholds)
        thresholds_file.match(thresholds, self.calibrated)
        learned = learned_layers(self.float_layers, thresholds)
        qparams = self.qparams(thresholds)
        layers = [quantize_layer(layer, qparams.__getitem__, learned.get(layer.name)) for layer in self.float_layers]
        inputs = {name: (shape, qparams[name]) for name, shape in self.graph.inputs.items()}
        return InMemoryQuantizedModel(layers, inputs, list(self.graph.outputs), self.anchors_mapping)

    def fine_tune(
        self,
        thresholds: dict[str, Any],
        fine_tuning_data: Mapping[str, np.ndarray],
        fine_tuning_epochs: int = 10,
        working_dir: str = "",
    ) -> dict[str, Any]:
        """Train the thresholds against the float model's outputs; returns those of the best checkpoint.

        A network simulating the integer model learns, in three phases of ``fine_tuning_epochs`` epochs each,
        every tensor's range (straight-through gradients, Adam, on the output error), then, from the best ranges,
        an offset to every bias of its convolution and dense layers, then with them the rounding of every
        weight (up or down, AdaRound; on each layer's own error; the thresholds' ``weights`` entries). The best
        epoch of any phase (0: the thresholds given) is judged on 20% of the samples, held out at random.
        ``working_dir`` receives TensorBoard logs (``logs/``), the thresholds after every epoch
        (``checkpoints/``) and ``history.json``; '' means a new temporary directory, kept. See
        docs/quantization.md, "Fine-tuning".
        """
        from dnn_quant.fine_tuning import fine_tune
        from dnn_quant.fine_tuning.rounding import learned_layers

        thresholds_file.check(thresholds)
        thresholds_file.match(thresholds, self.calibrated)
        learned_layers(self.float_layers, thresholds)
        data = validate(fine_tuning_data, self.graph.inputs, "fine-tuning data")
        return fine_tune(self.graph, self.float_layers, thresholds, data, fine_tuning_epochs, working_dir)


def symmetric_tensors(layers: list[FloatLayer]) -> set[str]:
    """The calibrated tensors that need zero point 0: those a layer with ``SYMMETRIC_INPUTS`` reads, traced back
    through layers that keep their input's quantization (the transposes and reshapes before ``K^T``)."""
    producers = {layer.name: layer for layer in layers}
    found = set()
    for layer in layers:
        if not layer.SYMMETRIC_INPUTS:
            continue
        for tensor in layer.inputs:
            while tensor in producers and producers[tensor].INHERITS:
                tensor = producers[tensor].inputs[0]
            found.add(producers[tensor].calibrated_as if tensor in producers else tensor)
    return found


def _measured(layer: FloatLayer) -> bool:
    """Whether calibration measures the layer's output (not inherited from its input, not fixed)."""
    return not layer.INHERITS and layer.fixed_qparams() is None
