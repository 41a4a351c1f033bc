"""The training loop, in three phases: the ranges, then (from the best of them) the biases' offsets, then the
weights' rounding with the offsets, fitted with Adam; the best epoch of any phase is returned."""

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
from dnn_quant.fine_tuning.network import Learning, SimulatedNetwork
from dnn_quant.fine_tuning.records import Records
from dnn_quant.graph import FloatGraph
from dnn_quant.layers.base import FloatLayer
from pytpu.errors import QuantizationError

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    batch_size: int = 4
    learning_rate: float = 0.03  # Adam, on the log of each bound: about 3% per step at most
    learn_rounding: bool = True  # phase 3: each weight's rounding, up or down (AdaRound)
    learn_bias: bool = True  # phases 2, 3: a real offset per output channel of every convolution and dense bias
    rounding_learning_rate: float = 0.1  # Adam, on v (h = rectified_sigmoid(v); v in about [-2.4, 2.4])
    bias_learning_rate: float = 0.01  # Adam, on the offset in output steps
    rounding_regularisation: float = 1.0  # the regulariser's weight against the reconstruction errors (1 at start)
    rounding_warm_up: float = 0.2  # the fraction of phase 3's steps without the regulariser
    rounding_beta: tuple[float, float] = (20.0, 2.0)  # the regulariser's exponent, annealed linearly after warm-up
    held_out_fraction: float = 0.2
    min_held_out: int = 2  # fewer samples on either side: the best epoch is chosen on the training loss
    seed: int = 0  # the order of the training samples in each epoch
    float_check_db: float = 50.0  # the simulated network run unquantized must match the float graph this well


@dataclass
class _Best:
    epoch: int
    thresholds: dict[str, Any]
    loss: float


def fine_tune(
    graph: FloatGraph,
    layers: list[FloatLayer],
    thresholds: Mapping[str, Any],
    data: Mapping[str, np.ndarray],
    epochs: int,
    working_dir: str = "",
    settings: Settings = Settings(),
) -> dict[str, Any]:
    """Fine-tuned thresholds (validated inputs: ``RegularModel.fine_tune`` checks them).

    Phase 1 trains the ranges for ``epochs`` epochs; phase 2 starts from the best of them (epoch 0 included),
    keeps those ranges and trains the biases' offsets; phase 3, from the best so far, the weights' rounding
    and the offsets (``epochs`` epochs each). The thresholds of the best epoch of any phase are returned.
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise QuantizationError(f"fine_tuning_epochs must be a non-negative integer, not {epochs!r}")
    directory = _directory(working_dir)
    network = SimulatedNetwork(graph, layers, thresholds, Learning(ranges=True))
    targets = float_outputs(graph, data)
    train, held_out = split(sample_count(data), settings.held_out_fraction, settings.min_held_out, settings.seed)
    energy = {name: max(float(np.mean(np.square(t[train]))), 1e-30) for name, t in targets.items()}
    trainer = _Trainer(network, energy, settings)
    batch = _checked_batch(trainer, data, targets, settings)
    records = Records(directory)
    loop = _Loop(data, targets, (train, held_out), batch, records, settings)
    best = loop.first(trainer)
    best = loop.phase("ranges", trainer, epochs, best)
    for name, learning in _weight_phases(settings):
        if epochs and (learning.rounding or learning.bias) and network.linear:
            weights = _Trainer(SimulatedNetwork(graph, layers, best.thresholds, learning), energy, settings)
            best = loop.phase(name, weights, epochs, best)
    details = {
        "selected_on": "held-out samples" if len(held_out) else "training samples",
        "samples": {"training": len(train), "held_out": len(held_out)},
        "batch_size": batch,
        "settings": asdict(settings),
    }
    records.finish(best.epoch, best.thresholds, details)
    LOG.info("fine-tuning: best epoch %d of %d, records in %s", best.epoch, loop.epoch, directory)
    return best.thresholds


def _weight_phases(settings: Settings) -> list[tuple[str, Learning]]:
    """The phases after the ranges: the bias offsets alone (a few steps of them often do most of the good),
    then the rounding with them (AdaRound needs many steps; on few samples it can lose, and then its epochs
    are not chosen)."""
    return [
        ("bias", Learning(ranges=False, bias=settings.learn_bias)),
        ("rounding", Learning(ranges=False, rounding=settings.learn_rounding, bias=settings.learn_bias)),
    ]


class _Loop:
    """The epochs of both phases, numbered on from one phase to the next, each judged on the held-out samples
    (the training ones when there are too few); the best epoch so far is kept."""

    def __init__(
        self,
        data: Mapping[str, np.ndarray],
        targets: Mapping[str, np.ndarray],
        split: tuple[np.ndarray, np.ndarray],
        batch: int,
        records: Records,
        settings: Settings,
    ):
        self.data, self.targets, self.batch, self.records, self.settings = data, targets, batch, records, settings
        self.train, held_out = split
        self.judged = held_out if len(held_out) else self.train
        self.order = np.random.default_rng(settings.seed)
        self.epoch, self.step = 0, 0

    def first(self, trainer: _Trainer) -> _Best:
        """Epoch 0: the thresholds given."""
        loss = trainer.evaluate(self.data, self.targets, self.judged, self.batch)
        best = _Best(0, trainer.network.thresholds(), loss)
        self.records.epoch(0, "given", best.thresholds, _metrics(loss))
        return best

    def phase(self, name: str, trainer: _Trainer, epochs: int, best: _Best) -> _Best:
        """``epochs`` epochs of ``trainer`` (whose network starts at ``best``); the best epoch after them."""
        if not epochs or not trainer.trains:
            return best
        trainer.start(self.data, self.train, self.batch, best.loss)
        steps = math.ceil(len(self.train) / self.batch)
        schedule = _Schedule(self.settings, epochs * steps)
        with tqdm(total=epochs * steps, desc=f"fine-tuning ({name})", unit="step", leave=False) as bar:
            for epoch in range(1, epochs + 1):
                losses: list[float] = []
                for indices in chunks(self.order.permutation(self.train), self.batch):
                    self.step += 1
                    inputs, targets = take(self.data, indices), take(self.targets, indices)
                    losses.append(trainer.step(inputs, targets, *schedule((epoch - 1) * steps + len(losses) + 1)))
                    self.records.scalar("loss", losses[-1], self.step)
                    bar.update()
                self.epoch += 1
                loss = trainer.evaluate(self.data, self.targets, self.judged, self.batch)
                thresholds = trainer.network.thresholds()
                metrics = {"train_loss": float(np.mean(losses)), **_metrics(loss)}
                self.records.epoch(self.epoch, name, thresholds, metrics)
                if not math.isfinite(loss):
                    break
                if loss < best.loss:
                    best = _Best(self.epoch, thresholds, loss)
                bar.set_postfix(sqnr_db=f"{_db(loss):.2f}", best_db=f"{_db(best.loss):.2f}")
        return best


class _Schedule:
    """AdaRound's: the regulariser off for the warm-up steps, then on with its exponent falling linearly from
    ``beta[0]`` to ``beta[1]`` at the last step."""

    def __init__(self, settings: Settings, total: int):
        self.total, self.warm_up = max(total, 1), settings.rounding_warm_up
        self.weight, self.beta = settings.rounding_regularisation, settings.rounding_beta

    def __call__(self, step: int) -> tuple[float, float]:
        """The regulariser's weight and exponent at ``step`` (1 to ``total``)."""
        progress = step / self.total
        if progress <= self.warm_up:
            return 0.0, self.beta[0]
        annealed = (progress - self.warm_up) / max(1.0 - self.warm_up, 1e-9)
        return self.weight, self.beta[0] + (self.beta[1] - self.beta[0]) * annealed


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
    """The compiled training step and evaluation of one phase.

    The loss is the output error relative to the output energy (the inverse of the SQNR), averaged over the
    outputs; it trains the ranges (phase 1). The bias offsets (phase 2) and the rounding with them (phase 3)
    of each convolution and dense layer train on the layer's own reconstruction error (AdaRound's): its
    result, from the simulated network's quantized inputs, against the float model's, relative to the float
    result's energy and divided by the error at the start of the phase, plus the rounding regulariser.
    Training runs the soft rounding, evaluation the hard one (the integer model's).
    """

    def __init__(self, network: SimulatedNetwork, energy: Mapping[str, float], settings: Settings):
        self.network, self.energy, self.settings = network, dict(energy), settings
        groups = network.parameters()
        self.ranges = Adam(groups["ranges"], settings.learning_rate)
        self.rounding = Adam(groups["rounding"], settings.rounding_learning_rate)
        self.bias = Adam(groups["bias"], settings.bias_learning_rate)
        self.linear = [name for name, w in network.linear.items() if w.learns_rounding or w.learns_bias]
        self.trains = bool(self.ranges.variables_ or self.linear)
        self.layer_reference = np.ones(len(self.linear), np.float32)  # each reconstruction error at the start

    def losses(self, inputs: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """Per sample, with the hard rounding."""
        return self._output_losses(self.network(inputs, True), targets)

    def _output_losses(self, outputs: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
        errors = []
        for name, target in targets.items():
            squares = tf.square(tf.reshape(outputs[name] - target, [tf.shape(target)[0], -1]))
            errors.append(tf.reduce_mean(squares, axis=1) / self.energy[name])
        return tf.add_n(errors) / len(errors)

    def _reconstruction(self, inputs: Mapping[str, tf.Tensor], soft: bool) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Each trained layer's reconstruction error (relative to the float result's energy; gradients reach the
        layer's own variables only), and the outputs."""
        outputs, quantized = self.network.run(inputs, True, soft, isolated=True)
        _, reference = self.network.run(inputs, False)
        errors = []
        for name in self.linear:
            target = tf.stop_gradient(reference[name])
            energy = tf.maximum(tf.reduce_mean(tf.square(target)), 1e-30)
            errors.append(tf.reduce_mean(tf.square(quantized[name] - target)) / energy)
        return tf.stack(errors), outputs

    @tf.function(reduce_retracing=True)
    def _range_step(self, inputs: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
        loss = tf.reduce_mean(self.losses(inputs, targets))
        # tf.gradients, not a tape: lookup tables run ops imported from the float graph, which tapes do not see
        self.ranges.apply(_gradients(loss, self.ranges.variables_))
        return loss

    @tf.function(reduce_retracing=True)
    def _weight_step(
        self,
        inputs: Mapping[str, tf.Tensor],
        targets: Mapping[str, tf.Tensor],
        references: tf.Tensor,
        weight: tf.Tensor,
        beta: tf.Tensor,
    ) -> tf.Tensor:
        errors, outputs = self._reconstruction(inputs, True)
        total = tf.reduce_sum(errors / references)
        regularised = [w for w in (self.network.linear[name] for name in self.linear) if w.learns_rounding]
        if regularised:
            total += weight * tf.add_n([w.regulariser(beta) for w in regularised])
        gradients = _gradients(total, self.rounding.variables_ + self.bias.variables_)
        count = len(self.rounding.variables_)
        for optimiser, part in ((self.rounding, gradients[:count]), (self.bias, gradients[count:])):
            if optimiser.variables_:
                optimiser.apply(part)
        return tf.reduce_mean(self._output_losses(outputs, targets))

    @tf.function(reduce_retracing=True)
    def outputs(self, inputs: Mapping[str, tf.Tensor], active: bool) -> dict[str, tf.Tensor]:
        return self.network(inputs, active)

    @tf.function(reduce_retracing=True)
    def _losses(self, inputs: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
        return self.losses(inputs, targets)

    @tf.function(reduce_retracing=True)
    def _layer_errors(self, inputs: Mapping[str, tf.Tensor]) -> tf.Tensor:
        return self._reconstruction(inputs, False)[0]

    def start(self, data: Mapping[str, np.ndarray], indices: np.ndarray, batch: int, loss: float) -> None:
        """Before the first step: each layer's reconstruction error with the hard rounding, the mean over the
        batches of ``indices``, which the step divides by."""
        if not self.linear or not len(indices):
            return
        errors = np.mean([self._layer_errors(take(data, part)).numpy() for part in chunks(indices, batch)], axis=0)
        self.layer_reference = np.where(np.isfinite(errors) & (errors > 0), errors, 1.0).astype(np.float32)

    def step(
        self, inputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray], weight: float, beta: float
    ) -> float:
        """One step; the output loss (soft rounding) before it."""
        if self.linear:
            parameters = (tf.constant(self.layer_reference), *(tf.constant(v, tf.float32) for v in (weight, beta)))
            return float(self._weight_step(inputs, targets, *parameters))
        if self.ranges.variables_:
            return float(self._range_step(inputs, targets))
        return float(np.mean(self._losses(inputs, targets)))

    def evaluate(
        self, data: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray], indices: np.ndarray, batch: int
    ) -> float:
        """The mean loss over the samples ``indices`` (hard rounding: the integer model's)."""
        parts = [self._losses(take(data, part), take(targets, part)).numpy() for part in chunks(indices, batch)]
        return float(np.concatenate(parts).astype(np.float64).mean())


def _gradients(target: tf.Tensor, variables: list[tf.Variable]) -> list[tf.Tensor]:
    gradients = tf.gradients(target, variables) if variables else []
    return [tf.zeros_like(v) if g is None else g for g, v in zip(gradients, variables, strict=True)]


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
