"""QuantizedModel: the integer layers, their golden TF graph, host-side rescaling, saving and loading."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from dnn_quant.dtypes import TpuDtype
from dnn_quant.graph import op_name, tensor_name
from dnn_quant.layers.base import Layer
from dnn_quant.qparams import QParams
from pytpu.errors import QuantizationError

GOLDEN_SCOPE = "golden"


class QuantizedModel(abc.ABC):  # noqa: B024  (the manual names ABC as its base; every method is shared)
    """An int8 model: ``layers`` in execution order, with the quantization of its inputs and outputs.

    Tensor names are those of the float TF graph (``anchors_mapping`` maps the user's original names, ONNX
    tensor ids, to them).
    """

    def __init__(
        self,
        layers: list[Layer],
        inputs: dict[str, tuple[tuple[int | None, ...], QParams]],
        outputs: list[str],
        anchors_mapping: Mapping[str, str] | None = None,
    ):
        self._layers, self._inputs, self._outputs = layers, inputs, outputs
        self._anchors = dict(anchors_mapping or {})

    @property
    def layers(self) -> list[Layer]:
        return self._layers

    @property
    def inputs(self) -> dict[str, tuple[tuple[int | None, ...], QParams]]:
        """Input tensor name -> (shape, quantization)."""
        return self._inputs

    @property
    def outputs(self) -> list[str]:
        return self._outputs

    @property
    def anchors_mapping(self) -> dict[str, str]:
        return self._anchors

    def qparams(self, name: str) -> QParams:
        name = tensor_name(name)
        if name in self.inputs:
            return self.inputs[name][1]
        for layer in self.layers:
            if layer.name == name:
                return layer.out
        raise QuantizationError(f"the quantized model has no tensor {name!r}")

    def as_graph(self, batch_size: int | None = None, cache_word_length: int = 128) -> tf.Graph:
        """The exact integer reference as a TF graph of stock ops: int8 placeholders named as the float graph's
        inputs, every layer output an int8 tensor named as in the float graph.

        ``cache_word_length`` does not change any value: channels are padded to whole cache words only in the
        device's memory, and padded channels never enter a sum (see docs/quantization.md).
        """
        if cache_word_length <= 0:
            raise QuantizationError(f"cache_word_length must be positive, not {cache_word_length}")
        graph = tf.Graph()
        with graph.as_default():
            placeholders = {
                name: tf.compat.v1.placeholder(tf.int8, [batch_size, *shape[1:]], name=op_name(name))
                for name, (shape, _) in self.inputs.items()
            }
            if batch_size == 1 or not self.batch_rigid:
                self._build(placeholders, named=True)
            else:
                self._build_per_sample(placeholders)
        return graph

    @property
    def batch_rigid(self) -> bool:
        """Whether a layout op only holds at the batch of 1 the float graph was built at (a reshape that moves
        the batch axis, as converters emit around channel shuffles); the golden graph then maps over samples."""
        return any(getattr(layer, "op", "") == "Reshape" and not _batch_free(layer) for layer in self.layers)

    def _build(self, inputs: dict[str, tf.Tensor], named: bool) -> dict[str, tf.Tensor]:
        tensors = dict(inputs)
        for layer in self.layers:
            with tf.name_scope(f"{GOLDEN_SCOPE}/{_scope(layer.name)}"):
                tensors[layer.name] = layer.golden([tensors[i] for i in layer.inputs])
        if named:
            _name({layer.name: tensors[layer.name] for layer in self.layers})
        return tensors

    def _build_per_sample(self, placeholders: dict[str, tf.Tensor]) -> None:
        """Every sample through the batch-1 layers (a TF while loop); only the outputs carry their names."""
        names = list(placeholders)

        def one(sample: tuple[tf.Tensor, ...]) -> tuple[tf.Tensor, ...]:
            tensors = self._build({n: s[None] for n, s in zip(names, sample, strict=True)}, named=False)
            return tuple(tensors[o][0] for o in self.outputs)

        signature = tuple(tf.TensorSpec(None, tf.int8) for _ in self.outputs)
        outputs = tf.map_fn(one, tuple(placeholders[n] for n in names), fn_output_signature=signature)
        _name(dict(zip(self.outputs, outputs, strict=True)))

    def rescale(self, data: Mapping[str, np.ndarray], direction: TpuDtype | None = None) -> dict[str, np.ndarray]:
        """Float -> int8 codes or int8 codes -> float, by each tensor's scale and zero point.

        Without ``direction``, float arrays are quantized and integer arrays dequantized.
        """
        result = {}
        for name, values in data.items():
            array = np.asarray(values)
            qparams = self.qparams(name)
            to_int = direction is TpuDtype.INT8 or (direction is None and np.issubdtype(array.dtype, np.floating))
            result[name] = qparams.quantize(array) if to_int else qparams.dequantize(array)
        return result

    def save(self, file_dir: str, file_name: str | None = None, io_params_name: str = "scales.json") -> None:
        """Write the model (JSON structure + one binary file of arrays) and the input/output scales."""
        from dnn_quant.storage import save_model

        save_model(self, file_dir, file_name, io_params_name)

    @staticmethod
    def load(file_name: str) -> QuantizedModel:
        """A model whose arrays are memory-mapped from the saved files."""
        from dnn_quant.storage import load_model

        return load_model(file_name)


def _batch_free(layer: Layer) -> bool:
    shape = getattr(layer, "consts", {}).get("shape")
    return bool(getattr(layer, "attrs", {}).get("batch_free")) or bool(
        shape is not None and len(shape) and shape[0] == -1
    )


def _scope(name: str) -> str:
    return name.replace(":", "_")


def _name(values: Mapping[str, tf.Tensor]) -> None:
    """Identities carrying the float graph's tensor names, so the user's names fetch the golden tensors: one
    op per float op, each tensor at its output index (``split:1`` is output 1 of an ``IdentityN`` named
    ``split``; an output no layer makes holds a zero).  Naming ``split:1`` after another op (``split_1``) would
    take the name of a float op that may exist too."""
    ops: dict[str, dict[int, tf.Tensor]] = {}
    for name, value in values.items():
        op, _, index = name.lstrip("^").partition(":")
        ops.setdefault(op, {})[int(index or 0)] = value
    for op, outputs in ops.items():
        if list(outputs) == [0]:
            made = tf.identity(outputs[0], name=op).op.name
        else:
            with tf.name_scope(GOLDEN_SCOPE):
                zero = tf.zeros([], tf.int8)
            made = tf.identity_n([outputs.get(i, zero) for i in range(max(outputs) + 1)], name=op)[0].op.name
        if made != op:
            raise QuantizationError(f"cannot name the golden tensors of {op!r}: the name is taken by {made!r}")


class InMemoryQuantizedModel(QuantizedModel):
    """The model ``RegularModel.quantize`` returns."""

    def __init__(
        self,
        layers: list[Layer],
        inputs: dict[str, tuple[tuple[int | None, ...], QParams]],
        outputs: list[str],
        anchors_mapping: Mapping[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(layers, inputs, outputs, anchors_mapping)
        self.metadata = dict(metadata or {})
