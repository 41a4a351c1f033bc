"""O5: parallel units, constants on the second DDR, cache schedule optimisations, fusion (manual values)."""

from tpu_compiler.compiler.parameters import (
    BalancingMode,
    BiasScaleNegativeScaleAggressiveGrouping,
    CompileParameters,
    DependencyResolutionAlgorithm,
    IntermediateInsertion,
    ScheduleOptimization,
    SubgraphSlicerParameters,
)

O5 = CompileParameters(
    action_graph_data_transfer_optimization=True,
    dependency_resolution_algorithm=DependencyResolutionAlgorithm.PARALLEL,
    ram_io_balancing=BalancingMode.MIRROR,
    shared_cache_schedule_optimizations=ScheduleOptimization(
        configurations=(
            BiasScaleNegativeScaleAggressiveGrouping(depth=0, time_limit_seconds=-1),
            IntermediateInsertion(depth=-1, time_limit_seconds=-1),
        ),
        round_robin=True,
        fallthrough_patch=True,
    ),
    ewp_cache_schedule_optimizations=ScheduleOptimization(configurations=(), round_robin=True, fallthrough_patch=True),
    slicer=SubgraphSlicerParameters(
        analysis_depth=10, analysis_depth_branch=4, spatial_limit=4, max_cache_utilization=0.5
    ),
    layer_fusion=-1,
)
