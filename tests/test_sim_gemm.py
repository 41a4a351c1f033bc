"""Matrix engine on the simulated device: a multi-tile GEMM (K=300, M=200) against numpy, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from pytpu import get_hw_params
from pytpu.isa import Drain, Gemm, LoadWeights, Pattern, Program, ProgramBuilder, Unit
from pytpu.isa.layouts import output_stage_words, pack_output_stage, pack_weight_tile, weight_tile_words
from pytpu.sim import Simulator
from pytpu.sim.accumulators import Accumulators
from tests.tpu_reference import requantize

CWL = 128
K, M = 300, 200
IMAGE_H, IMAGE_W = 12, 20  # x is an image of 12 x 20 pixels with 300 channels: 3 words per pixel
ROWS_H, ROWS_W, TOP, LEFT = 10, 15, 1, 2  # the GEMM's rows: a 10 x 15 window of it, N = 150
N = ROWS_H * ROWS_W
K_TILES = [(0, 128), (128, 128), (256, 44)]  # (first input channel, K) per tile
M_TILES = [(0, 128), (128, 72)]  # (first output channel, M) per tile
X_AT, W_AT, P_AT, OUT_AT = 0, 1000, 2000, 3000
ACC_AT = [0, 256]  # one accumulator block per M tile, so a drain overlaps the next tile's GEMMs
ZO = -3  # output zero point; ReLU clamps at it


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(-128, 128, (IMAGE_H, IMAGE_W, K), dtype=np.int8)
    w = rng.integers(-127, 128, (K, M), dtype=np.int8)
    bias = rng.integers(-50_000, 50_000, M).astype(np.int32)
    mult = rng.integers(1 << 29, 1 << 30, M).astype(np.int32)
    mult[::7] *= -1  # negative multipliers are allowed
    shift = rng.integers(38, 43, M).astype(np.uint8)
    return image, w, bias, mult, shift


def load_cache(sim, image, w, bias, mult, shift):
    """Put x (pixel rows of channels, padded to words), the weight tiles and the parameter blocks in the cache."""
    words_per_pixel = -(-K // CWL)
    padded = np.zeros((IMAGE_H * IMAGE_W, words_per_pixel * CWL), dtype=np.int8)
    padded[:, :K] = image.reshape(-1, K)
    sim.write_cache(X_AT, padded)
    at = W_AT
    tiles = {}
    for mi, (m0, m) in enumerate(M_TILES):
        for ki, (k0, k) in enumerate(K_TILES):
            sim.write_cache(at, pack_weight_tile(w[k0 : k0 + k, m0 : m0 + m], CWL))
            tiles[ki, mi] = at
            at += weight_tile_words(k, m, CWL)
    params = {}
    at = P_AT
    for mi, (m0, m) in enumerate(M_TILES):
        sl = slice(m0, m0 + m)
        sim.write_cache(at, pack_output_stage(bias[sl], mult[sl], shift[sl], CWL))
        params[mi] = at
        at += output_stage_words(m, CWL)
    return tiles, params


def rows_of(k_tile: int) -> Pattern:
    """Word k_tile of each pixel of the 10 x 15 window: a 2-D pattern, 60 words per image row."""
    first = X_AT + (TOP * IMAGE_W + LEFT) * 3 + k_tile
    return Pattern(first, ((ROWS_H, IMAGE_W * 3), (ROWS_W, 3)))


def gemm_program(tiles, params) -> Program:
    """LOADW of the next tile is issued before the drain so that it overlaps the GEMMs (double buffering)."""
    steps = [(mi, ki) for mi in range(len(M_TILES)) for ki in range(len(K_TILES))]
    b = ProgramBuilder()

    def load(step: int) -> None:
        mi, ki = steps[step]
        b.emit(Unit.ME, LoadWeights(buf=step % 2, addr=tiles[ki, mi], k=K_TILES[ki][1], m=M_TILES[mi][1]))

    load(0)
    for step, (mi, ki) in enumerate(steps):
        k, m = K_TILES[ki][1], M_TILES[mi][1]
        gemm = Gemm(buf=step % 2, x=rows_of(ki), off=0, k=k, m=m, acc=ACC_AT[mi], accumulate=int(ki > 0))
        b.emit(Unit.ME, gemm)
        if step + 1 < len(steps):
            load(step + 1)
        if ki == len(K_TILES) - 1:
            dst = Pattern(OUT_AT + mi, ((N, 2),))  # output pixels take 2 words (200 channels); tile mi is word mi
            b.emit(Unit.ME, Drain(acc=ACC_AT[mi], m=m, params=params[mi], zo=ZO, lo=ZO, hi=127, dst=dst, off=0))
    return b.build()


def reference(image, w, bias, mult, shift):
    x = image[TOP : TOP + ROWS_H, LEFT : LEFT + ROWS_W].reshape(N, K).astype(np.int64)
    acc = x @ w.astype(np.int64) + bias
    return requantize(acc, mult.astype(np.int64), shift.astype(np.int64), ZO, ZO, 127)


def run_gemm(seed=0):
    data = make_data(seed)
    sim = Simulator()
    program = gemm_program(*load_cache(sim, *data))
    timeline = sim.run(program)
    out = sim.read_cache(OUT_AT, 2 * N).reshape(N, 2 * CWL)
    got = np.concatenate([out[:, :128], out[:, CWL : CWL + 72]], axis=1)
    return got, reference(*data), timeline


def test_multi_tile_gemm_matches_numpy_exactly():
    got, expected, _ = run_gemm()
    assert np.array_equal(got, expected)
    assert (expected == ZO).any() and (expected == 127).any() and ((expected > ZO) & (expected < 127)).any()


def test_multi_tile_gemm_time_follows_the_rules():
    _, _, timeline = run_gemm()
    ev = [timeline.event(Unit.ME, i) for i in range(len(timeline.events))]
    # ME stream: LOADW0 GEMM0 LOADW1 GEMM1 LOADW2 GEMM2 LOADW3 DRAIN0 GEMM3 LOADW4 GEMM4 LOADW5 GEMM5 DRAIN1
    assert [e.mnemonic for e in ev] == ["LOADW", "GEMM"] * 3 + ["LOADW", "DRAIN"] + ["GEMM", "LOADW"] * 2 + [
        "GEMM",
        "DRAIN",
    ]
    # LOADW0 128x128: ceil(16384/128) = 128 cycles                                 -> 0..128
    assert (ev[0].start, ev[0].end) == (0, 128)
    # GEMM0 waits for it: a new burst pays K+M = 256, then N = 150                 -> 128..534
    assert (ev[1].start, ev[1].end) == (128, 534)
    # LOADW1 (other buffer) issues with GEMM0 and overlaps it                       -> 128..256
    assert (ev[2].start, ev[2].end) == (128, 256)
    # GEMM1 was ready (256) before the array freed (534): the burst continues        -> 534..684
    assert (ev[3].start, ev[3].end) == (534, 684)
    # LOADW2 (44x128 = 44 words) into buffer 0 waits for GEMM0 to release it (534)   -> 534..578
    assert (ev[4].start, ev[4].end) == (534, 578)
    # GEMM2 ready at 578 <= 684: continues                                           -> 684..834
    assert (ev[5].start, ev[5].end) == (684, 834)
    # LOADW3 (128x72 = 72 words) waits for GEMM1 to release buffer 1 (684)           -> 684..756
    assert (ev[6].start, ev[6].end) == (684, 756)
    # DRAIN0 waits for the array (834); 150 rows at one per cycle                    -> 834..984
    assert (ev[7].start, ev[7].end) == (834, 984)
    # GEMM3 (other accumulator block) issues with the drain at 834 = array free:
    # the burst continues; its K+M = 200 is below the burst's 256, no top-up          -> 834..984
    assert (ev[8].start, ev[8].end) == (834, 984)
    # LOADW4 -> 834..906; GEMM4 -> 984..1134; LOADW5 (44x72: ceil(3168/128) = 25) -> 984..1009; GEMM5 -> 1134..1284
    assert [(e.start, e.end) for e in ev[9:13]] == [(834, 906), (984, 1134), (984, 1009), (1134, 1284)]
    # DRAIN1 -> 1284..1434. In all: one fill (256) + first LOADW (128) + 6 GEMMs x 150 + last drain 150 = 1434
    assert (ev[13].start, ev[13].end) == (1284, 1434)
    assert timeline.cycles == 256 + 128 + 6 * 150 + 150 == 1434
    assert timeline.execution_time_us == 1.434


def test_two_channel_groups_share_one_output_word():
    """Drain two 64-channel tiles into bytes 0..63 and 64..127 of the same words."""
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (32, 128), dtype=np.int8)
    w = rng.integers(-127, 128, (2, 128, 64), dtype=np.int8)
    sim = Simulator()
    sim.write_cache(0, x)
    ones, shifts = np.ones(64, np.int32), np.zeros(64, np.uint8)
    sim.write_cache(100, pack_output_stage(np.zeros(64, np.int32), ones, shifts, CWL))
    b = ProgramBuilder()
    for g in range(2):
        sim.write_cache(200 + 64 * g, pack_weight_tile(w[g], CWL))
        b.emit(Unit.ME, LoadWeights(buf=g, addr=200 + 64 * g, k=128, m=64))
        b.emit(Unit.ME, Gemm(buf=g, x=Pattern(0, ((32, 1),)), off=0, k=128, m=64, acc=64 * g, accumulate=0))
        b.emit(
            Unit.ME,
            Drain(acc=64 * g, m=64, params=100, zo=0, lo=-128, hi=127, dst=Pattern(500, ((32, 1),)), off=64 * g),
        )
    sim.run(b.build())
    acc = np.concatenate([x.astype(np.int64) @ w[g].astype(np.int64) for g in range(2)], axis=1)
    assert np.array_equal(sim.read_cache(500, 32), np.clip(acc, -128, 127).astype(np.int8))


def test_gemm_reads_k_bytes_at_an_offset_and_accumulates():
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, (16, 128), dtype=np.int8)
    w = rng.integers(-127, 128, (40, 10), dtype=np.int8)
    sim = Simulator()
    sim.write_cache(0, x)
    sim.write_cache(50, pack_weight_tile(w, CWL))
    program = Program(
        me=(
            LoadWeights(buf=0, addr=50, k=40, m=10),
            Gemm(buf=0, x=Pattern(0, ((16, 1),)), off=30, k=40, m=10, acc=7, accumulate=0),
            Gemm(buf=0, x=Pattern(0, ((16, 1),)), off=30, k=40, m=10, acc=7, accumulate=1),
        )
    )
    sim.run(program)
    expected = 2 * (x[:, 30:70].astype(np.int64) @ w.astype(np.int64))
    assert np.array_equal(sim.state.acc[7:23, :10], expected)


def test_gemm_on_the_64x64_platform():
    """64-byte words and a 64 x 64 array: the same program shape with the platform's own numbers."""
    hw = get_hw_params("64x64_fpga")
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (20, 64), dtype=np.int8)
    w = rng.integers(-127, 128, (64, 64), dtype=np.int8)
    sim = Simulator(hw)
    sim.write_cache(0, x)
    sim.write_cache(100, pack_weight_tile(w, 64))  # 64 * 64 / 64 = 64 words
    sim.write_cache(200, pack_output_stage(np.zeros(64), np.ones(64), np.zeros(64), 64))
    program = Program(
        me=(
            LoadWeights(buf=0, addr=100, k=64, m=64),
            Gemm(buf=0, x=Pattern(0, ((20, 1),)), off=0, k=64, m=64, acc=0, accumulate=0),
            Drain(acc=0, m=64, params=200, zo=0, lo=-128, hi=127, dst=Pattern(300, ((20, 1),)), off=0),
        )
    )
    timeline = sim.run(program)
    expected = np.clip(x.astype(np.int64) @ w.astype(np.int64), -128, 127)
    assert np.array_equal(sim.read_cache(300, 20), expected)
    # LOADW 64 cycles; GEMM 64 + 64 + 20; DRAIN 20 -> 232 cycles at 250 MHz = 0.928 us
    assert timeline.cycles == 64 + 128 + 20 + 20
    assert timeline.execution_time_us == pytest.approx(0.928)


def test_lazily_summed_gemms_wrap_and_stay_exact_past_a_float32_sum():
    """GEMMs are summed when their rows are read, many K tiles in one product: 1,100 tiles of -128 * -128
    codes exceed both what one float32 sum holds exactly (1,024 products) and int32, which wraps."""
    acc = Accumulators(16, 8)
    x = np.full((2, 128), -128, dtype=np.int8)
    w = np.full((128, 8), -128, dtype=np.int8)
    for i in range(1100):
        acc.gemm(3, x, w, accumulate=i > 0)
    want = np.full((2, 8), 1100 * 128 * 128 * 128, dtype=np.int64).astype(np.int32)  # wraps modulo 2^32
    assert want[0, 0] < 0
    assert np.array_equal(acc.read(3, 2, 8), want)


def test_tiles_deeper_than_an_exact_float32_sum_are_multiplied_exactly() -> None:
    """A platform whose array has more rows than a float32 sum holds (2,000 here) multiplies in float64,
    alone or between shallow tiles: the sums equal int64 products."""
    rng = np.random.default_rng(6)
    acc = Accumulators(8, 24)
    total = np.zeros((3, 24), dtype=np.int64)
    for i, k in enumerate([300, 2000, 700, 500, 2000]):
        x = rng.integers(-128, 128, (3, k), dtype=np.int8)
        w = rng.integers(-128, 128, (k, 24), dtype=np.int8)
        if k == 2000:  # every product 2^14: each deep tile's sum alone is past 2^24
            x[:], w[:] = -128, -128
        total += x.astype(np.int64) @ w.astype(np.int64)
        acc.gemm(1, x, w, accumulate=i > 0)
    assert np.abs(total).max() > 1 << 24  # beyond float32's exact integers
    assert np.array_equal(acc.read(1, 3, 24), total.astype(np.int32))


def test_lazy_sums_settle_when_other_rows_overlap_or_are_overwritten():
    rng = np.random.default_rng(4)
    acc = Accumulators(32, 16)
    expected = np.zeros((32, 16), dtype=np.int64)
    for start, n, m, accumulate in [(0, 8, 16, 0), (0, 8, 16, 1), (4, 8, 10, 1), (4, 8, 10, 0), (20, 4, 16, 1)]:
        x = rng.integers(-128, 128, (n, 40), dtype=np.int8)
        w = rng.integers(-128, 128, (40, m), dtype=np.int8)
        product = x.astype(np.int64) @ w.astype(np.int64)
        if accumulate:
            expected[start : start + n, :m] += product
        else:
            expected[start : start + n, :m] = product
        acc.gemm(start, x, w, accumulate=bool(accumulate))
    assert np.array_equal(acc.values, expected)


@pytest.mark.parametrize("then", ["read", "accumulate", "overlap", "overwrite", "set"])
def test_a_formed_sum_is_read_accumulated_onto_and_overwritten_like_gemms_rows(then: str) -> None:
    """A sum a replay formed (``set``) reads as its values and behaves as the GEMMs' rows would after."""
    rng = np.random.default_rng(9)
    acc = Accumulators(32, 16)
    formed = rng.integers(-(1 << 24), 1 << 24, (8, 16)).astype(np.float32)
    expected = np.zeros((32, 16), dtype=np.int64)
    acc.set(4, 8, 16, formed)
    expected[4:12] = formed.astype(np.int64)
    assert np.array_equal(acc.read(4, 8, 16), formed)
    x = rng.integers(-128, 128, (8, 40), dtype=np.int8)
    w = rng.integers(-128, 128, (40, 16), dtype=np.int8)
    product = x.astype(np.int64) @ w.astype(np.int64)
    if then == "accumulate":
        acc.gemm(4, x, w, accumulate=True)
        expected[4:12] += product
    elif then == "overlap":
        acc.gemm(8, x, w, accumulate=True)
        expected[8:16] += product
    elif then == "overwrite":
        acc.gemm(4, x, w, accumulate=False)
        expected[4:12] = product
    elif then == "set":
        acc.set(4, 8, 16, formed * 2)
        expected[4:12] = 2 * formed.astype(np.int64)
    assert np.array_equal(acc.read(0, 32, 16), expected)
    assert np.array_equal(acc.values, expected)


def test_diagonal_tiles_are_summed_lane_wise_exactly() -> None:
    """Depthwise tiles (nonzero codes on the diagonal only) are summed lane by lane, mixed with dense tiles and
    past what one float32 sum holds: the sums equal int64 products."""
    rng = np.random.default_rng(5)
    acc = Accumulators(16, 128)
    total = np.zeros((4, 128), dtype=np.int64)
    for i in range(1100):
        x = rng.integers(-128, 128, (4, 128), dtype=np.int8)
        if i % 50 == 7:
            w = rng.integers(-128, 128, (128, 128), dtype=np.int8)
            diagonal = None
        else:
            codes = rng.integers(-128, 128, 128)
            codes[i % 3] = 0  # a zero on the diagonal is still a diagonal tile
            w = np.diag(codes).astype(np.int8)
            diagonal = np.diagonal(w).astype(np.float32)
        total += x.astype(np.int64) @ w.astype(np.int64)
        acc.gemm(2, x, w, accumulate=i > 0, diagonal=diagonal)
    assert np.array_equal(acc.read(2, 4, 128), total.astype(np.int32))


@pytest.mark.parametrize(
    ("codes", "diagonal"),
    [
        (np.diag(np.arange(1, 9)), True),
        (np.diag(np.arange(8)), True),
        (np.eye(8, k=1), False),
        (np.ones((8, 8)), False),
    ],
)
def test_loadw_recognises_diagonal_tiles(codes: np.ndarray, diagonal: bool) -> None:
    sim = Simulator()
    sim.write_cache(0, pack_weight_tile(codes.astype(np.int8), sim.cwl))
    b = ProgramBuilder()
    b.emit(Unit.ME, LoadWeights(buf=1, addr=0, k=8, m=8))
    sim.run(b.build())
    tile = sim.state.weights[1]
    assert tile is not None and (tile.diagonal is not None) == diagonal
    if diagonal:
        assert np.array_equal(tile.diagonal, np.diagonal(codes))
