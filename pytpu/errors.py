"""The one exception hierarchy of the whole toolchain.

It lives in ``pytpu`` because ``pytpu`` is the bottom of the import chain
(``onnx_direct -> dnn_quant -> tpu_compiler -> pytpu``) and must stay free of
TensorFlow; every stage raises these and ``tpu_framework`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Sequence


class TpuFrameworkError(Exception):
    """Base class of every error the toolchain raises on purpose."""


class InvalidModelError(TpuFrameworkError, ValueError):
    """The model given is not a readable, valid model (truncated, not ONNX, fails the checker)."""


class ConversionError(TpuFrameworkError):
    """The ONNX -> TensorFlow conversion could not be carried out."""


class InputShapeError(ConversionError, ValueError):
    """``input_shape`` names an unknown input, has the wrong rank, or a needed dimension is left dynamic."""


class UnsupportedOperatorError(ConversionError):
    """One or more nodes use an operator or attribute the converter cannot express.

    ``nodes`` lists every offending node at once as ``(op_type, node_name, opset, reason)``.
    """

    def __init__(self, nodes: Sequence[tuple[str, str, int, str]]):
        self.nodes = list(nodes)
        lines = [self._describe(*entry) for entry in self.nodes]
        super().__init__(
            f"{len(self.nodes)} node(s) cannot be converted:\n"
            + "\n".join(lines)
            + "\nCut the model around them with tpu_framework.get_sub_model(model, inputs, outputs) "
            "and run the rest outside the TPU as pre- or post-processing."
        )

    @staticmethod
    def _describe(op_type: str, name: str, opset: int, reason: str) -> str:
        if op_type.startswith("<"):  # a tensor, not a node: "<graph input>", "<initializer>"
            return f"  - {op_type.strip('<>')} {name!r}: {reason}"
        return f"  - {op_type} (node {name!r}, opset {opset}): {reason}"


class UnsupportedDataTypeError(UnsupportedOperatorError):
    """A tensor has a data type TensorFlow's CPU kernels cannot compute with (float16 inputs, float8, int4, strings)."""


class SubModelError(TpuFrameworkError, ValueError):
    """``get_sub_model`` was asked for tensors the model does not have, or a cut that is not closed."""


class QuantizationError(TpuFrameworkError):
    """The model or the data given to the quantizer cannot be quantized."""


class CompilationError(TpuFrameworkError):
    """The compiler cannot lower the network to the target."""


class DeviceError(TpuFrameworkError):
    """A program cannot be loaded or run on a device."""


class AssetError(TpuFrameworkError):
    """A pinned model, weight file or photo cannot be fetched, verified, exported or found."""
