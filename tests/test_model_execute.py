"""model_execute: float inputs packed into DDR, the program run, outputs unpacked, times and trace reported."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pytpu import HazardError, InputDataError, model_execute
from pytpu.isa import Ref, Unit
from tests.tpu_programs import BATCH, K, dense_executable, dense_weights
from tests.tpu_reference import requantize


def expected_codes(x_codes):
    w, bias, mult, shift = dense_weights()
    acc = x_codes.astype(np.int64) @ w.astype(np.int64) + bias
    return requantize(acc, mult.astype(np.int64), shift.astype(np.int64), -10, -10, 127)


def test_dense_layer_end_to_end():
    executable, descriptions = dense_executable()
    x = np.random.default_rng(1).normal(0, 2, (BATCH, K)).astype(np.float32)
    result = model_execute(executable=executable, tensor_descriptions=descriptions, input_data={"x": x})

    x_codes = np.clip(np.rint(x.astype(np.float64) / 0.05) + 3, -128, 127).astype(np.int8)
    codes = expected_codes(x_codes)
    assert np.array_equal(result.output_codes["y"], codes)
    assert result.output_data["y"].dtype == np.float32
    assert np.array_equal(result.output_data["y"], ((codes.astype(np.float64) + 10) * 0.1).astype(np.float32))
    # DTL0 loads 15 constant words (60 cycles, done 500); DTL1's input load waits for DDR0 (60..68, done 560);
    # LOADW 500..512 (12 words); GEMM waits for the input: new burst 50 + 30 + 2 -> 560..642; DRAIN 642..644;
    # STORE starts at 644 (8 cycles on the lane), its data land 500 cycles later: 1144 cycles = 1.144 us.
    assert result.cycles == 1144
    assert result.execution_time_us == pytest.approx(1.144)
    assert result.unit_busy_us["ME.array"] == pytest.approx(0.082)
    assert result.unit_busy_us["DDR0"] == pytest.approx(0.068)
    assert result.unit_idle_us["EWP"] == pytest.approx(1.144)
    fc, out = result.layer_times["fc"], result.layer_times["output"]
    assert (fc.start_us, fc.end_us) == pytest.approx((0.0, 0.644))
    assert (out.start_us, out.end_us) == pytest.approx((0.644, 1.144))
    assert result.host_to_device_us == pytest.approx(2 * 128 / 16e3)


def test_removing_one_dependency_changes_the_time():
    executable, descriptions = dense_executable()
    racy = dataclasses.replace(executable, program=executable.program.without_dep(Ref(Unit.ME, 1), Ref(Unit.DTL1, 0)))
    x = {"x": np.ones((BATCH, K), np.float32)}
    with pytest.raises(HazardError, match=r"ME:1 GEMM: reads cache words 0..1 written by DTL1:0 LOAD"):
        model_execute(racy, descriptions, x)
    # The GEMM no longer waits for its rows (560): it starts when its weights are in (512), 48 cycles earlier.
    result = model_execute(racy, descriptions, x, disable_static_checker=True)
    assert model_execute(executable, descriptions, x).cycles == 1144
    assert result.cycles == 1144 - 48
    assert result.timeline.event(Unit.ME, 1).start == 512


def test_int8_inputs_are_taken_as_codes():
    executable, descriptions = dense_executable()
    x_codes = np.random.default_rng(2).integers(-128, 128, (BATCH, K), dtype=np.int8)
    result = model_execute(executable, descriptions, {"x": x_codes})
    assert np.array_equal(result.output_codes["y"], expected_codes(x_codes))


def test_chrome_trace(tmp_path):
    executable, descriptions = dense_executable()
    result = model_execute(executable, descriptions, {"x": np.zeros((BATCH, K), np.float32)})
    path = tmp_path / "trace.json"
    result.write_chrome_trace(path)
    trace = json.loads(path.read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {e["name"] for e in slices} == {"LOAD", "LOADW", "GEMM", "DRAIN", "STORE"}
    gemm = next(e for e in slices if e["name"] == "GEMM")
    assert (gemm["ts"], gemm["dur"]) == pytest.approx((0.560, 0.082))
    threads = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert {"ME.array", "DTL0", "DTL1", "DDR0", "DDR1"} <= threads
    assert [e["ph"] for e in trace["traceEvents"] if e.get("cat") == "layer"] == ["b", "e", "b", "e"]


def test_bad_inputs():
    executable, descriptions = dense_executable()
    with pytest.raises(InputDataError, match=r"inputs missing: \['x'\], not inputs of the program: \['z'\]"):
        model_execute(executable, descriptions, {"z": np.zeros((BATCH, K))})
    with pytest.raises(InputDataError, match=r"'x' has shape \(2, 50\), got \(50,\)"):
        model_execute(executable, descriptions, {"x": np.zeros(K)})
    with pytest.raises(InputDataError, match="no TensorDescription"):
        model_execute(executable, {"x": descriptions["x"]}, {"x": np.zeros((BATCH, K))})
