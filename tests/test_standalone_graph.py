"""The converted GraphDef is plain TF: it runs where onnx and onnxruntime cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from onnx_direct import onnx_to_tf
from onnx_direct.metrics import relative_error
from tests.helpers import conv_net, ort_run

_RUNNER = textwrap.dedent(
    """
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("onnx", "onnxruntime", "onnx_direct", "onnxsim"):
                raise ImportError(f"{name} is blocked in this process")
            return None

    sys.meta_path.insert(0, Block())
    for blocked in ("onnx", "onnxruntime"):
        try:
            __import__(blocked)
        except ImportError:
            pass
        else:
            raise SystemExit(f"{blocked} could be imported")

    import numpy as np
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(open(sys.argv[1], "rb").read())
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        out = session.run(sys.argv[3], {sys.argv[2]: np.load(sys.argv[4])})
    np.save(sys.argv[5], out)
    """
)


def test_graph_runs_without_onnx(tmp_path):
    model = conv_net()
    x = np.random.default_rng(3).normal(size=(1, 3, 16, 16)).astype(np.float32)
    graph, mapping = onnx_to_tf(model)
    (tmp_path / "model.pb").write_bytes(graph.as_graph_def().SerializeToString())
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "run.py").write_text(_RUNNER)
    args = [
        sys.executable,
        str(tmp_path / "run.py"),
        str(tmp_path / "model.pb"),
        mapping["input"],
        mapping["output"],
        str(tmp_path / "x.npy"),
        str(tmp_path / "y.npy"),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = np.load(tmp_path / "y.npy")
    assert relative_error(got, ort_run(model, {"input": x})["output"]) < 1e-5
