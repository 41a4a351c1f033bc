"""CompileParameters and its parts, with exactly the fields the manual lists (chapter 4.3)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class DependencyResolutionAlgorithm(Enum):
    """How instructions of different units are ordered."""

    SEQUENTIAL = 1
    """Layers run one after the other: every instruction of a layer waits for every instruction of the layers
    before it (no weights load ahead), while within a layer only data hazards order the units."""
    PARALLEL = 2
    """Only true dependencies (data hazards on cache and DDR words) order instructions, so layers overlap too
    (the next layers' weights load while the array computes this one)."""


class BalancingMode(Enum):
    """Where constants live in DDR."""

    MIRROR = 1
    """Constants on the second DDR channel, activations on the first: both stream at once."""
    NONE = 2
    """Everything on the first channel."""


@dataclass(frozen=True)
class IntermediateInsertion:
    """Cache schedule: reserve cache ahead for preloading weights (the weight stream, under PARALLEL).

    ``depth``: how many weight-loading layers ahead of the one computing the stream may load (-1: no bound);
    ``time_limit_seconds``: the cache schedule search's time limit (-1: none)."""

    depth: int = 16
    time_limit_seconds: float = 240


@dataclass(frozen=True)
class BiasScaleNegativeScaleAggressiveGrouping:
    """Cache schedule: let constant blocks (biases, scales, negative scales) share banks with other tensors.

    Accepted and checked like the other configurations (its ``time_limit_seconds`` bounds the cache schedule
    search too); it adds no pass of its own: this compiler allocates the cache by the word, not by the bank,
    so every block already shares banks with whatever lies beside it, at O1 as at O5."""

    depth: int = 0
    time_limit_seconds: float = -1


ScheduleConfiguration = IntermediateInsertion | BiasScaleNegativeScaleAggressiveGrouping


@dataclass(frozen=True)
class ScheduleOptimization:
    """Cache allocation options of one memory (the shared cache or the EWP's part of it)."""

    configurations: tuple[ScheduleConfiguration, ...] = ()
    round_robin: bool = False
    """Two copies of the band buffers, used in turn (array layers: the shared schedule's; EWP layers: the EWP's)."""
    fallthrough_patch: bool = False
    """Tensors fall through to the concatenation that reads them last: the shared schedule's, a convolution's output
    made at its lanes there; the EWP schedule's, the concatenation's output in its first source's words."""


@dataclass(frozen=True)
class SubgraphSlicerParameters:
    """The slicer's search: layers looked ahead (and per branch), spatial pieces, cache share used."""

    analysis_depth: int = 1
    analysis_depth_branch: int = 4
    spatial_limit: int = 2
    max_cache_utilization: float = 1


@dataclass(frozen=True)
class CompileParameters:
    action_graph_data_transfer_optimization: bool = True
    dependency_resolution_algorithm: DependencyResolutionAlgorithm = DependencyResolutionAlgorithm.SEQUENTIAL
    ram_io_balancing: BalancingMode = BalancingMode.NONE
    shared_cache_schedule_optimizations: ScheduleOptimization = ScheduleOptimization()
    ewp_cache_schedule_optimizations: ScheduleOptimization = ScheduleOptimization()
    slicer: SubgraphSlicerParameters = SubgraphSlicerParameters()
    layer_fusion: int = 0
    """Layers fused into one sliced subgraph: 0 none, -1 as many as the slicer finds."""
