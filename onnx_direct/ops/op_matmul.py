"""Gemm, MatMul and Einsum.

An operand stored with its last two axes swapped (e.g. the output of a Transpose, or a channels-last
3-d activation) is fed with the matmul's transpose flag instead of being transposed; constant
operands are transposed in numpy at conversion time.  Einsum takes every operand as stored and
permutes the letters of its term instead.
"""

from __future__ import annotations

import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node
from onnx_direct.ops import converter


def _operand(node: Node, i: int, transpose: bool = False) -> tuple[tf.Tensor, bool]:
    """Input ``i`` (rank >= 2) and the matmul transpose flag that yields it, transposed when ``transpose``."""
    value = node.value(i)
    rank = value.rank
    swapped = (*range(rank - 2), rank - 1, rank - 2)
    if value.is_const:
        return node.tensor(i, swapped if transpose else None), False
    perm = value.perm or layout.identity(rank)
    if perm[:-2] != layout.identity(rank - 2):  # batch axes out of place: ONNX order is needed
        return node.tensor(i), transpose
    return value.data, (perm == swapped) != transpose


@converter("Gemm", since=1)
def gemm(node: Node) -> tf.Tensor:
    """alpha * op(A) @ op(B) + beta * C; alpha and beta are folded into constant operands."""
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    a, ta = _operand(node, 0, bool(node.attr("transA", 0)))
    if node.is_const(1):
        b, tb = _scaled_const(node, 1, alpha, bool(node.attr("transB", 0))), False
        alpha = 1.0
    else:
        b, tb = _operand(node, 1, bool(node.attr("transB", 0)))
    y = tf.matmul(a, b, transpose_a=ta, transpose_b=tb)
    if alpha != 1.0:
        y = y * tf.constant(alpha, y.dtype)
    if not node.has_input(2) or beta == 0.0:
        return y
    c = _scaled_const(node, 2, beta) if node.is_const(2) else node.tensor(2)
    if beta != 1.0 and not node.is_const(2):
        c = c * tf.constant(beta, c.dtype)
    if node.shape(2)[:-1] in ([], [1]) and node.shape(2)[-1:] == y.shape.as_list()[-1:]:
        # A per-column bias: as a 1-d BiasAdd (grappler's MatMul+bias fusion rejects a [1, N] bias).
        return tf.nn.bias_add(y, tf.reshape(c, [-1]))
    return y + c


def _scaled_const(node: Node, i: int, scale: float, transpose: bool = False) -> tf.Tensor:
    array = node.const(i)
    array = array.T if transpose else array
    return tf.constant(array if scale == 1.0 else (array * scale).astype(array.dtype))


@converter("MatMul", since=1)
def matmul(node: Node) -> tf.Tensor:
    """numpy.matmul: batch axes broadcast; a 1-d operand gets a unit axis that is removed again."""
    ra, rb = node.rank(0), node.rank(1)
    a, ta = _operand(node, 0) if ra >= 2 else (node.tensor(0)[None, :], False)
    b, tb = _operand(node, 1) if rb >= 2 else (node.tensor(1)[:, None], False)
    y = tf.matmul(a, b, transpose_a=ta, transpose_b=tb)
    if ra == 1:
        y = tf.squeeze(y, -2)
    if rb == 1:
        y = tf.squeeze(y, -1)
    return y


@converter("Einsum", since=12)
def einsum(node: Node) -> tf.Tensor:
    equation = node.attr("equation").replace(" ", "")
    inputs = [i for i in range(len(node.inputs)) if node.has_input(i)]
    if "..." in equation:
        return tf.einsum(equation, *[node.tensor(i) for i in inputs])
    lhs, _, rhs = equation.partition("->")
    terms = lhs.split(",")
    if "->" not in equation:  # implicit output: the letters used once, in ASCII order
        rhs = "".join(sorted(c for c in set(lhs) if c != "," and lhs.count(c) == 1))
    stored = []
    for i, term in zip(inputs, terms, strict=True):
        perm = node.value(i).perm
        stored.append(term if layout.is_identity(perm) else "".join(term[p] for p in perm))  # type: ignore[union-attr]
    tensors = [node.tensor(i, node.value(i).perm) for i in inputs]
    return tf.einsum(",".join(stored) + "->" + rhs, *tensors)
