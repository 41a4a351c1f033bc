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


class UnknownTpuTypeError(DeviceError, ValueError):
    """``get_hw_params`` was asked for a platform it does not know; the message lists the known ones."""


class ProgramError(DeviceError, ValueError):
    """A program breaks the instruction set: a field out of range, a bad dependency, a data race.

    ``unit`` and ``index`` name the offending instruction when there is one (``"ME"``, 12).
    """

    def __init__(self, message: str, unit: str | None = None, index: int | None = None):
        self.unit = unit
        self.index = index
        super().__init__(message)


class FieldRangeError(ProgramError):
    """An instruction field lies outside the range docs/isa.md gives for it."""


class AddressError(ProgramError):
    """An access leaves the memory it addresses (cache, accumulators, DDR) or breaks its alignment."""


class CacheCapacityError(AddressError):
    """A cache access reaches a word beyond the shared cache."""


class AccumulatorCapacityError(AddressError):
    """An access reaches an accumulator row or column the matrix engine does not have."""


class DdrCapacityError(AddressError):
    """A DDR access leaves its channel, or names a channel the platform does not have."""


class AlignmentError(AddressError):
    """A DDR address is not word aligned, or a byte range crosses the end of a cache word."""


class DependencyError(ProgramError):
    """A dependency names a missing instruction, or the dependencies deadlock the units."""


class HazardError(ProgramError):
    """Two instructions touch the same cache word without an ordering between them (a data race)."""


class AssemblyError(ProgramError):
    """Program text the assembler cannot read; the message gives the line."""


class EncodingError(ProgramError):
    """Bytes that are not a valid encoded instruction stream."""


class InputDataError(DeviceError, ValueError):
    """Input data for an inference do not match the program's tensor descriptions."""


class ProgramFileError(ProgramError):
    """A ``.tpu`` file that cannot be read: not a program, truncated, corrupt (checksum) or malformed."""


class ProgramVersionError(ProgramFileError):
    """A ``.tpu`` file written in a format version newer than this reader understands."""


class DeviceNotFoundError(DeviceError, LookupError):
    """``Device.open`` was given a name that is not among ``Device.list_devices()``."""


class DeviceClosedError(DeviceError):
    """A device, a program loaded on it or an inference was used after it was closed."""


__all__ = [
    "AccumulatorCapacityError",
    "AddressError",
    "AlignmentError",
    "AssemblyError",
    "AssetError",
    "CacheCapacityError",
    "CompilationError",
    "ConversionError",
    "DdrCapacityError",
    "DependencyError",
    "DeviceClosedError",
    "DeviceError",
    "DeviceNotFoundError",
    "EncodingError",
    "FieldRangeError",
    "HazardError",
    "InputDataError",
    "InputShapeError",
    "InvalidModelError",
    "ProgramError",
    "ProgramFileError",
    "ProgramVersionError",
    "QuantizationError",
    "SubModelError",
    "TpuFrameworkError",
    "UnknownTpuTypeError",
    "UnsupportedDataTypeError",
    "UnsupportedOperatorError",
]
