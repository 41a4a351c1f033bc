"""Calibration: per-tensor statistics streamed over the data, and the methods that turn them into ranges."""
