"""Hand-assembled programs for the .tpu, raw-mode and runtime tests (no test framework imports here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from pytpu import DdrSegment, Executable, TensorDescription, TPU_128x128_PARAMS, TpuProgram
from pytpu.isa import Drain, Gemm, Load, LoadWeights, ProgramBuilder, Store, Unit
from pytpu.isa.layouts import pack_output_stage, pack_weight_tile
from tests.tpu_programs import BATCH, CWL, X_DDR, Y_DDR, K, M, dense_executable, dense_weights, words

Program = tuple[Executable, dict[str, TensorDescription]]


def renamed(program: Program, names: dict[str, str]) -> Program:
    """The same program with its tensors under other names (e.g. TF tensor names)."""
    executable, descriptions = program
    executable = dataclasses.replace(
        executable,
        inputs=tuple(names.get(n, n) for n in executable.inputs),
        outputs=tuple(names.get(n, n) for n in executable.outputs),
    )
    return executable, {names.get(k, k): dataclasses.replace(d, name=names.get(k, k)) for k, d in descriptions.items()}


def classifier() -> Program:
    """The dense layer with the tensor names of a TF classifier: ``Placeholder:0`` -> ``logits:0``."""
    return renamed(dense_executable(), {"x": "Placeholder:0", "y": "logits:0"})


def three_outputs() -> Program:
    """The dense layer stored three times: ``y0`` as is, ``y1`` read with another scale, ``y2`` its first row."""
    w, bias, mult, shift = dense_weights()
    constants = np.concatenate([pack_weight_tile(w, CWL), pack_output_stage(bias, mult, shift, CWL)])
    b = ProgramBuilder()
    with b.layer("fc"):
        consts = b.emit(Unit.DTL0, Load(ch=0, ddr=words(0, 15), cache=words(1000, 15)))
        rows = b.emit(Unit.DTL1, Load(ch=0, ddr=words(X_DDR // CWL, BATCH), cache=words(0, BATCH)))
        b.emit(Unit.ME, LoadWeights(buf=0, addr=1000, k=K, m=M), after=[consts])
        b.emit(Unit.ME, Gemm(buf=0, x=words(0, BATCH), off=0, k=K, m=M, acc=0, accumulate=0), after=[rows])
        drained = b.emit(Unit.ME, Drain(acc=0, m=M, params=1012, zo=-10, lo=-10, hi=127, dst=words(100, BATCH), off=0))
    with b.layer("outputs"):
        b.emit(Unit.DTL0, Store(ch=1, cache=words(100, BATCH), ddr=words(Y_DDR // CWL, BATCH)), after=[drained])
        b.emit(Unit.DTL1, Store(ch=1, cache=words(100, BATCH), ddr=words(0x1000 // CWL, BATCH)), after=[drained])
        b.emit(Unit.DTL0, Store(ch=0, cache=words(100, 1), ddr=words(0x20000 // CWL, 1)), after=[drained])
    descriptions = {
        "x": TensorDescription("x", (BATCH, K), 0.05, 3, ddr_channel=0, ddr_address=X_DDR, word_length=CWL),
        "y0": TensorDescription("y0", (BATCH, M), 0.1, -10, ddr_channel=1, ddr_address=Y_DDR, word_length=CWL),
        "y1": TensorDescription("y1", (BATCH, M), 0.2, -10, ddr_channel=1, ddr_address=0x1000, word_length=CWL),
        "y2": TensorDescription("y2", (1, M), 0.1, -10, ddr_channel=0, ddr_address=0x20000, word_length=CWL),
    }
    executable = Executable(
        hw=TPU_128x128_PARAMS,
        program=b.build(),
        constants=(DdrSegment(0, 0, constants.reshape(-1)),),
        inputs=("x",),
        outputs=("y0", "y1", "y2"),
        layers=b.layers,
    )
    return executable, descriptions


def write(program: Program, path: str | Path) -> Path:
    """Write ``program`` as a .tpu file."""
    TpuProgram.from_executable(*program).to_file(path)
    return Path(path)


def sample_input(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, (BATCH, K)).astype(np.float32)
