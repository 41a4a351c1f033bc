"""What fine-tuning leaves in its working directory: TensorBoard scalars, thresholds per epoch, the history.

    <working_dir>/logs/events.out.tfevents.*        scalars: loss (per step), epoch/train_loss, epoch/eval_loss,
                                                    epoch/eval_sqnr_db
    <working_dir>/checkpoints/epoch_000.json        the thresholds after each epoch (000: the initial ones), the
                                                    epochs of each phase numbered on from the previous one's
    <working_dir>/checkpoints/best.json             those of the best epoch, which fine_tune returns
    <working_dir>/history.json                      per epoch its phase, losses and SQNR, the best epoch, the split

Checkpoints are thresholds files (``RegularModel.load_thresholds`` reads them). The scalars are written with
``tf.summary.write`` and the scalars plugin's metadata, so TensorBoard shows them without TensorBoard installed
here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from dnn_quant import thresholds as thresholds_file

_SCALAR = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
    data_class=summary_pb2.DATA_CLASS_SCALAR,
)


class Records:
    def __init__(self, directory: Path):
        self.directory = directory
        self.checkpoints = directory / "checkpoints"
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.writer = tf.summary.create_file_writer(str(directory / "logs"))
        self.history: list[dict[str, Any]] = []

    def scalar(self, tag: str, value: float, step: int) -> None:
        with self.writer.as_default():
            tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=_SCALAR)

    def epoch(self, epoch: int, phase: str, thresholds: dict[str, Any], metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.scalar(f"epoch/{key}", value, epoch)
        self.writer.flush()
        thresholds_file.dump(str(self.checkpoints / f"epoch_{epoch:03d}.json"), thresholds)
        self.history.append({"epoch": epoch, "phase": phase, **metrics})

    def finish(self, best_epoch: int, best: dict[str, Any], details: dict[str, Any]) -> None:
        thresholds_file.dump(str(self.checkpoints / "best.json"), best)
        document = {"best_epoch": best_epoch, **details, "epochs": self.history}
        (self.directory / "history.json").write_text(json.dumps(document, indent=1))
        self.writer.close()
