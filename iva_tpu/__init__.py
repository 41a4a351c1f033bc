"""``iva_tpu``: the device API of the runtime notes (tpu_runtime_api.md), a thin layer over :mod:`pytpu.runtime`.

    device = TPUDevice()
    program = TPUProgram("model.tpu")          # TPUProgramInfo() by default
    device.load_program(program)
    inference = TPUInference(program)
    inference.load([tensor])                   # a list in input order, or a dict by name
    status = device.load_inference_sync(inference)
    assert status.is_success
    output = inference.get()                   # a list in output order; get(as_dict=True) for a dict

``device.load_inference(inference)`` returns an awaitable future of the status instead.  See docs/runtime.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytpu.errors import DeviceError, InputDataError
from pytpu.params import ModelParameters, TPU_128x128_PARAMS
from pytpu.program.codec import pack_inputs, unpack_outputs
from pytpu.program.tpu_program import TensorSpec, TpuProgram
from pytpu.runtime import DEFAULT_MAX_TASKS_COUNT, QUEUE_NAMES, Device, InferenceFuture, InferenceStatus, ProcessingMode
from pytpu.runtime.program import LoadedProgram, data_is_raw

QUEUE_TRANSFER_TO, QUEUE_EXECUTOR, QUEUE_TRANSFER_FROM = range(3)
"""Indices of ``status.timings["queue_timings"]``."""
TPUInferenceStatus = InferenceStatus


@dataclass
class TPUProgramInfo:
    """How to run a program: queue depth in the driver, and whether to skip the static checker at load."""

    max_tasks_count: int = DEFAULT_MAX_TASKS_COUNT
    disable_static_checker: bool = False


class TPUProgram:
    """A ``.tpu`` file read from disk; ``TPUDevice.load_program`` puts it on a device."""

    def __init__(self, path: str | os.PathLike[str], info: TPUProgramInfo | None = None):
        self.path = os.fspath(path)
        self.info = info if info is not None else TPUProgramInfo()
        self.program = TpuProgram.from_file(path)
        self.loaded: LoadedProgram | None = None

    @property
    def inputs(self) -> dict[str, TensorSpec]:
        return self.program.inputs

    @property
    def outputs(self) -> dict[str, TensorSpec]:
        return self.program.outputs

    def on_device(self) -> LoadedProgram:
        """The program as loaded on its device (DeviceClosedError once that is closed)."""
        if self.loaded is None:
            raise DeviceError(f"program {self.path!r} is not loaded: call device.load_program(program) first")
        self.loaded.ensure_open()
        return self.loaded


class TPUInference:
    """The input and output data of one inference of a program."""

    def __init__(self, program: TPUProgram):
        self.program = program
        self.status: InferenceStatus | None = None
        self._inputs: dict[str, np.ndarray] | None = None
        self._outputs: dict[str, np.ndarray] | None = None

    def load(self, data: Sequence[Any] | Mapping[str, Any], mode: ProcessingMode | None = None) -> None:
        """Set the inputs: a list in the program's input order or a dict by name, packed here."""
        program = self.program.program
        names = program.executable.inputs
        if isinstance(data, Mapping):
            by_name = data
        elif isinstance(data, list | tuple):
            if len(data) != len(names):
                raise InputDataError(f"the program takes {len(names)} inputs {list(names)}, got {len(data)}")
            by_name = dict(zip(names, data, strict=True))
        else:
            raise InputDataError(f"inputs must be a list or a dict, got {type(data).__name__}")
        raw = data_is_raw(program, mode)
        self._inputs = pack_inputs(program.tensor_descriptions, names, by_name, raw=raw)
        self._outputs = None

    def get(
        self, as_dict: bool = False, mode: ProcessingMode | None = None, *, as_dist: bool | None = None
    ) -> list[np.ndarray] | dict[str, np.ndarray]:
        """The outputs: a list in the program's output order, or a dict by name (``as_dict=True``).

        ``as_dist`` is accepted as another spelling of ``as_dict``.
        """
        if self._outputs is None:
            raise DeviceError("the inference has no outputs yet: run it with device.load_inference(inference)")
        program = self.program.program
        outputs = unpack_outputs(program.tensor_descriptions, self._outputs, raw=data_is_raw(program, mode))
        if as_dict or as_dist:
            return outputs
        return [outputs[name] for name in program.executable.outputs]

    def _finish(self, status: InferenceStatus, words: dict[str, np.ndarray] | None) -> InferenceStatus:
        self.status = status
        self._outputs = words
        return status


class TPUDevice:
    """A device handle (the first device unless named); ``close()`` or a ``with`` block releases it."""

    def __init__(self, name: str | None = None, *, hw: ModelParameters = TPU_128x128_PARAMS):
        self.device = Device.open(name, hw=hw)

    def load_program(self, program: TPUProgram) -> None:
        info = program.info
        program.loaded = self.device.load(
            program.program, max_tasks_count=info.max_tasks_count, disable_static_checker=info.disable_static_checker
        )

    def load_inference(self, inference: TPUInference) -> InferenceFuture[InferenceStatus]:
        """Start the inference; an awaitable (and ``concurrent.futures``) future of its status."""
        loaded = inference.program.on_device()
        if loaded.device is not self.device:
            raise DeviceError("the inference's program is loaded on another device")
        if inference._inputs is None:
            raise DeviceError("the inference has no inputs: call inference.load(...) first")
        return loaded.submit_words(inference._inputs).then(inference._finish)

    _load_inference = load_inference

    def load_inference_sync(self, inference: TPUInference) -> InferenceStatus:
        """Run the inference and wait for it; its status (``is_success``, ``timings``)."""
        return self.load_inference(inference).result()

    @property
    def stats(self) -> dict[str, Any]:
        """Global statistics: ``mem`` (device memory in use, bytes) and the rest of ``Device.stats``."""
        return self.device.stats

    def close(self) -> None:
        self.device.close()

    def __enter__(self) -> TPUDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "QUEUE_EXECUTOR",
    "QUEUE_NAMES",
    "QUEUE_TRANSFER_FROM",
    "QUEUE_TRANSFER_TO",
    "ProcessingMode",
    "TPUDevice",
    "TPUInference",
    "TPUInferenceStatus",
    "TPUProgram",
    "TPUProgramInfo",
]
