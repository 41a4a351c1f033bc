"""pytpu runs a program where TensorFlow, ONNX and onnxruntime cannot be imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "onnx", "onnxruntime"}:
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, Blocked())
import numpy as np
import pytpu
from tests.tpu_programs import BATCH, K, dense_executable

executable, descriptions = dense_executable()
result = pytpu.model_execute(executable, descriptions, {"x": np.ones((BATCH, K), np.float32)})
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"tensorflow", "onnx", "onnxruntime"})
print(result.cycles, loaded)
"""


def test_runs_without_tensorflow_onnx_and_onnxruntime():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1144", "[]"]
