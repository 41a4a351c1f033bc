"""The manual's presets: ``O1`` (the default) and ``O5``."""

from tpu_compiler.compiler.presets._o1 import O1
from tpu_compiler.compiler.presets._o5 import O5

DEFAULT = O1

__all__ = ["DEFAULT", "O1", "O5"]
