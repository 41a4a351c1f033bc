"""Window geometry of ONNX pooling: output sizes, pads (ceil_mode included), window element counts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from onnx_direct.context import Node, Unsupported
from onnx_direct.ops._padding import explicit_pads, per_axis


@dataclass(frozen=True)
class PoolGeometry:
    """Sliding windows over the spatial axes; ``in_sizes`` are None when only known at run time."""

    in_sizes: tuple[int | None, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    begins: tuple[int, ...]  # the pads ONNX asks for
    ends: tuple[int, ...]
    ceil_mode: bool

    @property
    def extents(self) -> tuple[int, ...]:
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations, strict=True))

    @property
    def is_static(self) -> bool:
        return all(size is not None for size in self.in_sizes)

    def out_sizes(self) -> tuple[int, ...]:
        return tuple(self._out_size(axis) for axis in range(len(self.kernel)))

    def _out_size(self, axis: int) -> int:
        size = self.in_sizes[axis]
        if size is None:
            raise Unsupported("pooling with ceil_mode or explicit window counts needs static spatial sizes")
        span = size + self.begins[axis] + self.ends[axis] - self.extents[axis]
        rounding = math.ceil if self.ceil_mode else math.floor
        out = int(rounding(span / self.strides[axis])) + 1
        # A window that would start in the end padding is dropped (ceil_mode).
        if self.ceil_mode and (out - 1) * self.strides[axis] >= size + self.begins[axis]:
            out -= 1
        return out

    def extra(self) -> tuple[int, ...]:
        """Padding beyond ``ends`` that the last ceil_mode window reaches into (never counted)."""
        if not self.ceil_mode:
            return (0,) * len(self.kernel)
        outs = self.out_sizes()
        return tuple(
            max(0, (o - 1) * s + e - (int(i or 0) + b + en))
            for o, s, e, i, b, en in zip(
                outs, self.strides, self.extents, self.in_sizes, self.begins, self.ends, strict=True
            )
        )

    def is_tf_same(self) -> bool:
        """True when TF's 'SAME' padding (excluded from averages) makes exactly these windows."""
        if not self.is_static or any(d != 1 for d in self.dilations):
            return False
        if any(s > k for s, k in zip(self.strides, self.kernel, strict=True)):
            return False  # TF refuses strides above the window
        outs, extra = self.out_sizes(), self.extra()
        for axis, size in enumerate(self.in_sizes):
            assert size is not None
            out = -(-size // self.strides[axis])
            total = max((out - 1) * self.strides[axis] + self.kernel[axis] - size, 0)
            if (outs[axis], self.begins[axis], self.ends[axis] + extra[axis]) != (out, total // 2, total - total // 2):
                return False
        return True

    def has_padding(self) -> bool:
        return any(self.begins) or any(self.ends) or any(self.extra())

    def window_counts(self, include_pad: bool) -> np.ndarray:
        """Elements each window averages over: explicit pads count only with ``include_pad``."""
        counts = np.ones((), np.float64)
        for axis, (out, extra) in enumerate(zip(self.out_sizes(), self.extra(), strict=True)):
            mask = self._axis_mask(axis, extra, include_pad)
            starts = np.arange(out) * self.strides[axis]
            taps = starts[:, None] + np.arange(self.kernel[axis]) * self.dilations[axis]
            counts = np.multiply.outer(counts, mask[taps].sum(axis=1))
        return counts

    def _axis_mask(self, axis: int, extra: int, include_pad: bool) -> np.ndarray:
        size = int(self.in_sizes[axis] or 0)
        begin, end = self.begins[axis], self.ends[axis]
        if include_pad:
            return np.concatenate([np.ones(begin + size + end), np.zeros(extra)])
        return np.concatenate([np.zeros(begin), np.ones(size), np.zeros(end + extra)])

    def window_taps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per output position (row-major) and window element: the flat index into the padded
        spatial block, whether it is a real input element, and its (unpadded) spatial coordinates."""
        padded = [
            int(i or 0) + b + e + x
            for i, b, e, x in zip(self.in_sizes, self.begins, self.ends, self.extra(), strict=True)
        ]
        outs = self.out_sizes()
        offsets = list(product(*(range(0, self.extents[a], self.dilations[a]) for a in range(len(outs)))))
        starts = np.array(list(product(*(range(0, o * s, s) for o, s in zip(outs, self.strides, strict=True)))))
        coords = starts.reshape(-1, 1, len(outs)) + np.array(offsets).reshape(1, -1, len(outs))
        flat = np.ravel_multi_index(tuple(np.moveaxis(coords, -1, 0)), padded)
        source = coords - np.array(self.begins)
        real = np.all((source >= 0) & (source < np.array([int(i or 0) for i in self.in_sizes])), axis=-1)
        return flat, real, source


def pool_geometry(node: Node, in_sizes: list[int | None]) -> PoolGeometry | None:
    """The windows of a MaxPool / AveragePool node; None for auto_pad SAME_UPPER on dynamic sizes."""
    spatial = len(in_sizes)
    kernel = [int(k) for k in node.attr("kernel_shape")]
    if len(kernel) != spatial:
        raise Unsupported(f"kernel_shape {kernel} does not match {spatial} spatial axes")
    strides = per_axis(node, "strides", spatial)
    dilations = per_axis(node, "dilations", spatial)
    pads = explicit_pads(node, in_sizes, kernel, strides, dilations)
    if pads is None:
        return None
    if any(p < 0 for p in pads[0] + pads[1]):
        raise Unsupported("negative pads")
    # With auto_pad the output size is fixed (ceil(in / stride) or the windows that fit): no ceil_mode.
    ceil_mode = bool(node.attr("ceil_mode", 0)) and node.attr("auto_pad", "NOTSET") in ("NOTSET", "")
    begins, ends = pads
    return PoolGeometry(
        tuple(in_sizes), tuple(kernel), tuple(strides), tuple(dilations), tuple(begins), tuple(ends), ceil_mode
    )
