"""Fashion-MNIST (Xiao et al. 2017) from the Debian package ``dataset-fashion-mnist``, and a small CNN trained on it.

The dataset is 60,000 training and 10,000 test images, 28x28 grey, in ten classes (``FASHION_MNIST_CLASSES``),
as four gzipped IDX files. They are read where dpkg installed them (``/usr/share/datasets/fashion-mnist``) or,
if ``$TPU_FRAMEWORK_FASHION_MNIST`` is set, from that directory only; each is checked against a pinned sha256.

The CNN is the project's own artifact, trained here on first use: deterministically (seeded, deterministic
kernels, one thread), in about a minute on one CPU core, to about 91% test accuracy. It is cached as ONNX
under a key hashed from everything that determines its weights: the four dataset hashes, the recipe version,
the :class:`TrainingRecipe` (seed and hyperparameters), the normalisation constants, the opset and the torch
version. A JSON file beside it records its float test accuracy (measured with onnxruntime on the exported
model), the training time and the settings. Layers (``_torch_fashion_mnist.py``)::

    Conv 3x3 1->16  + BatchNorm + Relu, MaxPool 2    -> [16, 14, 14]
    Conv 3x3 16->32 + BatchNorm + Relu, MaxPool 2    -> [32, 7, 7]
    Conv 3x3 32->32 + BatchNorm + Relu               -> [32, 7, 7]
    Conv 3x3 32->32 + BatchNorm, Add (residual), Relu
    Flatten, Gemm 1568->10

The export keeps the BatchNormalization nodes (they are not folded into the convolutions), so that a
quantizer's BN folding is exercised. Input ``input`` float32 ``[N, 1, 28, 28]``, made by
:func:`fashion_mnist_preprocess`; output ``logits`` ``[N, 10]`` (no softmax).
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import math
import os
import struct
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from pytpu.errors import AssetError
from tpu_framework.assets.cache import atomic_path, cache_path, settings_key, sha256_file, verify_sha256

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DATA_ENV = "TPU_FRAMEWORK_FASHION_MNIST"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
_DPKG_LIST = Path("/var/lib/dpkg/info") / f"{DEBIAN_PACKAGE}.list"

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip
# The training images' pixel mean and standard deviation, after scaling to [0, 1].
MEAN = 0.2860
STD = 0.3530
OPSET = 13
TORCH_VERSION = "2.13.0"
# Bump when the network, the training loop or the export changes, so that cached models are retrained.
_RECIPE = 1


@dataclass(frozen=True)
class IdxFile:
    """One of the dataset's files: its name, the sha256 of its (gzipped) bytes, the array shape it holds."""

    name: str
    sha256: str
    shape: tuple[int, ...]


# split -> (images, labels), as the Debian package 0.0~git20200523.55506a9-1 installs them.
FILES: dict[str, tuple[IdxFile, IdxFile]] = {
    "train": (
        IdxFile("train-images-idx3-ubyte.gz", "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
                (60000, 28, 28)),
        IdxFile("train-labels-idx1-ubyte.gz", "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
                (60000,)),
    ),
    "test": (
        IdxFile("t10k-images-idx3-ubyte.gz", "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
                (10000, 28, 28)),
        IdxFile("t10k-labels-idx1-ubyte.gz", "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
                (10000,)),
    ),
}  # fmt: skip

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class TrainingRecipe:
    """What the CNN's weights depend on besides the data and the code: all of it goes into the cache key."""

    seed: int = 0
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 3e-3  # Adam, peak of a one-cycle schedule
    threads: int = 1  # kernels' reduction order can depend on the thread count


RECIPE = TrainingRecipe()


# --- the dataset -------------------------------------------------------------------------------------------------


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """An IDX file's bytes as a native-endian array of the shape its header gives.

    Raises :class:`AssetError` if the magic number is wrong or the data is shorter or longer than the header says.
    """
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise AssetError(f"{source}: not an IDX file (first bytes {data[:4].hex() or 'none'})")
    header = 4 + 4 * data[3]
    if len(data) < header:
        raise AssetError(f"{source}: truncated inside its {header}-byte header ({len(data)} bytes)")
    shape = struct.unpack(f">{data[3]}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise AssetError(f"{source}: {len(data)} bytes, but its header ({dtype} {list(shape)}) needs {expected}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    """An IDX file, gunzipped first if its name ends in ``.gz``."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AssetError(f"{path}: cannot read: {err.strerror or err}") from None
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
            raise AssetError(f"{path}: not a complete gzip file: {err}") from None
    return parse_idx(data, str(path))


def data_dir() -> Path:
    """The directory holding the four dataset files."""
    override = os.environ.get(DATA_ENV)
    candidates = [Path(override).expanduser()] if override else [*_dpkg_dirs(), DEBIAN_DIR]
    names = [f.name for pair in FILES.values() for f in pair]
    for directory in dict.fromkeys(candidates):
        if all((directory / name).is_file() for name in names):
            return directory
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise AssetError(
        f"Fashion-MNIST not found (looked in {looked} for {', '.join(names)}): install it with "
        f"`apt-get install {DEBIAN_PACKAGE}`, or set {DATA_ENV} to a directory holding those files"
    )


def _dpkg_dirs() -> list[Path]:
    """Where dpkg's file list of the package says the files are."""
    try:
        listed = _DPKG_LIST.read_text().splitlines()
    except OSError:
        return []
    names = {f.name for pair in FILES.values() for f in pair}
    return [Path(line).parent for line in listed if Path(line).name in names]


def load_fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``split`` "train" (60,000) or "test" (10,000): images uint8 ``[N, 28, 28]``, labels int64 ``[N]`` in 0..9."""
    if split not in FILES:
        raise AssetError(f"unknown Fashion-MNIST split {split!r}; known: {sorted(FILES)}")
    directory = data_dir()
    arrays = []
    for spec in FILES[split]:
        verify_sha256(directory / spec.name, spec.sha256)
        array = read_idx(directory / spec.name)
        if array.shape != spec.shape or array.dtype != np.uint8:
            raise AssetError(f"{directory / spec.name}: holds {array.dtype} {array.shape}, expected uint8 {spec.shape}")
        arrays.append(array)
    images, labels = arrays
    return images, labels.astype(np.int64)


def fashion_mnist_preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 28, 28]`` (or one ``[28, 28]`` image) -> float32 ``[N, 1, 28, 28]``: ``(x / 255 - MEAN) / STD``."""
    pixels = np.asarray(images)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.ndim != 3 or pixels.shape[1:] != (28, 28):
        raise AssetError(f"expected 28x28 images as [N, 28, 28], got shape {list(pixels.shape)}")
    scaled = pixels.astype(np.float32) / np.float32(255)
    return ((scaled - np.float32(MEAN)) / np.float32(STD))[:, np.newaxis]


# --- the trained CNN ---------------------------------------------------------------------------------------------


def model_settings(recipe: TrainingRecipe = RECIPE) -> dict[str, Any]:
    """Everything the trained weights depend on; its hash is the cache key."""
    dataset = {f.name: f.sha256 for pair in FILES.values() for f in pair}
    return {"dataset": dataset, "recipe": _RECIPE, **asdict(recipe), "mean": MEAN, "std": STD, "opset": OPSET,
            "torch": _torch_version()}  # fmt: skip


def fashion_mnist_model_path(recipe: TrainingRecipe = RECIPE) -> Path:
    """The cached ONNX CNN; trained on first use (about a minute, progress on stderr)."""
    path = cache_path("onnx", f"fashion_mnist_cnn-{settings_key(model_settings(recipe))}.onnx")
    if not (path.is_file() and path.with_suffix(".json").is_file()):
        _train_and_export(recipe, path)
    return path


def fashion_mnist_cnn(recipe: TrainingRecipe = RECIPE) -> onnx.ModelProto:
    return onnx.load(fashion_mnist_model_path(recipe))


def fashion_mnist_model_info(recipe: TrainingRecipe = RECIPE) -> dict[str, Any]:
    """The JSON beside the model: ``test_accuracy`` (float, onnxruntime), ``train_seconds``, ``settings``, ..."""
    info: dict[str, Any] = json.loads(fashion_mnist_model_path(recipe).with_suffix(".json").read_text())
    return info


def _train_and_export(recipe: TrainingRecipe, path: Path) -> None:
    def log(message: str) -> None:
        print(f"fashion_mnist_cnn: {message}", file=sys.stderr, flush=True)

    settings = model_settings(recipe)
    train_images, train_labels = load_fashion_mnist("train")
    test_images, test_labels = load_fashion_mnist("test")
    from tpu_framework.assets import _torch_fashion_mnist as torch_cnn

    log(f"training on {len(train_images)} images, {recipe.epochs} epochs on {recipe.threads} thread(s) -> {path}")
    started = time.perf_counter()
    model = torch_cnn.train(fashion_mnist_preprocess(train_images), train_labels, log=log, **asdict(recipe))
    train_seconds = time.perf_counter() - started
    test_x = fashion_mnist_preprocess(test_images)
    with atomic_path(path) as tmp:
        expected = torch_cnn.export_onnx(model, tmp, OPSET, test_x[:64])
        accuracy = _check_and_score(tmp, test_x, test_labels, expected)
        info = {"model": "fashion_mnist_cnn", "test_accuracy": accuracy, "test_images": len(test_x),
                "train_seconds": round(train_seconds, 1), "sha256": sha256_file(tmp), "settings": settings}  # fmt: skip
        with atomic_path(path.with_suffix(".json")) as info_tmp:
            info_tmp.write_text(json.dumps(info, indent=1) + "\n")
    log(f"float test accuracy {accuracy:.2%}, trained in {train_seconds:.0f} s")


def _check_and_score(path: Path, x: np.ndarray, labels: np.ndarray, expected: np.ndarray) -> float:
    """Check the export against torch on the first images, then its test accuracy with onnxruntime."""
    import onnxruntime as ort

    model = onnx.load(path)
    onnx.checker.check_model(model)
    if "BatchNormalization" not in {n.op_type for n in model.graph.node}:
        raise AssetError("the exported Fashion-MNIST CNN lost its BatchNormalization nodes")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(None, {"input": batch})[0] for batch in np.array_split(x, 10)])
    if not np.allclose(logits[: len(expected)], expected, rtol=1e-4, atol=1e-4):
        raise AssetError(f"exported CNN differs from torch by {np.abs(logits[: len(expected)] - expected).max():.3g}")
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        raise AssetError(f"the Fashion-MNIST CNN needs torch=={TORCH_VERSION} (pip install '.[models]')") from None
