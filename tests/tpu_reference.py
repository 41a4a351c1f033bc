"""Independent numpy references for the simulated device's tests.

Written from docs/integer_arithmetic.md with Python integers (object arrays), sharing no code with
pytpu.sim, so that a test compares two implementations of the contract.
"""

from __future__ import annotations

import numpy as np


def round_shift(x: np.ndarray, s: np.ndarray | int) -> np.ndarray:
    x = np.asarray(x, dtype=object)
    s = np.broadcast_to(np.asarray(s, dtype=object), x.shape)
    out = np.empty(x.shape, dtype=object)
    for idx in np.ndindex(x.shape):
        v, k = int(x[idx]), int(s[idx])
        out[idx] = v if k == 0 else (v + (1 << (k - 1))) >> k
    return out


def clamp8(x: np.ndarray, zo: int, lo: int, hi: int) -> np.ndarray:
    return np.array([min(max(int(v) + zo, lo), hi) for v in np.ravel(x)], dtype=np.int8).reshape(np.shape(x))


def requantize(v: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int, zo: int, lo: int, hi: int) -> np.ndarray:
    product = np.asarray(v, dtype=object) * np.asarray(mult, dtype=object)
    return clamp8(round_shift(product, shift), zo, lo, hi)


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, pad: int, dilation: int, fill: int) -> np.ndarray:
    """int64 sums of raw codes: x (H, W, C), w (KH, KW, C, M); padding holds ``fill``."""
    h, wd, _ = x.shape
    kh, kw, _, m = w.shape
    xp = np.pad(x.astype(np.int64), ((pad, pad), (pad, pad), (0, 0)), constant_values=fill)
    oh = (h + 2 * pad - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((oh, ow, m), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dilation, kx * dilation
            patch = xp[y0 : y0 + stride * oh : stride, x0 : x0 + stride * ow : stride]
            out += patch @ w[ky, kx].astype(np.int64)
    return out


def pool_windows(x: np.ndarray, k: int, stride: int, pad: int) -> list[list[list[np.ndarray]]]:
    """For each output position, the list of inside pixels (channel vectors) of its window."""
    h, w, _ = x.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    out = []
    for oy in range(oh):
        row = []
        for ox in range(ow):
            taps = [
                x[y, xx]
                for y in range(oy * stride - pad, oy * stride - pad + k)
                for xx in range(ox * stride - pad, ox * stride - pad + k)
                if 0 <= y < h and 0 <= xx < w
            ]
            row.append(taps)
        out.append(row)
    return out
