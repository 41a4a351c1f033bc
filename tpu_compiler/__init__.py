"""Compilation stage: QuantizedModel -> TPU Executable (see docs/)."""
