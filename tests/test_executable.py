"""TensorDescription packing (Tensor2Words and back) and the Executable's memory-map checks."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pytpu import AlignmentError, DdrCapacityError, DdrSegment, TensorDescription
from tests.tpu_programs import dense_executable


def test_nchw_tensor_stored_as_pixel_rows_of_channel_words():
    d = TensorDescription(
        "img", (2, 3, 4, 5), 0.5, -2, ddr_channel=0, ddr_address=0, word_length=128, axes=(0, 2, 3, 1)
    )
    assert (d.stored_shape, d.pixels, d.channels, d.words_per_pixel, d.nbytes) == ((2, 4, 5, 3), 40, 3, 1, 40 * 128)
    codes = np.arange(120, dtype=np.int8).reshape(2, 3, 4, 5)
    words = d.to_words(codes)
    assert words.shape == (40, 128)
    assert words[1, :3].tolist() == codes[0, :, 0, 1].tolist()  # pixel (n=0, y=0, x=1): its 3 channels
    assert (words[:, 3:] == -2).all()  # channel padding holds the zero point
    assert np.array_equal(d.from_words(words), codes)


def test_wide_channels_take_several_words():
    d = TensorDescription("t", (1, 300), 1.0, 0, ddr_channel=1, ddr_address=128, word_length=128)
    codes = np.random.default_rng(0).integers(-128, 128, (1, 300), dtype=np.int8)
    words = d.to_words(codes)
    assert words.shape == (3, 128)
    assert np.array_equal(words.reshape(-1)[:300], codes[0])
    assert np.array_equal(d.from_words(words), codes)


def test_quantize_follows_the_host_side_contract():
    d = TensorDescription("t", (4,), 0.5, 1, ddr_channel=0, ddr_address=0, word_length=128)
    assert d.quantize(np.array([0.25, 0.75, -100.0, 100.0])).tolist() == [1, 3, -128, 127]  # rint: half to even
    assert d.dequantize(np.array([1, 3], np.int8)).tolist() == [0.0, 1.0]


def test_memory_map_checks():
    executable, descriptions = dense_executable()
    executable.check_memory_map(descriptions)
    moved = dataclasses.replace(descriptions["x"], ddr_address=64)
    with pytest.raises(AlignmentError, match="tensor 'x'"):
        executable.check_memory_map({**descriptions, "x": moved})
    beyond = dataclasses.replace(descriptions["y"], ddr_address=4 * 1024**3)
    with pytest.raises(DdrCapacityError, match="tensor 'y'"):
        executable.check_memory_map({**descriptions, "y": beyond})
    odd = dataclasses.replace(executable, constants=(DdrSegment(0, 100, np.zeros(10, np.int8)),))
    with pytest.raises(AlignmentError, match="constant segment at 0x64"):
        odd.check_memory_map(descriptions)


def test_description_round_trips_through_json():
    d = TensorDescription(
        "img", (1, 3, 8, 8), 0.02, 5, ddr_channel=1, ddr_address=256, word_length=128, axes=(0, 2, 3, 1)
    )
    assert TensorDescription.from_dict(json.loads(json.dumps(d.to_dict()))) == d
