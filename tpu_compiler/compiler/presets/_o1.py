"""O1: reasonably safe, the default for an unknown network (values as the manual gives them)."""

from tpu_compiler.compiler.parameters import (
    BalancingMode,
    CompileParameters,
    DependencyResolutionAlgorithm,
    IntermediateInsertion,
    ScheduleOptimization,
    SubgraphSlicerParameters,
)

O1 = CompileParameters(
    action_graph_data_transfer_optimization=True,
    dependency_resolution_algorithm=DependencyResolutionAlgorithm.SEQUENTIAL,
    ram_io_balancing=BalancingMode.NONE,
    shared_cache_schedule_optimizations=ScheduleOptimization(
        configurations=(IntermediateInsertion(depth=16, time_limit_seconds=240),),
        round_robin=False,
        fallthrough_patch=False,
    ),
    ewp_cache_schedule_optimizations=ScheduleOptimization(
        configurations=(), round_robin=False, fallthrough_patch=False
    ),
    slicer=SubgraphSlicerParameters(
        analysis_depth=1, analysis_depth_branch=4, spatial_limit=2, max_cache_utilization=1
    ),
    layer_fusion=0,
)
