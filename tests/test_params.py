"""Hardware parameters: the reference machine's numbers, a second platform, and unknown names."""

from __future__ import annotations

import json

import pytest

from pytpu import ModelParameters, TPU_128x128_PARAMS, UnknownTpuTypeError, get_hw_params, known_tpu_types


def test_reference_asic_numbers():
    hw = get_hw_params("128x128_asic")
    assert hw is TPU_128x128_PARAMS
    tpu = hw.tpu_parameters
    assert (tpu.array_rows, tpu.array_columns, tpu.macs_per_cycle) == (128, 128, 16384)
    assert tpu.cache_word_length == 128
    assert (tpu.cache_banks, tpu.cache_bank_size, tpu.cache_size) == (32, 128 * 1024, 4 * 1024 * 1024)
    assert tpu.cache_words == 32768
    assert (tpu.accumulator_rows, tpu.weight_buffers, tpu.max_gemm_rows) == (4096, 2, 4096)
    assert tpu.accumulator_rows * tpu.array_columns * 4 == 2 * 1024 * 1024  # 2 MiB of int32
    assert (hw.ddr.channels, hw.ddr.channel_size, hw.ddr.bytes_per_cycle) == (2, 4 * 1024**3, 32)
    assert (hw.dma.lanes, hw.dma.bytes_per_cycle, hw.dma.latency_cycles) == (2, 32, 500)
    assert (hw.ewp.overhead_cycles, hw.ewp.words_per_cycle) == (16, 1)
    assert hw.clock_hz == 1_000_000_000
    assert hw.host.link_bytes_per_second == 16_000_000_000
    assert hw.cycles_to_us(1000) == 1.0


def test_second_platform_is_smaller():
    fpga = get_hw_params("64x64_fpga")
    assert fpga.tpu_parameters.array_rows == 64
    assert fpga.tpu_parameters.cache_word_length == 64
    assert fpga.tpu_parameters.cache_size == TPU_128x128_PARAMS.tpu_parameters.cache_size // 2
    assert set(known_tpu_types()) == {"128x128_asic", "64x64_fpga"}


def test_unknown_platform_lists_the_known_ones():
    with pytest.raises(UnknownTpuTypeError, match=r"'256x256'.*128x128_asic, 64x64_fpga"):
        get_hw_params("256x256")
    assert issubclass(UnknownTpuTypeError, ValueError)


def test_parameters_round_trip_through_json():
    for name in known_tpu_types():
        hw = get_hw_params(name)
        assert ModelParameters.from_dict(json.loads(json.dumps(hw.to_dict()))) == hw


def test_parameters_are_frozen():
    with pytest.raises(AttributeError):
        TPU_128x128_PARAMS.tpu_parameters.cache_word_length = 64  # type: ignore[misc]
