"""The Fashion-MNIST CNN as a torch module, its deterministic training loop and its ONNX export.

Imported only when the model is trained, so that ``import torch`` happens only then.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def conv_bn_relu(inp: int, out: int) -> list[nn.Module]:
    return [nn.Conv2d(inp, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]


class Residual(nn.Module):
    """``relu(x + bn(conv3x3(x)))``: one Add, so that the quantizer's requantised sums are exercised."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn(self.conv(x)))


class FashionCNN(nn.Module):
    """28x28 -> 14x14 -> 7x7 convolutions, a residual block, then one dense layer on the flattened features."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn_relu(1, 16), nn.MaxPool2d(2),
            *conv_bn_relu(16, 32), nn.MaxPool2d(2),
            *conv_bn_relu(32, 32), Residual(32),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@contextmanager
def deterministic(seed: int, threads: int) -> Iterator[None]:
    """Seeded torch RNG, deterministic kernels and a fixed thread count; the caller's settings are restored after."""
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())  # fmt: skip
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])


def train(
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    threads: int,
    log: Callable[[str], None],
) -> FashionCNN:
    """Adam with a one-cycle learning-rate schedule; the epoch order comes from numpy's PCG64 seeded with ``seed``."""
    with deterministic(seed, threads):
        model = FashionCNN()
        images, labels = torch.from_numpy(x), torch.from_numpy(y)
        steps_per_epoch = -(-len(images) // batch_size)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=epochs * steps_per_epoch)
        order = np.random.default_rng(seed)
        started = time.perf_counter()
        model.train()
        for epoch in range(epochs):
            permutation = torch.from_numpy(order.permutation(len(images)))
            loss_sum, correct = 0.0, 0
            for batch in permutation.split(batch_size):
                logits = model(images[batch])
                loss = nn.functional.cross_entropy(logits, labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                loss_sum += loss.item() * len(batch)
                correct += int((logits.argmax(1) == labels[batch]).sum())
            seconds = time.perf_counter() - started
            log(f"epoch {epoch + 1}/{epochs}: loss {loss_sum / len(images):.4f}, "
                f"train accuracy {correct / len(images):.2%} ({seconds:.0f} s)")  # fmt: skip
        model.eval()
    return model


def export_onnx(model: FashionCNN, out: Path, opset: int, example: np.ndarray) -> np.ndarray:
    """Export with a dynamic batch axis and return torch's logits on ``example``.

    ``TrainingMode.PRESERVE`` on a model in eval mode skips the exporter's eval peephole, which would fold
    every BatchNorm into the convolution before it: the graph keeps its BatchNormalization nodes. Constant
    folding stays on (without it every BatchNorm statistic comes through an Identity node); torch's warning
    that folding may alter parameters concerns models exported in training mode, which this one is not.
    """
    model.eval()
    inputs = torch.from_numpy(example)
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}}
    options: dict[str, Any] = dict(input_names=["input"], output_names=["logits"], opset_version=opset,
                                   dynamic_axes=axes, do_constant_folding=True, dynamo=False,
                                   training=torch.onnx.TrainingMode.PRESERVE)  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "It is recommended that constant folding be turned off", UserWarning)
        torch.onnx.export(model, (inputs,), str(out), **options)
    with torch.no_grad():
        return model(inputs).numpy()
