"""The ONNX operator conformance suite (``onnx.backend.test`` node cases) run through the converter."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx.backend.test.case.node import collect_testcases
from onnx.backend.test.case.test_case import TestCase

from onnx_direct import ops
from onnx_direct.convert import onnx_to_tf
from onnx_direct.inputs import REJECTED_ELEM_TYPES, runtime_inputs
from onnx_direct.layout import channels_last
from onnx_direct.runner import run_tf
from pytpu.errors import UnsupportedDataTypeError, UnsupportedOperatorError

# Training-mode Dropout with a non-zero ratio: the expected outputs were drawn from numpy's random generator,
# which no other implementation reproduces. They are converted and run, and reported apart when they differ.
_RANDOM_OUTPUT_CASES = frozenset(
    {
        "test_training_dropout",
        "test_training_dropout_default",
        "test_training_dropout_mask",
        "test_training_dropout_default_mask",
    }
)


@dataclass
class CaseResult:
    name: str
    op_type: str
    # "pass", "fail", "rejected" (a data type TF cannot compute) or "random" (see _RANDOM_OUTPUT_CASES)
    status: str
    message: str = ""


def _model(case: TestCase) -> onnx.ModelProto:
    if case.model is None:  # only model-directory cases lack one; node cases always carry theirs
        raise ValueError(f"{case.name} has no model")
    return case.model


def op_types_of(case: TestCase) -> set[str]:
    return {node.op_type for node in _model(case).graph.node}


def label(case: TestCase) -> str:
    """The op type a case tests: its only node's, or the op its name starts with."""
    nodes = _model(case).graph.node
    if len(nodes) == 1:
        return nodes[0].op_type
    words = re.sub(r"^test_", "", case.name).replace("_", "").lower()
    candidates = [op for op in op_types_of(case) if words.startswith(op.lower())]
    return max(candidates, key=len) if candidates else nodes[0].op_type


def claimed_cases(only: Iterable[str] | None = None) -> list[TestCase]:
    """Node cases of ops the converter claims (every op in the case's graph has a converter)."""
    claimed = ops.claimed_op_types()
    wanted = set(only) if only else None
    cases = []
    for case in collect_testcases():
        if case.kind != "node" or not op_types_of(case) <= claimed:
            continue
        if any(n.domain not in ("", "ai.onnx") for n in _model(case).graph.node):
            continue
        if wanted is not None and label(case) not in wanted:
            continue
        cases.append(case)
    return cases


def uses_rejected_types(case: TestCase) -> bool:
    """Inputs or outputs of a data type TF cannot compute with, or that are not tensors (sequences, optionals)."""
    infos = [*_model(case).graph.input, *_model(case).graph.output]
    if any(not i.type.HasField("tensor_type") for i in infos):
        return True
    return any(i.type.tensor_type.elem_type in REJECTED_ELEM_TYPES for i in infos)


def run_case(case: TestCase, channels_last_inputs: bool = True) -> CaseResult:
    """Run every data set of ``case``; with ``channels_last_inputs`` also once more with every
    input of rank >= 3 fed channels-last, so each converter sees the layout a conv would give it."""
    op_type = label(case)
    inputs = runtime_inputs(_model(case))
    variants = [False, True] if channels_last_inputs else [False]
    try:
        for feeds, expected in case.data_sets or []:
            feed = {info.name: _as_array(v) for info, v in zip(inputs, feeds, strict=False)}
            for permuted in variants:
                _run_variant(case, feed, [_as_array(e) for e in expected], permuted)
    except UnsupportedDataTypeError as err:
        status = "rejected" if uses_rejected_types(case) else "fail"
        return CaseResult(case.name, op_type, status, str(err).splitlines()[1].strip())
    except UnsupportedOperatorError as err:
        return CaseResult(case.name, op_type, "fail", " ".join(str(err).splitlines()[1:-2]).strip())
    except AssertionError as err:
        status = "random" if case.name in _RANDOM_OUTPUT_CASES else "fail"
        return CaseResult(case.name, op_type, status, str(err).strip().splitlines()[0][:300])
    except Exception as err:  # a crash in one case is that case's failure, not the suite's
        return CaseResult(case.name, op_type, "fail", f"{type(err).__name__}: {str(err).strip()[:300]}")
    return CaseResult(case.name, op_type, "pass")


def _as_array(value: object) -> np.ndarray:
    """A data set entry as numpy: some cases (Cast, CastLike) store theirs as TensorProtos."""
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    return np.asarray(value)


def _run_variant(case: TestCase, feed: dict[str, np.ndarray], expected: list[np.ndarray], permuted: bool) -> None:
    shapes = {name: list(v.shape) for name, v in feed.items()}
    keep = {name: channels_last(v.ndim) for name, v in feed.items() if permuted and v.ndim >= 3}
    if permuted and not keep:
        return
    graph, mapping = onnx_to_tf(_model(case), input_shape=shapes, keep_arrangement=keep)
    fed = {name: np.transpose(v, keep[name]) if name in keep else v for name, v in feed.items()}
    names = [o.name for o in _model(case).graph.output]
    got = run_tf(graph, mapping, fed, names)
    where = " (inputs fed channels-last)" if permuted else ""
    for name, want in zip(names, expected, strict=True):
        _compare(name + where, want, got[name], case.rtol, case.atol)


def _compare(name: str, want: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> None:
    if want.dtype != got.dtype:
        raise AssertionError(f"output {name}: dtype {got.dtype}, expected {want.dtype}")
    if want.shape != got.shape:
        raise AssertionError(f"output {name}: shape {got.shape}, expected {want.shape}")
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"output {name}")
    elif not np.array_equal(got, want):
        raise AssertionError(f"output {name}: values differ")


def summary_by_op(results: Iterable[CaseResult]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for result in results:
        row = table.setdefault(result.op_type, {"pass": 0, "fail": 0, "rejected": 0, "random": 0})
        row[result.status] += 1
    return dict(sorted(table.items()))
