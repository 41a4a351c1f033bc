"""The name mapping ``onnx_to_tf`` returns: ONNX tensor id -> TF tensor name, with each one's layout."""

from __future__ import annotations

from onnx_direct.layout import Perm


class TensorMapping(dict[str, str]):
    """``mapping[onnx_id] == 'tf_op_name:0'`` for graph inputs, outputs and intermediate tensors.

    Inputs and outputs hold the ONNX layout (or the one ``keep_arrangement`` asked for).
    Intermediate tensors are stored as TF computes them, typically channels-last:
    ``layout(onnx_id)`` gives the permutation ``perm`` with
    ``tf_value == np.transpose(onnx_value, perm)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.layouts: dict[str, Perm] = {}

    def record(self, onnx_id: str, tf_tensor_name: str, perm: Perm | None) -> None:
        self[onnx_id] = tf_tensor_name
        if perm is not None:
            self.layouts[onnx_id] = tuple(perm)

    def layout(self, onnx_id: str) -> Perm | None:
        """The stored permutation of ``onnx_id`` (None: same order as in ONNX)."""
        if onnx_id not in self:
            raise KeyError(f"{onnx_id!r} is not a tensor of the converted model")
        perm = self.layouts.get(onnx_id)
        if perm is not None and perm == tuple(range(len(perm))):
            return None
        return perm
