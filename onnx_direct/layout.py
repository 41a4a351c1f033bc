"""Permutation algebra for layout propagation.

Every converted tensor is stored in TensorFlow as ``np.transpose(onnx_value, perm)``.
``perm`` is ``None`` (or the identity) for tensors kept in ONNX order and the
channels-last permutation ``(0, 2, ..., r-1, 1)`` for activations produced by
convolutions.  Ops that care about axes translate them through ``perm`` instead of
transposing back, so a network converts with Transposes only at its boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence

Perm = tuple[int, ...]


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def is_identity(perm: Perm | None) -> bool:
    return perm is None or tuple(perm) == identity(len(perm))


def channels_last(rank: int) -> Perm:
    """``(0, 2, 3, ..., rank-1, 1)``: NCHW -> NHWC, NCW -> NWC, NCDHW -> NDHWC."""
    if rank < 3:
        return identity(rank)
    return (0, *range(2, rank), 1)


def inverse(perm: Sequence[int]) -> Perm:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def stored_axis(perm: Perm | None, onnx_axis: int) -> int:
    """Where ONNX axis ``onnx_axis`` (already non-negative) lives in the stored tensor."""
    if perm is None:
        return onnx_axis
    return perm.index(onnx_axis)


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def transpose_between(src: Perm | None, dst: Perm | None, rank: int) -> Perm:
    """The TF transpose that turns a tensor stored with ``src`` into one stored with ``dst``."""
    src_p = identity(rank) if src is None else src
    dst_p = identity(rank) if dst is None else dst
    return tuple(src_p.index(d) for d in dst_p)


def after_transpose(perm: Perm | None, onnx_transpose: Sequence[int]) -> Perm:
    """Stored perm of ``Transpose(x, onnx_transpose)`` when the stored data is left untouched."""
    rank = len(onnx_transpose)
    src = identity(rank) if perm is None else perm
    return tuple(list(onnx_transpose).index(p) for p in src)


def after_removing(perm: Perm | None, removed: Sequence[int], rank: int) -> tuple[Perm, list[int]]:
    """Perm of a tensor after ONNX axes ``removed`` disappear (Squeeze, reduce without keepdims).

    Returns the new perm and the stored axes to remove.
    """
    src = identity(rank) if perm is None else perm
    gone = set(removed)
    stored_removed = [j for j, p in enumerate(src) if p in gone]
    kept = [p for p in src if p not in gone]
    renumber = {p: i for i, p in enumerate(sorted(kept))}
    return tuple(renumber[p] for p in kept), stored_removed


def after_inserting(perm: Perm | None, inserted: Sequence[int], out_rank: int) -> Perm:
    """Perm after new unit ONNX axes ``inserted`` (output positions) appear; they are appended at the end."""
    new_axes = sorted(inserted)
    old_positions = [i for i in range(out_rank) if i not in set(new_axes)]
    src = identity(out_rank - len(new_axes)) if perm is None else perm
    return tuple(old_positions[p] for p in src) + tuple(new_axes)


def is_pure_reshape(shape: Sequence[int | None], transpose: Sequence[int]) -> bool:
    """True when transposing ``shape`` by ``transpose`` only moves unit axes: a reshape does it."""
    moving = [a for a in transpose if shape[a] != 1]
    return moving == sorted(moving)
