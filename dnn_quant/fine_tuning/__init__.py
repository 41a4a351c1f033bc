"""Fine-tuning: training the calibrated ranges against the float model's outputs (see docs/quantization.md).

A TF network that simulates the integer model is rebuilt from the float layers (``network.py``, one simulator
per layer kind in ``layers.py``): every quantized tensor passes through a fake quantizer whose range is
trainable (``fake_quant.py``), weights are fixed at their int8 values. ``train.py`` fits the ranges with Adam
on straight-through gradients and keeps the best epoch, judged on a held-out part of the data.
"""

from dnn_quant.fine_tuning.train import Settings, fine_tune

__all__ = ["Settings", "fine_tune"]
