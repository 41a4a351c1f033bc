"""ONNX operator conformance: every node case of every claimed op converts and matches its reference outputs.

Each case runs twice (inputs in ONNX order, and rank >= 3 inputs fed channels-last). Cases whose inputs are
float16, bfloat16, float8, int4, strings or non-tensors must be rejected with UnsupportedDataTypeError.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import pytest

from onnx_direct import conformance

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the case generators overflow casts on purpose
    _CASES = conformance.claimed_cases()

_BY_OP: dict[str, list] = defaultdict(list)
for _case in _CASES:
    _BY_OP[conformance.label(_case)].append(_case)


def test_the_claimed_ops_cover_the_issue_list():
    required = {
        "Conv",
        "ConvTranspose",
        "Gemm",
        "MatMul",
        "BatchNormalization",
        "Relu",
        "PRelu",
        "LeakyRelu",
        "Clip",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "Tanh",
        "Elu",
        "Selu",
        "Erf",
        "Gelu",
        "Softplus",
        "Mish",
        "Exp",
        "Log",
        "Sqrt",
        "Pow",
        "Reciprocal",
        "Neg",
        "Abs",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Sum",
        "Max",
        "Min",
        "Mean",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "LRN",
        "Flatten",
        "Reshape",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Concat",
        "Split",
        "Slice",
        "Gather",
        "Pad",
        "Resize",
        "Upsample",
        "DepthToSpace",
        "SpaceToDepth",
        "Softmax",
        "LogSoftmax",
        "ReduceMean",
        "ReduceMax",
        "ReduceMin",
        "ReduceSum",
        "ReduceProd",
        "ArgMax",
        "Shape",
        "ConstantOfShape",
        "Constant",
        "Cast",
        "Identity",
        "Dropout",
        "Expand",
        "Tile",
        "Where",
        "Equal",
        "Less",
        "Greater",
        "Not",
        "LayerNormalization",
        "InstanceNormalization",
        "Einsum",
    }
    from onnx_direct import ops

    assert required <= ops.claimed_op_types(), sorted(required - ops.claimed_op_types())


@pytest.mark.parametrize("op_type", sorted(_BY_OP))
def test_op_conformance(op_type):
    results = [conformance.run_case(case) for case in _BY_OP[op_type]]
    failures = [f"{r.name}: {r.message}" for r in results if r.status == "fail"]
    assert not failures, "\n".join(failures)
    assert any(r.status == "pass" for r in results) or all(r.status == "rejected" for r in results)
