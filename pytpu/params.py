"""Hardware parameters: the one place every hardware number lives.

``get_hw_params(tpu_type)`` returns a :class:`ModelParameters`; the simulator, the instruction-set checks
and the compiler read their numbers from it and repeat none of them.  ``128x128_asic`` is the reference
machine of the project's hardware specification (see docs/isa.md); ``64x64_fpga`` is a smaller second platform with
half the array, half the cache word and half the cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pytpu.errors import UnknownTpuTypeError

_KIB = 1024
_MIB = 1024 * _KIB
_GIB = 1024 * _MIB


@dataclass(frozen=True)
class TpuParameters:
    """The compute core: systolic array, weight buffers, accumulators and the shared cache."""

    array_rows: int
    """Rows of the systolic array: the largest K (input depth) of a weight tile."""
    array_columns: int
    """Columns of the systolic array: the largest M (output channels) of a weight tile."""
    cache_word_length: int
    """Bytes per cache word (CWL); cache addresses and transfer sizes are whole words."""
    cache_banks: int
    cache_bank_size: int
    """Bytes per cache bank."""
    accumulator_rows: int
    """int32 accumulator rows, each ``array_columns`` wide, separate from the cache."""
    weight_buffers: int
    """Weight tiles the array holds at once (double buffering: one computes while the other loads)."""
    max_gemm_rows: int
    """Largest N (activation rows) of one GEMM instruction."""

    @property
    def cache_size(self) -> int:
        """Bytes of shared cache."""
        return self.cache_banks * self.cache_bank_size

    @property
    def cache_words(self) -> int:
        """Words of shared cache."""
        return self.cache_size // self.cache_word_length

    @property
    def macs_per_cycle(self) -> int:
        return self.array_rows * self.array_columns


@dataclass(frozen=True)
class DdrParameters:
    """External memory: independent channels, each with its own bandwidth."""

    channels: int
    channel_size: int
    """Bytes per channel."""
    bytes_per_cycle: int
    """Bandwidth of one channel, shared by every DMA lane that reads or writes it."""


@dataclass(frozen=True)
class DmaParameters:
    """The DTS: DMA lanes, the only path between DDR and the cache."""

    lanes: int
    bytes_per_cycle: int
    """Bandwidth of one lane."""
    latency_cycles: int
    """Cycles from the start of a transfer until its data are usable."""


@dataclass(frozen=True)
class EwpParameters:
    """The element-wise processor."""

    overhead_cycles: int
    """Fixed cycles of every EWP instruction."""
    words_per_cycle: int
    """Cache words the EWP reads or writes per cycle."""


@dataclass(frozen=True)
class HostParameters:
    """The link between the host and the device's DDR."""

    link_bytes_per_second: int
    """Bandwidth of the host link, each way."""


@dataclass(frozen=True)
class ModelParameters:
    """Everything the compiler and the simulated device need to know about one platform."""

    name: str
    clock_hz: int
    tpu_parameters: TpuParameters
    ddr: DdrParameters
    dma: DmaParameters
    ewp: EwpParameters
    host: HostParameters

    def cycles_to_us(self, cycles: float) -> float:
        """Convert device cycles to microseconds at this platform's clock."""
        return cycles * 1e6 / self.clock_hz

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of plain ints and strings (for program containers)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelParameters:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(data["name"]),
            clock_hz=int(data["clock_hz"]),
            tpu_parameters=TpuParameters(**data["tpu_parameters"]),
            ddr=DdrParameters(**data["ddr"]),
            dma=DmaParameters(**data["dma"]),
            ewp=EwpParameters(**data["ewp"]),
            host=HostParameters(**data["host"]),
        )


TPU_128x128_PARAMS = ModelParameters(
    name="128x128_asic",
    clock_hz=1_000_000_000,
    tpu_parameters=TpuParameters(
        array_rows=128,
        array_columns=128,
        cache_word_length=128,
        cache_banks=32,
        cache_bank_size=128 * _KIB,
        accumulator_rows=4096,
        weight_buffers=2,
        max_gemm_rows=4096,
    ),
    ddr=DdrParameters(channels=2, channel_size=4 * _GIB, bytes_per_cycle=32),
    dma=DmaParameters(lanes=2, bytes_per_cycle=32, latency_cycles=500),
    ewp=EwpParameters(overhead_cycles=16, words_per_cycle=1),
    host=HostParameters(link_bytes_per_second=16_000_000_000),
)

# A development board: half the array and half the cache of the ASIC, at an FPGA clock.
TPU_64x64_FPGA_PARAMS = ModelParameters(
    name="64x64_fpga",
    clock_hz=250_000_000,
    tpu_parameters=TpuParameters(
        array_rows=64,
        array_columns=64,
        cache_word_length=64,
        cache_banks=32,
        cache_bank_size=64 * _KIB,
        accumulator_rows=2048,
        weight_buffers=2,
        max_gemm_rows=2048,
    ),
    ddr=DdrParameters(channels=2, channel_size=2 * _GIB, bytes_per_cycle=16),
    dma=DmaParameters(lanes=2, bytes_per_cycle=16, latency_cycles=200),
    ewp=EwpParameters(overhead_cycles=16, words_per_cycle=1),
    host=HostParameters(link_bytes_per_second=4_000_000_000),
)

_PLATFORMS: dict[str, ModelParameters] = {p.name: p for p in (TPU_128x128_PARAMS, TPU_64x64_FPGA_PARAMS)}


def known_tpu_types() -> tuple[str, ...]:
    """Names ``get_hw_params`` accepts."""
    return tuple(sorted(_PLATFORMS))


def get_hw_params(tpu_type: str) -> ModelParameters:
    """The hardware parameters of a platform, e.g. ``get_hw_params("128x128_asic")``."""
    try:
        return _PLATFORMS[tpu_type]
    except KeyError:
        raise UnknownTpuTypeError(
            f"unknown tpu_type {tpu_type!r}; known platforms: {', '.join(known_tpu_types())}"
        ) from None
