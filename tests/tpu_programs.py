"""Small hand-assembled executables shared by the model_execute tests (no test framework imports here)."""

from __future__ import annotations

import numpy as np

from pytpu import DdrSegment, Executable, TensorDescription, TPU_128x128_PARAMS
from pytpu.isa import Drain, Gemm, Load, LoadWeights, Pattern, ProgramBuilder, Store, Unit
from pytpu.isa.layouts import pack_output_stage, pack_weight_tile

CWL = 128
BATCH, K, M = 2, 50, 30
X_DDR, Y_DDR = 0x10000, 0x0


def words(at: int, n: int) -> Pattern:
    return Pattern(at, ((n, 1),))


def dense_weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (K, M), dtype=np.int8)
    bias = rng.integers(-3000, 3000, M).astype(np.int32)
    mult = rng.integers(1 << 29, 1 << 30, M).astype(np.int32)
    shift = np.full(M, 37, np.uint8)
    return w, bias, mult, shift


def dense_executable(seed: int = 0) -> tuple[Executable, dict[str, TensorDescription]]:
    """y = relu(x @ w + b) for x of shape (2, 50): weights and parameters are DDR constants."""
    w, bias, mult, shift = dense_weights(seed)
    constants = np.concatenate([pack_weight_tile(w, CWL), pack_output_stage(bias, mult, shift, CWL)])  # 12 + 3 words
    x = TensorDescription("x", (BATCH, K), 0.05, 3, ddr_channel=0, ddr_address=X_DDR, word_length=CWL)
    y = TensorDescription("y", (BATCH, M), 0.1, -10, ddr_channel=1, ddr_address=Y_DDR, word_length=CWL)
    b = ProgramBuilder()
    with b.layer("fc"):
        consts = b.emit(Unit.DTL0, Load(ch=0, ddr=words(0, 15), cache=words(1000, 15)))
        rows = b.emit(Unit.DTL1, Load(ch=0, ddr=words(X_DDR // CWL, BATCH), cache=words(0, BATCH)))
        b.emit(Unit.ME, LoadWeights(buf=0, addr=1000, k=K, m=M), after=[consts])
        b.emit(Unit.ME, Gemm(buf=0, x=words(0, BATCH), off=0, k=K, m=M, acc=0, accumulate=0), after=[rows])
        drained = b.emit(Unit.ME, Drain(acc=0, m=M, params=1012, zo=-10, lo=-10, hi=127, dst=words(100, BATCH), off=0))
    with b.layer("output"):
        b.emit(Unit.DTL0, Store(ch=1, cache=words(100, BATCH), ddr=words(Y_DDR // CWL, BATCH)), after=[drained])
    executable = Executable(
        hw=TPU_128x128_PARAMS,
        program=b.build(),
        constants=(DdrSegment(0, 0, constants.reshape(-1)),),
        inputs=("x",),
        outputs=("y",),
        layers=b.layers,
    )
    return executable, {"x": x, "y": y}
