"""The device state reads and writes a pattern's words through an array view where it can: the same bytes as
gathering and scattering by the pattern's addresses, in walking order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pytpu import TPU_128x128_PARAMS
from pytpu.isa import Pattern
from pytpu.sim.state import DeviceState, cache_write

CWL = 128
_dims = st.lists(st.tuples(st.integers(1, 5), st.integers(-40, 40)), min_size=1, max_size=4)


def _state() -> DeviceState:
    state = DeviceState(TPU_128x128_PARAMS)
    state.cache[:4096] = np.random.default_rng(3).integers(-128, 128, (4096, CWL), dtype=np.int8)
    return state


def test_strided_patterns_and_which_are_injective() -> None:
    assert Pattern.contiguous(10, 8).strided() is None  # a run: sliced instead
    grid = Pattern(100, ((4, 30), (8, 1))).strided()
    assert grid is not None and (grid.counts, grid.strides, grid.injective) == ((4, 8), (30, 1), True)
    overlapping = Pattern(100, ((4, 3), (8, 1))).strided()  # rows of 8 words 3 apart: words come twice
    assert overlapping is not None and not overlapping.injective
    broadcast = Pattern(100, ((3, 0), (8, 1))).strided()
    assert broadcast is not None and not broadcast.injective


@settings(max_examples=150, deadline=None)
@given(dims=_dims, off=st.integers(0, CWL - 1), data=st.data())
def test_reads_and_writes_through_views_equal_gathering_by_addresses(dims: list, off: int, data) -> None:
    pattern = Pattern(2048, tuple(dims))
    length = data.draw(st.integers(1, CWL - off))
    state = _state()
    addresses = pattern.addresses()
    expected = state.cache[addresses, off : off + length]
    read = state.read_pattern(pattern, off, length)
    assert np.array_equal(read, expected)
    assert not np.may_share_memory(read, state.cache)
    values = np.random.default_rng(len(dims)).integers(-128, 128, (pattern.count, length), dtype=np.int8)
    write = cache_write(pattern, off, values)
    strided = pattern.strided()
    assert (write.strided is not None) == (strided is not None and strided.injective)
    unique = len(np.unique(addresses)) == addresses.size
    assert unique or write.strided is None  # a view written through walks no word twice
    if unique:  # where a word comes twice, which write wins is not defined
        want = state.cache.copy()
        want[addresses, off : off + length] = values
        write.apply(state)
        assert np.array_equal(state.cache, want)
