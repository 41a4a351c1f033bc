#!/usr/bin/env bash
# Installs the converter peer, onnx2tf 1.28.8, in its own venv (.venv-peers): with tensorflow-cpu 2.21 on
# Python 3.11 only that release resolves, and only with --no-deps plus the packages it imports.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-peers
.venv-peers/bin/pip install -q tensorflow-cpu tf_keras onnx onnxruntime onnxsim psutil onnx-graphsurgeon sng4onnx \
    ai-edge-litert simple-onnx-processing-tools
.venv-peers/bin/pip install -q --no-deps onnx2tf==1.28.8
echo "peer python: $(pwd)/.venv-peers/bin/python"
