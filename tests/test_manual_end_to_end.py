"""The manual's chapter 5 program (examples/manual_end_to_end.py) on MobileNetV2 and real photos: the four ways to
quantize, each through the TLM (model_execute), the simulated TPU through pytpu and raw mode. The program raises
(exit status 1) when an executor predicts another class than the demo image's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pytpu import TPU_128x128_PARAMS, get_hw_params
from tpu_compiler import Network, t_min, t_min_us

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "manual_end_to_end.py"
EXECUTORS = ("Original ONNX model", "Converted model", "Quantized model", "TLM", "TPU")
EXPECTED = "873"  # tripod, the demo image's class as the program numbers it (DEMO_IMAGE_EXPECTED_CLASS)


@pytest.fixture(scope="module")
def thresholds_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One thresholds file for qt and qtf: written by the first of them (a calibration run and dump_thresholds)."""
    return tmp_path_factory.mktemp("manual_end_to_end") / "mobilenet_v2_thresholds.json"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["qc", "qt", "qtf", "qcf"])
def test_manual_end_to_end(method: str, thresholds_path: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TPU_E2E_THRESHOLDS_PATH": str(thresholds_path),
        "TPU_E2E_FINE_TUNING_EPOCHS": "1",  # the manual's 10 epochs take a minute here
    }
    command = [sys.executable, str(EXAMPLE), "--enable-tlm", "--enable-tpu", "--enable-raw"]
    command += ["--quantize-method", method, "--save-graph-path", str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    reports = [line for line in result.stdout.splitlines() if "reports most probable class estimate" in line]
    assert [line.split(" reports")[0].strip() for line in reports] == list(EXECUTORS)
    assert all(line.endswith(f"[{EXPECTED}]") for line in reports), reports
    assert "TLM estimates execution time:" in result.stdout
    assert (tmp_path / "mobilenet_v2.pb").stat().st_size > 1_000_000
    if method in ("qt", "qtf"):
        assert thresholds_path.is_file()


def test_t_min_counts_macs_and_ddr_bytes_from_the_hardware_parameters() -> None:
    network = Network()
    network.add_input("x", (1, 8, 8, 4), 0.1, 0)
    network.add_input("v", (1, 288), 0.1, 0)
    network.add_layer("conv", "c", ["x"], {}, {"weights": np.zeros((3, 3, 4, 8), np.int8), "bias": np.zeros(8)})
    network.add_layer(
        "conv", "d", ["v"], {"dense": True}, {"weights": np.zeros((288, 10), np.int8), "bias": np.zeros(10)}
    )
    network.add_output("d")
    bound = t_min(network, TPU_128x128_PARAMS)
    assert network.tensors["c"].shape == (1, 6, 6, 8)
    assert bound.macs == 3 * 3 * 4 * 36 * 8 + 288 * 10
    assert bound.ddr_bytes == (288 + 4 * 8) + (2880 + 4 * 10) + 256 + 288 + 10
    assert bound.bound == "memory" and bound.cycles == bound.ddr_bytes / 64
    assert t_min_us(network, TPU_128x128_PARAMS) == pytest.approx(bound.ddr_bytes / 64 / 1000)
    network.set_batch(4)
    assert t_min(network, TPU_128x128_PARAMS).ddr_bytes == (288 + 32) + (2880 + 40) + 4 * (256 + 288 + 10)
    half = get_hw_params("64x64_fpga")
    assert t_min(network, half).compute_cycles == 4 * bound.macs / half.tpu_parameters.macs_per_cycle
