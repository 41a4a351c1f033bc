"""Raw mode: convert_to_raw writes a program without packing metadata; its codec packs and unpacks on the host."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pytpu
from pytpu import DeviceError, InputDataError, ProcessingMode, ProgramError, TensorDescription, TpuProgram
from pytpu.program import RawCodec, container
from tests.runtime_programs import sample_input, three_outputs, write


@pytest.fixture
def files(tmp_path):
    regular = write(three_outputs(), tmp_path / "program.tpu")
    codec = pytpu.convert_to_raw(regular, tmp_path / "program_raw.tpu")
    return regular, tmp_path / "program_raw.tpu", codec


def test_encode_is_packing_and_decode_its_inverse(files):
    _, _, codec = files
    descriptions = three_outputs()[1]
    x = sample_input()
    raw = codec.encode({"x": x})
    d = descriptions["x"]
    assert raw["x"].dtype == np.uint8 and raw["x"].shape == (d.words, 128)
    codes = np.clip(np.rint(x.astype(np.float64) / 0.05) + 3, -128, 127).astype(np.int8)  # scaling and casting
    assert np.array_equal(raw["x"][:, :50].view(np.int8), codes)
    assert (raw["x"][:, 50:].view(np.int8) == 3).all()  # padding to whole words holds the zero point
    assert np.array_equal(raw["x"].view(np.int8), d.pack(x))
    as_output = RawCodec({"x": d}, (), ("x",))
    assert np.array_equal(as_output.decode(raw)["x"], d.dequantize(codes))
    assert np.array_equal(as_output.decode({"x": raw["x"].tobytes()})["x"], d.dequantize(codes))


def test_layout_with_axes_and_wide_channels():
    d = TensorDescription(
        "img", (1, 200, 3, 2), 0.5, -1, ddr_channel=0, ddr_address=0, word_length=128, axes=(0, 2, 3, 1)
    )
    codec = RawCodec({"img": d}, ("img",), ())
    x = np.random.default_rng(0).normal(0, 20, d.shape).astype(np.float32)
    raw = codec.encode({"img": x})["img"]
    assert raw.shape == (6 * 2, 128)  # 6 pixels, 200 channels -> 2 words each
    assert np.array_equal(raw.view(np.int8), d.to_words(d.quantize(x)))
    decoder = RawCodec({"img": d}, (), ("img",))
    assert np.array_equal(decoder.decode({"img": raw})["img"], d.unpack(d.pack(x)))


def test_raw_program_has_no_packing_metadata(files):
    _, raw_path, _ = files
    raw = TpuProgram.from_file(raw_path)
    assert raw.raw
    meta = json.loads(container.parse(raw_path.read_bytes(), "raw")[0].data)
    assert meta["mode"] == "raw"
    for name, d in meta["tensors"].items():
        original = three_outputs()[1][name]
        assert d["shape"] == [original.words, 128] and d["dtype"] == "uint8"
        assert (d["scale"], d["zero_point"], d["axes"]) == (1.0, 0, [])
        assert (d["ddr_channel"], d["ddr_address"]) == (original.ddr_channel, original.ddr_address)
    assert raw.executable.program == three_outputs()[0].program


def test_raw_inference_equals_regular_inference(files):
    regular, raw_path, codec = files
    x = {"x": sample_input()}
    expected = pytpu.model_execute(*three_outputs(), x).output_data
    with pytpu.Device.open() as device:
        with device.load(regular) as program, program.inference() as inference:
            normal = inference.sync(x)
            raw_on_regular = inference.sync(codec.encode(x), mode=ProcessingMode.RAW)
        with device.load(raw_path) as program, program.inference() as inference:
            assert program.raw and program.inputs["x"].shape == (2, 128) and program.inputs["x"].dtype == "uint8"
            raw_out = inference.sync(codec.encode(x))
            assert all(v.dtype == np.uint8 and v.shape == (v.size // 128, 128) for v in raw_out.values())
            with pytest.raises(DeviceError, match="raw program has no packing metadata"):
                inference.sync(x, mode=ProcessingMode.REGULAR)
    for name in ("y0", "y1", "y2"):
        assert np.array_equal(normal[name], expected[name])
        assert np.array_equal(codec.decode(raw_out)[name], expected[name])
        assert np.array_equal(codec.decode(raw_on_regular)[name], expected[name])


def test_codec_checks_names_and_sizes(files):
    _, raw_path, codec = files
    with pytest.raises(InputDataError, match=r"inputs missing: \['x'\], not inputs of the program: \['X'\]"):
        codec.encode({"X": sample_input()})
    with pytest.raises(InputDataError, match=r"outputs missing: \['y2'\]"):
        codec.decode({"y0": bytes(256), "y1": bytes(256)})
    with pytest.raises(InputDataError, match=r"raw tensor 'y2' is 128 bytes \(1 words of 128\), got 256"):
        codec.decode({"y0": bytes(256), "y1": bytes(256), "y2": bytes(256)})
    with pytest.raises(InputDataError, match="raw tensor 'y0' takes uint8 words or bytes, got float32"):
        codec.decode({"y0": np.zeros(256, np.float32), "y1": bytes(256), "y2": bytes(128)})
    with pytest.raises(ProgramError, match="raw already"):
        pytpu.convert_to_raw(raw_path, raw_path.with_name("again.tpu"))
