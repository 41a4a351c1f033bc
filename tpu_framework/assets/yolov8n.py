"""YOLOv8n detector (18 classes, MIT licence) as shipped in the pinned ``nudenet`` wheel.

Opset 17, input ``images`` float32 ``[b, 3, H, W]`` (RGB in [0, 1], 320x320 is its native size), output
``[b, 22, N]``: 4 box coordinates and 18 class scores per anchor. The detection head's decoding is
post-processing; cut it off with ``tpu_framework.get_sub_model`` before converting for the TPU.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from tpu_framework.assets.packages import WheelMember, fetch_member

MODEL = WheelMember(
    package="nudenet",
    version="3.4.2",
    member="nudenet/320n.onnx",
    sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
)


def yolov8n_path() -> Path:
    return fetch_member(MODEL)


def yolov8n() -> onnx.ModelProto:
    return onnx.load(yolov8n_path())


# The three detection heads (box distribution + class logits per scale), before the DFL decoding and anchor
# arithmetic that are post-processing (the manual's supported-models footnotes cut YOLO models the same way).
HEAD_OUTPUTS = ("/model.22/Concat_output_0", "/model.22/Concat_1_output_0", "/model.22/Concat_2_output_0")


def yolov8n_heads(size: int = 320) -> onnx.ModelProto:
    """YOLOv8n from its input to the three head outputs, at a fixed ``size`` x ``size`` input."""
    from onnx_direct import get_sub_model

    model = yolov8n()
    input_name = model.graph.input[0].name
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    dims = fixed.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, 3, size, size), strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = value
    return get_sub_model(fixed, [input_name], list(HEAD_OUTPUTS))
