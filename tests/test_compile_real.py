"""The manual's compile step on the real MobileNetV2: the simulated device equals the golden graph exactly."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

import tpu_compiler
from pytpu import TPU_128x128_PARAMS, model_execute
from tests.quant_helpers import mobilenet_v2_quantized, run_golden
from tpu_compiler import Network, compiler
from tpu_compiler.compiler import DEFAULT
from tpu_framework.assets import photos

pytestmark = pytest.mark.slow
CALIBRATION = ("astronaut", "coffee", "china")
EVALUATION = ("chelsea", "rocket")
INPUT, OUTPUT = "input", "logits"


def _views(names: tuple[str, ...]) -> np.ndarray:
    return np.concatenate([photos.imagenet_views(photos.photo(n))[:1] for n in names])


@pytest.fixture(scope="module")
def flow() -> dict[str, Any]:
    return mobilenet_v2_quantized(CALIBRATION)


def _golden(model: Any, mapping: dict[str, str], image: np.ndarray) -> np.ndarray:
    feeds = model.rescale({mapping[INPUT]: image[None]})
    return run_golden(model, feeds, [mapping[OUTPUT]], batch=1)[0]


def test_mobilenet_v2_bit_exact_at_o1(flow: dict[str, Any]) -> None:
    model, mapping = flow["model"], flow["mapping"]
    network, _ = Network.from_quantized_model(model)
    network.set_batch(1)
    start = time.perf_counter()
    executable, descriptions = compiler.compile_(TPU_128x128_PARAMS, network, DEFAULT)
    compile_seconds = time.perf_counter() - start
    assert set(descriptions) == {INPUT, OUTPUT}
    for name in EVALUATION:
        image = _views((name,))[0]
        start = time.perf_counter()
        result = model_execute(executable, descriptions, {INPUT: image[None]})
        wall = time.perf_counter() - start
        golden = _golden(model, mapping, image)
        assert np.array_equal(result.output_codes[OUTPUT], golden), name
        t_min_us = tpu_compiler.t_min_us(network, TPU_128x128_PARAMS)
        print(
            f"\nMobileNetV2 O1 {name}: simulated {result.execution_time_us:.1f} us, T_min {t_min_us:.1f} us, "
            f"ratio {result.execution_time_us / t_min_us:.2f}; compile {compile_seconds:.1f} s, "
            f"simulator {wall:.1f} s; "
            f"busy { ({k: round(v, 1) for k, v in result.unit_busy_us.items()}) }"
        )
