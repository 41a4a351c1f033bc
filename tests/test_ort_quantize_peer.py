"""benchmarks/peers/ort_quantize.py: onnxruntime's static quantizer on a tiny Conv+Relu+Gemm model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pytpu.errors import QuantizationError


def _load_peer() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "peers" / "ort_quantize.py"
    spec = importlib.util.spec_from_file_location("ort_quantize_peer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


peer = _load_peer()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """input [N, 3, 8, 8] -> Conv 3x3 (4 channels) -> Relu -> Flatten -> Gemm (5 outputs)."""
    rng = np.random.default_rng(0)
    weights = {
        "w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * np.float32([1, 0.5, 0.1, 2])[:, None, None, None],
        "b": rng.standard_normal(4).astype(np.float32) * 0.1,
        "fc_w": rng.standard_normal((5, 4 * 8 * 8)).astype(np.float32) * 0.05,
        "fc_b": rng.standard_normal(5).astype(np.float32) * 0.1,
    }
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("Flatten", ["relu"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)  # ORT 1.31: IR <= 13
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    onnx.save(model, path)
    return path


def _samples(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, 3, 8, 8)).astype(np.float32)


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
@pytest.mark.parametrize("method", ["MinMax", "Entropy", "Percentile"])
def test_quantizes_close_to_float(tiny: Path, tmp_path: Path, method: str, per_channel: bool) -> None:
    calibration = _samples(16, 1)
    result = peer.ort_quantize(tiny, {"input": calibration}, method, per_channel, tmp_path)
    assert result.path.is_file() and result.path.parent == tmp_path
    assert result.preprocessed and result.notes == ()
    assert result.samples == 16 and result.quantize_s > 0
    quantized = onnx.load(result.path)
    ops = [n.op_type for n in quantized.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    initializers = {t.name: numpy_helper.to_array(t) for t in quantized.graph.initializer}
    weight_dq = next(n for n in quantized.graph.node if n.op_type == "DequantizeLinear" and n.input[0].startswith("w"))
    assert initializers[weight_dq.input[0]].dtype == np.int8
    assert initializers[weight_dq.input[1]].size == (4 if per_channel else 1)
    assert not initializers[weight_dq.input[2]].any()  # symmetric weights: zero points 0

    x = calibration[:8]  # inside the calibrated ranges: 16 samples do not bound every unseen one
    (want,) = peer.ort_run(tiny, {"input": x})
    (got,) = peer.ort_run(result.path, {"input": x})
    assert got.shape == want.shape == (8, 5)
    assert _relative_error(got, want) < 0.1


def test_preprocessing_failures_are_noted(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("shape inference exploded")

    monkeypatch.setattr(peer, "quant_pre_process", fail)
    result = peer.ort_quantize(tiny, {"input": _samples(4, 1)}, "MinMax", False, tmp_path)
    assert not result.preprocessed
    assert len(result.notes) == 4 and "shape inference exploded" in result.notes[0]
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(result.path).graph.node}


def test_rejects_bad_requests(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match="unknown calibration method"):
        peer.ort_quantize(tiny, {"input": _samples(2, 1)}, "Distribution", False, tmp_path)
    with pytest.raises(QuantizationError, match="do not match the inputs"):
        peer.ort_quantize(tiny, {"image": _samples(2, 1)}, "MinMax", False, tmp_path)


def test_ort_run_feeds_fixed_batch_models_one_sample_at_a_time(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(model, tmp_path / "fixed.onnx")
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    (y,) = peer.ort_run(tmp_path / "fixed.onnx", {"x": x})
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_cli(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "calib.npz", images=_samples(4, 1))  # one array: used for the one input, whatever its key
    out = tmp_path / "q.onnx"
    argv = ["--model", str(tiny), "--calib", str(tmp_path / "calib.npz"), "--method", "Entropy", "--per-channel"]
    assert peer.main([*argv, "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["path"] == str(out) and out.is_file()
    assert report["method"] == "Entropy" and report["per_channel"] and report["peak_rss_mb"] > 0


def _activation_scales(path: Path) -> dict[str, float]:
    model = onnx.load(path)
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return {n.input[0]: float(initializers[n.input[1]]) for n in model.graph.node if n.op_type == "QuantizeLinear"}


def test_entropy_needs_more_histogram_bins_than_quantized_levels(tiny: Path, tmp_path: Path) -> None:
    calibration = {"input": _samples(16, 1)}
    minmax = peer.ort_quantize(tiny, calibration, "MinMax", False, tmp_path / "minmax")
    entropy = peer.ort_quantize(tiny, calibration, "Entropy", False, tmp_path / "entropy")
    binned = peer.ort_quantize(tiny, calibration, "Entropy", False, tmp_path / "binned", histogram_bins=512)
    assert _activation_scales(entropy.path) == _activation_scales(minmax.path)  # quantize_static's 128 bins
    wide, kl = _activation_scales(minmax.path), _activation_scales(binned.path)
    assert kl.keys() == wide.keys() and any(kl[name] < wide[name] for name in wide)
    assert all(kl[name] <= wide[name] * (1 + 1e-6) for name in wide)
    with pytest.raises(QuantizationError, match="histogram_bins"):
        peer.ort_quantize(tiny, calibration, "MinMax", False, tmp_path, histogram_bins=512)
