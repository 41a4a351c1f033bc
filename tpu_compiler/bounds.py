"""The lower bound a compiled program is judged against (T_min of the reference hardware notes).

    T_min = max(total MACs / (array MACs per cycle), (weight + bias + input + output bytes) / (DDR bytes per cycle))

MACs run only on the systolic array, and every constant, input and output byte crosses a DDR channel at least
once, so no program on ``hw`` beats it. All figures come from the network and the :class:`ModelParameters`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytpu.params import ModelParameters
from tpu_compiler.network import Network


@dataclass(frozen=True)
class TMin:
    """The bound and its two terms, in cycles of ``hw``'s clock."""

    macs: int
    """Multiply-accumulates of the convolutions and dense layers (the array's work), for the whole batch."""
    ddr_bytes: int
    """int8 weights, int32 biases (once), inputs and outputs (per sample) that must cross a DDR channel."""
    compute_cycles: float
    memory_cycles: float

    @property
    def cycles(self) -> float:
        return max(self.compute_cycles, self.memory_cycles)

    @property
    def bound(self) -> str:
        """``"compute"`` or ``"memory"``: which term sets the bound."""
        return "compute" if self.compute_cycles >= self.memory_cycles else "memory"


def t_min(network: Network, hw: ModelParameters) -> TMin:
    """T_min of ``network`` at its batch (``network.batch``) on ``hw``."""
    macs = constant_bytes = 0
    for layer in network.layers:
        if layer.kind != "conv":
            continue
        weights = layer.arrays["weights"]  # HWIO with I = input channels per group; dense: [1, 1, K, M]
        taps = int(np.prod(weights.shape[:-1], dtype=np.int64)) if weights.ndim != 2 else int(weights.shape[0])
        out = network.tensors[layer.name]
        macs += taps * out.positions * out.channels
        constant_bytes += int(weights.size) + 4 * int(layer.arrays["bias"].size)  # int8 weights, int32 biases
    io_bytes = sum(
        network.tensors[n].positions * network.tensors[n].channels for n in (*network.inputs, *network.outputs)
    )
    tpu, ddr = hw.tpu_parameters, hw.ddr
    batch = network.batch
    return TMin(
        macs=macs * batch,
        ddr_bytes=constant_bytes + io_bytes * batch,
        compute_cycles=macs * batch / tpu.macs_per_cycle,
        memory_cycles=(constant_bytes + io_bytes * batch) / (ddr.bytes_per_cycle * ddr.channels),
    )


def t_min_us(network: Network, hw: ModelParameters) -> float:
    """T_min of ``network`` at its batch on ``hw``, in microseconds."""
    return hw.cycles_to_us(t_min(network, hw).cycles)
