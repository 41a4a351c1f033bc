"""tpu_framework.assets.fashion_mnist: IDX parsing, the Debian dataset, and the CNN trained on it (slow)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from pytpu.errors import AssetError
from tpu_framework.assets import fashion_mnist as fm
from tpu_framework.assets.__main__ import main as cli
from tpu_framework.assets.cache import settings_key


def _idx(array: np.ndarray, type_byte: int) -> bytes:
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# --- IDX ---------------------------------------------------------------------------------------------------------


def test_parses_idx_of_every_shape_and_type() -> None:
    pixels = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(fm.parse_idx(_idx(pixels, 0x08)), pixels)
    wide = np.array([[1, -70000], [65536, 7]], dtype=np.int32)  # big-endian on disk, native in memory
    parsed = fm.parse_idx(_idx(wide, 0x0C))
    assert parsed.dtype == np.int32 and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, wide)
    labels = np.array([9, 0, 3], dtype=np.uint8)
    np.testing.assert_array_equal(fm.parse_idx(_idx(labels, 0x08)), labels)


def test_reads_gzipped_idx(tmp_path: Path) -> None:
    pixels = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx(pixels, 0x08)))
    np.testing.assert_array_equal(fm.read_idx(path), pixels)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an IDX file"),
        (b"\x1f\x8b\x08\x03", "not an IDX file"),  # wrong magic
        (b"\0\0\x07\x01\0\0\0\x01\0", "not an IDX file"),  # unknown type byte
        (b"\0\0\x08\x03\0\0\0\x02\0\0", "truncated inside its 16-byte header"),
        (_idx(np.zeros((2, 3), np.uint8), 0x08)[:-1], "header .* needs 18"),  # one pixel short
        (_idx(np.zeros((2, 3), np.uint8), 0x08) + b"\0", "header .* needs 18"),  # one byte too many
    ],
    ids=["empty", "magic", "type", "header", "short", "long"],
)
def test_rejects_malformed_idx(data: bytes, message: str) -> None:
    with pytest.raises(AssetError, match=message):
        fm.parse_idx(data)


def test_rejects_truncated_gzip_and_missing_files(tmp_path: Path) -> None:
    whole = gzip.compress(_idx(np.arange(100, dtype=np.uint8), 0x08))
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AssetError, match="not a complete gzip file"):
        fm.read_idx(path)
    path.write_bytes(b"plain bytes, not gzip")
    with pytest.raises(AssetError, match="not a complete gzip file"):
        fm.read_idx(path)
    with pytest.raises(AssetError, match="cannot read"):
        fm.read_idx(tmp_path / "absent.gz")


# --- the dataset -------------------------------------------------------------------------------------------------


def test_missing_dataset_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fm.DATA_ENV, str(tmp_path))
    with pytest.raises(AssetError, match="apt-get install dataset-fashion-mnist"):
        fm.load_fashion_mnist("test")


def test_files_that_differ_from_the_pinned_ones_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for pair in fm.FILES.values():
        for spec in pair:
            (tmp_path / spec.name).write_bytes(gzip.compress(_idx(np.zeros(spec.shape[:1], np.uint8), 0x08)))
    monkeypatch.setenv(fm.DATA_ENV, str(tmp_path))
    assert fm.data_dir() == tmp_path
    with pytest.raises(AssetError, match="does not match the pinned"):
        fm.load_fashion_mnist("test")


def test_unknown_split() -> None:
    with pytest.raises(AssetError, match="unknown Fashion-MNIST split 'valid'"):
        fm.load_fashion_mnist("valid")


@pytest.mark.parametrize(("split", "count"), [("train", 60000), ("test", 10000)])
def test_real_dataset(split: str, count: int) -> None:
    images, labels = fm.load_fashion_mnist(split)
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (count,) and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [count // 10] * 10  # balanced, classes 0..9
    assert images.min() == 0 and images.max() == 255
    if split == "train":  # the normalisation constants are the training images' statistics
        counts = np.bincount(images.ravel(), minlength=256)  # exact statistics without a float copy
        values = np.arange(256) / 255
        mean = counts @ values / counts.sum()
        std = np.sqrt(counts @ (values - mean) ** 2 / counts.sum())
        assert abs(mean - fm.MEAN) < 1e-4 and abs(std - fm.STD) < 1e-4


def test_preprocess() -> None:
    images = np.array([np.zeros((28, 28)), np.full((28, 28), 255)], dtype=np.uint8)
    x = fm.fashion_mnist_preprocess(images)
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], -fm.MEAN / fm.STD, rtol=1e-6)
    np.testing.assert_allclose(x[1], (1 - fm.MEAN) / fm.STD, rtol=1e-6)
    assert fm.fashion_mnist_preprocess(images[0]).shape == (1, 1, 28, 28)
    with pytest.raises(AssetError, match="28x28"):
        fm.fashion_mnist_preprocess(np.zeros((2, 32, 32), np.uint8))


# --- the CNN -----------------------------------------------------------------------------------------------------


def test_cache_key_covers_the_training_inputs() -> None:
    key = settings_key(fm.model_settings())
    assert key == settings_key(fm.model_settings(fm.TrainingRecipe()))
    assert key != settings_key(fm.model_settings(fm.TrainingRecipe(seed=1)))
    assert key != settings_key(fm.model_settings(fm.TrainingRecipe(epochs=4)))
    settings = fm.model_settings()
    assert settings["dataset"] == {f.name: f.sha256 for pair in fm.FILES.values() for f in pair}


def test_training_is_deterministic_and_the_export_keeps_batch_norm(tmp_path: Path) -> None:
    from tpu_framework.assets import _torch_fashion_mnist as torch_cnn

    images, labels = fm.load_fashion_mnist("test")
    x, y = fm.fashion_mnist_preprocess(images[:128]), labels[:128]
    recipe = {"seed": 3, "epochs": 1, "batch_size": 64, "learning_rate": 3e-3, "threads": 1}
    models = [torch_cnn.train(x, y, log=lambda _: None, **recipe) for _ in range(2)]
    paths = [tmp_path / "a.onnx", tmp_path / "b.onnx"]
    expected = [torch_cnn.export_onnx(m, p, fm.OPSET, x[:4]) for m, p in zip(models, paths, strict=True)]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    ops = {n.op_type for n in onnx.load(paths[0]).graph.node}
    assert {"Conv", "BatchNormalization", "Relu", "MaxPool", "Add", "Flatten", "Gemm"} == ops
    session = ort.InferenceSession(str(paths[0]), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x[:4]})[0], expected[0], rtol=1e-4, atol=1e-4)


def test_cli_lists_the_cnn(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["list"]) == 0
    assert "fashion_mnist_cnn" in capsys.readouterr().out.split()


@pytest.mark.slow
def test_trained_cnn_classifies_the_test_set() -> None:
    path = fm.fashion_mnist_model_path()  # trains on first use, about a minute
    info = fm.fashion_mnist_model_info()
    model = onnx.load(path)
    assert "BatchNormalization" in {n.op_type for n in model.graph.node}
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    images, labels = fm.load_fashion_mnist("test")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(["logits"], {"input": b})[0] for b in np.array_split(
        fm.fashion_mnist_preprocess(images), 10)])  # fmt: skip
    accuracy = float(np.mean(logits.argmax(1) == labels))
    assert accuracy >= 0.88
    assert accuracy == pytest.approx(info["test_accuracy"], abs=1e-4)
    assert info["settings"] == fm.model_settings()
