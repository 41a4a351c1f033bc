"""Quantization stage: float TF GraphDef -> int8 QuantizedModel (see docs/)."""
