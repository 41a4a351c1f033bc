"""Runs the onnx2tf peer on one model inside the peer venv and reports JSON on stdout.

    <peer-python> benchmarks/peers/onnx2tf_runner.py MODEL.onnx INPUT.npz WORKDIR

onnx2tf rewrites its input model in place, so the model is copied into WORKDIR first; it also tries to
download a calibration array for 3-channel inputs unless one lies in the working directory, so an
all-zero one is written there (it is only used for int8 TFLite export, which is not requested).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

import numpy as np


def main(model_path: str, inputs_path: str, workdir: str) -> None:
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    np.save("calibration_image_sample_data_20x128x128x3_float32.npy", np.zeros((20, 128, 128, 3), np.float32))
    local = os.path.join(workdir, "model.onnx")
    shutil.copyfile(model_path, local)
    import onnx2tf
    import tensorflow as tf

    started = time.perf_counter()
    onnx2tf.convert(input_onnx_file_path=local, output_folder_path="saved_model", non_verbose=True)
    convert_s = time.perf_counter() - started
    loaded = tf.saved_model.load("saved_model")
    infer = loaded.signatures["serving_default"]
    feeds = dict(np.load(inputs_path))
    signature = infer.structured_input_signature[1]
    batches = [
        {arg: _fit(feeds[_match(arg, feeds)][i : i + 1], signature[arg].shape) for arg in signature}
        for i in range(len(next(iter(feeds.values()))))
    ]
    results = [{k: v.numpy() for k, v in infer(**args).items()} for args in batches]
    outputs = {k: np.concatenate([r[k] for r in results]) for k in results[0]}
    times = []
    for _ in range(10):
        started = time.perf_counter()
        infer(**batches[0])
        times.append(time.perf_counter() - started)
    np.savez(os.path.join(workdir, "peer_outputs.npz"), **outputs)
    transposes = _count_transposes(infer)
    print(
        json.dumps(
            {
                "convert_s": convert_s,
                "infer_s": float(np.median(times)),
                "transposes": transposes,
                "outputs": sorted(outputs),
            }
        )
    )


def _match(arg: str, feeds: dict[str, np.ndarray]) -> str:
    """onnx2tf renames inputs to TF-legal names; pair them by that renaming or by position."""
    for name in feeds:
        if arg in (name, name.replace(".", "_").replace(":", "_").replace("/", "_")):
            return name
    return next(iter(feeds))


def _fit(value: np.ndarray, shape: object) -> np.ndarray:
    """onnx2tf expects channels-last images: transpose NCHW data when the signature asks for it."""
    dims = list(shape)  # type: ignore[call-overload]
    if value.ndim == 4 and dims[-1] == value.shape[1] and dims[1] != value.shape[1]:
        return np.ascontiguousarray(value.transpose(0, 2, 3, 1))
    return value


def _count_transposes(function: object) -> int:
    graph_def = function.graph.as_graph_def()  # type: ignore[attr-defined]
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    return sum(n.op == "Transpose" for n in nodes)


if __name__ == "__main__":
    main(*sys.argv[1:4])
