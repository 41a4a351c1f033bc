"""The training loop: ranges fitted with Adam to the float model's outputs; the best epoch's are returned."""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from dnn_quant.data import sample_count
from dnn_quant.fine_tuning.adam import Adam
from dnn_quant.fine_tuning.dataset import chunks, float_outputs, split, take
from dnn_quant.fine_tuning.network import SimulatedNetwork
from dnn_quant.fine_tuning.records import Records
from dnn_quant.graph import FloatGraph
from dnn_quant.layers.base import FloatLayer
from pytpu.errors import QuantizationError

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    batch_size: int = 4
    learning_rate: float = 0.03  # Adam, on the log of each bound: about 3% per step at most
    held_out_fraction: float = 0.2
    min_held_out: int = 2  # fewer samples on either side: the best epoch is chosen on the training loss
    seed: int = 0  # the order of the training samples in each epoch
    float_check_db: float = 50.0  # the simulated network run unquantized must match the float graph this well


def fine_tune(
    graph: FloatGraph,
    layers: list[FloatLayer],
    thresholds: Mapping[str, Any],
    data: Mapping[str, np.ndarray],
    epochs: int,
    working_dir: str = "",
    settings: Settings = Settings(),
) -> dict[str, Any]:
    """Fine-tuned thresholds (validated inputs: ``RegularModel.fine_tune`` checks them)."""
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise QuantizationError(f"fine_tuning_epochs must be a non-negative integer, not {epochs!r}")
    directory = _directory(working_dir)
    network = SimulatedNetwork(graph, layers, thresholds)
    targets = float_outputs(graph, data)
    train, held_out = split(sample_count(data), settings.held_out_fraction, settings.min_held_out, settings.seed)
    energy = {name: max(float(np.mean(np.square(t[train]))), 1e-30) for name, t in targets.items()}
    trainer = _Trainer(network, energy, settings.learning_rate)
    batch = _checked_batch(trainer, data, targets, settings)
    records = Records(directory)
    best_epoch, best = _train(trainer, data, targets, (train, held_out), batch, epochs, records, settings.seed)
    details = {
        "selected_on": "held-out samples" if len(held_out) else "training samples",
        "samples": {"training": len(train), "held_out": len(held_out)},
        "batch_size": batch,
        "settings": asdict(settings),
    }
    records.finish(best_epoch, best, details)
    LOG.info("fine-tuning: best epoch %d of %d, records in %s", best_epoch, epochs, directory)
    return best


def _train(
    trainer: _Trainer,
    data: Mapping[str, np.ndarray],
    targets: Mapping[str, np.ndarray],
    split: tuple[np.ndarray, np.ndarray],
    batch: int,
    epochs: int,
    records: Records,
    seed: int,
) -> tuple[int, dict[str, Any]]:
    """The epochs; returns the best one (0: the thresholds given) and its thresholds."""
    train, held_out = split
    judged = held_out if len(held_out) else train
    network, order = trainer.network, np.random.default_rng(seed)
    best_loss = trainer.evaluate(data, targets, judged, batch)
    best_epoch, best = 0, network.thresholds()
    records.epoch(0, best, _metrics(best_loss))
    steps = math.ceil(len(train) / batch)
    with tqdm(total=epochs * steps, desc="fine-tuning", unit="step", leave=False) as bar:
        for epoch in range(1, epochs + 1):
            losses = []
            for indices in chunks(order.permutation(train), batch):
                losses.append(trainer.step(take(data, indices), take(targets, indices)))
                records.scalar("loss", losses[-1], (epoch - 1) * steps + len(losses))
                bar.update()
            loss = trainer.evaluate(data, targets, judged, batch)
            records.epoch(epoch, network.thresholds(), {"train_loss": float(np.mean(losses)), **_metrics(loss)})
            if not math.isfinite(loss):
                break
            if loss < best_loss:
                best_epoch, best, best_loss = epoch, network.thresholds(), loss
            bar.set_postfix(sqnr_db=f"{_db(loss):.2f}", best_db=f"{_db(best_loss):.2f}")
    return best_epoch, best


def _metrics(loss: float) -> dict[str, float]:
    return {"eval_loss": loss, "eval_sqnr_db": _db(loss)}


def _directory(working_dir: str) -> Path:
    if working_dir:
        path = Path(working_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="dnn_quant_fine_tune_"))
    tqdm.write(f"fine-tuning: logs and checkpoints in {path}")
    return path


def _db(loss: float) -> float:
    return -10.0 * math.log10(loss) if loss > 0 else math.inf


class _Trainer:
    """The compiled training step and evaluation. The loss is the output error relative to the output energy
    (the inverse of the SQNR), averaged over the outputs."""

    def __init__(self, network: SimulatedNetwork, energy: Mapping[str, float], learning_rate: float):
        self.network, self.energy = network, dict(energy)
        self.parameters = network.parameters()
        self.adam = Adam(self.parameters, learning_rate)

    def losses(self, inputs: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """Per sample."""
        outputs = self.network(inputs, True)
        errors = []
        for name, target in targets.items():
            squares = tf.square(tf.reshape(outputs[name] - target, [tf.shape(target)[0], -1]))
            errors.append(tf.reduce_mean(squares, axis=1) / self.energy[name])
        return tf.add_n(errors) / len(errors)

    @tf.function(reduce_retracing=True)
    def _step(self, inputs: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
        loss = tf.reduce_mean(self.losses(inputs, targets))
        # tf.gradients, not a tape: lookup tables run ops imported from the float graph, which tapes do not see
        gradients = tf.gradients(loss, self.parameters)
        self.adam.apply([tf.zeros_like(p) if g is None else g for g, p in zip(gradients, self.parameters, strict=True)])
        return loss

    @tf.function(reduce_retracing=True)
    def outputs(self, inputs: Mapping[str, tf.Tensor], active: bool) -> dict[str, tf.Tensor]:
        return self.network(inputs, active)

    @tf.function(reduce_retracing=True)
    def _losses(self, inputs: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
        return self.losses(inputs, targets)

    def step(self, inputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray]) -> float:
        if not self.parameters:
            return float(np.mean(self._losses(inputs, targets)))
        return float(self._step(inputs, targets))

    def evaluate(
        self, data: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray], indices: np.ndarray, batch: int
    ) -> float:
        """The mean loss over the samples ``indices``."""
        parts = [self._losses(take(data, part), take(targets, part)).numpy() for part in chunks(indices, batch)]
        return float(np.concatenate(parts).astype(np.float64).mean())


def _checked_batch(
    trainer: _Trainer, data: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray], settings: Settings
) -> int:
    """The batch the simulated network runs at, after checking that unquantized it is the float graph.

    A network whose layers fix the batch (a reshape to a constant batch of 1) runs one sample at a time.
    """
    for batch in dict.fromkeys((min(settings.batch_size, sample_count(data)), 1)):
        indices = np.arange(batch)
        try:
            outputs = trainer.outputs(take(data, indices), False)
        except (tf.errors.InvalidArgumentError, ValueError):
            if batch == 1:
                raise
            continue
        for name, value in outputs.items():
            expected = targets[name][indices]
            noise = float(np.sum(np.square(value.numpy() - expected)))
            signal = float(np.sum(np.square(expected)))
            db = 10 * math.log10(max(signal, 1e-30) / max(noise, 1e-30))
            if db < settings.float_check_db:
                raise QuantizationError(
                    f"fine-tuning: the simulated network, run without quantization, differs from the float graph "
                    f"at output {name!r} (SQNR {db:.1f} dB); training it would fit the wrong function"
                )
        return batch
    raise AssertionError("unreachable")
