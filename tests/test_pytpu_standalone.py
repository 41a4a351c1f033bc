"""pytpu (simulator, .tpu files, runtime) and iva_tpu run where TensorFlow, ONNX and onnxruntime cannot be imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os
import sys
import tempfile

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "onnx", "onnxruntime"}:
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, Blocked())
import numpy as np
import iva_tpu
import pytpu
from tests.tpu_programs import BATCH, K, dense_executable

executable, descriptions = dense_executable()
x = {"x": np.ones((BATCH, K), np.float32)}
result = pytpu.model_execute(executable, descriptions, x)
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "dense.tpu")
    pytpu.TpuProgram.from_executable(executable, descriptions).to_file(path)
    codec = pytpu.convert_to_raw(path, os.path.join(tmp, "raw.tpu"))
    with pytpu.Device.open() as device, device.load(path) as program, program.inference() as inference:
        same = np.array_equal(inference.sync(x)["y"], result.output_data["y"])
    with pytpu.Device.open() as device, device.load(os.path.join(tmp, "raw.tpu")) as program:
        raw = codec.decode(program.inference().sync(codec.encode(x)))
        same = same and np.array_equal(raw["y"], result.output_data["y"])
    with iva_tpu.TPUDevice() as device:
        tpu_program = iva_tpu.TPUProgram(path)
        device.load_program(tpu_program)
        inference = iva_tpu.TPUInference(tpu_program)
        inference.load([x["x"]])
        same = same and device.load_inference_sync(inference).is_success
        same = same and np.array_equal(inference.get()[0], result.output_data["y"])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"tensorflow", "onnx", "onnxruntime"})
print(result.cycles, same, loaded)
"""


def test_runs_without_tensorflow_onnx_and_onnxruntime():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1144", "True", "[]"]
