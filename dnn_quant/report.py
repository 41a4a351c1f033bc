"""Per-layer error report: how far each quantized layer's output is from the float model's, on real data.

``layer_report`` runs the float graph and the golden integer graph side by side, batch by batch, and measures
every layer output that carries a float-graph tensor name (plus the model inputs, whose error is the input
rounding alone). The error of a layer is end to end: it includes everything its inputs already lost.
``drop_db`` separates the two: how many dB the layer lost relative to its worst measured input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from dnn_quant.data import batches, validate
from dnn_quant.float_runner import FloatRunner, run_batch
from dnn_quant.graph import op_name
from dnn_quant.qparams import QMAX, QMIN, QParams
from pytpu.errors import QuantizationError

if TYPE_CHECKING:
    from dnn_quant.quantized_model import QuantizedModel
    from dnn_quant.regular_model import RegularModel

DEFAULT_BATCH = 16
MARKED_DROP_DB = 0.5  # smaller drops are not marked: slicing or resampling a tensor moves its SQNR that much


@dataclass(frozen=True)
class LayerError:
    """One tensor's error. ``sqnr_db`` is ``inf`` when the integer model reproduces it exactly.

    ``max_abs_error`` is in the tensor's real units; ``clipped`` the fraction of float values outside the int8
    range (a large one means the range is too narrow, a small SQNR with nothing clipped means it is too coarse);
    ``drop_db`` the SQNR of the worst measured input minus this one's (None for inputs).
    """

    index: int  # position in the graph order (inputs first)
    name: str
    kind: str
    sqnr_db: float
    drop_db: float | None
    max_abs_error: float
    float_abs_max: float
    scale: float
    zero_point: int
    clipped: float

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        for key in ("sqnr_db", "drop_db"):
            if values[key] is not None and not math.isfinite(values[key]):
                values[key] = None  # exact: JSON has no infinity
        return values


class _Accumulator:
    def __init__(self) -> None:
        self.signal = 0.0
        self.noise = 0.0
        self.max_error = 0.0
        self.abs_max = 0.0
        self.clipped = 0
        self.count = 0

    def add(self, reference: np.ndarray, approximation: np.ndarray, qparams: QParams) -> None:
        reference = np.asarray(reference, np.float64)
        error = reference - approximation
        self.signal += float(np.sum(np.square(reference)))
        self.noise += float(np.sum(np.square(error)))
        if error.size:
            self.max_error = max(self.max_error, float(np.max(np.abs(error))))
            self.abs_max = max(self.abs_max, float(np.max(np.abs(reference))))
        low = qparams.scale * (QMIN - qparams.zero_point)
        high = qparams.scale * (QMAX - qparams.zero_point)
        # half a step of slack: values that round onto the end codes are not clipped
        slack = 0.5 * qparams.scale
        self.clipped += int(np.count_nonzero((reference < low - slack) | (reference > high + slack)))
        self.count += reference.size

    def sqnr_db(self) -> float:
        if self.noise == 0.0:
            return math.inf
        if self.signal == 0.0:
            return -math.inf
        return 10.0 * math.log10(self.signal / self.noise)


def layer_report(
    regular_model: RegularModel,
    quantized_model: QuantizedModel,
    data: Mapping[str, np.ndarray],
    batch_size: int | None = None,
) -> list[LayerError]:
    """The error of every model input and every layer output named as in the float graph, in graph order.

    ``data`` (float32 arrays keyed by the float graph's input names, as for ``calibrate``) is streamed in
    batches of ``batch_size`` (the float graph's fixed batch if it has one, else 16). Layers whose output has
    no tensor of that name in the float graph (synthetic tensors of the integer model) are skipped, and so are
    tensors the float graph holds in an arrangement that cannot be matched to the integer layer's.
    """
    float_graph = regular_model.graph
    arrays = validate(data, float_graph.inputs, "evaluation data")
    fixed = run_batch(float_graph)
    batch = fixed or batch_size or DEFAULT_BATCH
    kinds = {name: "input" for name in quantized_model.inputs}
    sources: dict[str, list[str]] = {name: [] for name in quantized_model.inputs}
    for layer in quantized_model.layers:
        if op_name(layer.name) in float_graph.nodes and layer.name not in kinds:
            kinds[layer.name] = layer.KIND
            sources[layer.name] = list(layer.inputs)
    names = list(kinds)
    layers = [name for name in names if kinds[name] != "input"]
    qparams = {name: quantized_model.qparams(name) for name in names}
    totals = {name: _Accumulator() for name in names}
    unmatched: set[str] = set()  # float tensors whose arrangement differs from the golden one's
    golden = quantized_model.as_graph(batch_size=fixed).as_graph_def()
    with tf.Graph().as_default() as tf_graph:
        tf.graph_util.import_graph_def(golden, name="")
    fetches = [_golden_tensor(tf_graph, name) for name in names]
    with FloatRunner(float_graph, fixed) as runner, tf.compat.v1.Session(graph=tf_graph) as session:
        for chunk in batches(arrays, batch):
            reference = {**runner(chunk, layers), **chunk}  # an input's reference is the data itself
            codes = quantized_model.rescale(chunk)
            outputs = session.run(fetches, codes)
            for name, value in zip(names, outputs, strict=True):
                aligned = _align(np.asarray(reference[name]), value.shape)
                if aligned is None:
                    unmatched.add(name)
                elif name not in unmatched:
                    totals[name].add(aligned, qparams[name].dequantize(value), qparams[name])
    rows: list[LayerError] = []
    measured: dict[str, float] = {}
    for index, name in enumerate(n for n in names if n not in unmatched):
        total, q = totals[name], qparams[name]
        sqnr = total.sqnr_db()
        measured[name] = sqnr
        known = [measured[s] for s in sources[name] if s in measured]
        drop = None if kinds[name] == "input" or not known else _difference(min(known), sqnr)
        clipped = total.clipped / max(total.count, 1)
        rows.append(LayerError(index, name, kinds[name], sqnr, drop, total.max_error, total.abs_max, q.scale,
                               q.zero_point, clipped))  # fmt: skip
    return rows


def _golden_tensor(graph: tf.Graph, name: str) -> str:
    """The golden graph's tensor for float tensor ``name``: the same name (a second or later output of an op,
    ``split:1``, is that output of the golden graph's identity named after the op)."""
    try:
        graph.get_tensor_by_name(name)
    except (KeyError, ValueError) as error:
        raise QuantizationError(f"the golden graph has no tensor for the layer output {name!r}") from error
    return name


def _align(reference: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The float tensor in the golden tensor's arrangement, or None if it cannot be matched.

    The converter may keep a tensor transposed where its consumer reads it so (a flattened ``[C, N]`` feeding a
    ``MatMul`` with ``transpose_a``) while the integer layer produces ``[N, C]``.
    """
    if reference.shape == shape:
        return reference
    if [d for d in reference.shape if d != 1] == [d for d in shape if d != 1]:
        return reference.reshape(shape)
    if reference.ndim == 2 and reference.T.shape == shape:
        return reference.T
    return None


def _difference(before: float, after: float) -> float:
    if math.isinf(before) and math.isinf(after) and before == after:
        return 0.0
    return before - after


def worst(rows: Sequence[LayerError], count: int) -> list[LayerError]:
    """The ``count`` rows of lowest SQNR, in graph order."""
    chosen = sorted(rows, key=lambda r: r.sqnr_db)[:count]
    return sorted(chosen, key=lambda r: r.index)


def format_report(rows: Sequence[LayerError], mark: int = 5, limit: int | None = None) -> str:
    """A terminal table in graph order. ``*`` marks the ``mark`` lowest SQNRs, ``^`` the ``mark`` largest drops
    (of at least ``MARKED_DROP_DB``).

    With ``limit``, only the ``limit`` rows of lowest SQNR are listed (still in graph order).
    """
    lowest = {r.name for r in worst(rows, mark)}
    drops = sorted((r for r in rows if r.drop_db is not None and math.isfinite(r.drop_db)),
                   key=lambda r: -(r.drop_db or 0.0))  # fmt: skip
    largest = {r.name for r in drops[:mark] if (r.drop_db or 0.0) >= MARKED_DROP_DB}
    shown = worst(rows, limit) if limit is not None else sorted(rows, key=lambda r: r.index)
    width = max([len("layer"), *(len(r.name) for r in shown)])
    header = (f"{'#':>4} {'layer':<{width}} {'kind':<8} {'SQNR dB':>8} {'drop dB':>8} {'max|err|':>10} "
              f"{'max|x|':>10} {'scale':>10} {'clipped':>8}")  # fmt: skip
    lines = [header, "-" * len(header)]
    for r in shown:
        marks = ("*" if r.name in lowest else " ") + ("^" if r.name in largest else " ")
        drop = "-" if r.drop_db is None else f"{r.drop_db:8.2f}"
        lines.append(
            f"{r.index:>4} {r.name:<{width}} {r.kind:<8} {r.sqnr_db:>8.2f} {drop:>8} {r.max_abs_error:>10.4g} "
            f"{r.float_abs_max:>10.4g} {r.scale:>10.4g} {100 * r.clipped:>7.3f}% {marks}"
        )
    total = len(rows)
    lines.append(
        f"{len(shown)} of {total} tensors; * the {min(mark, total)} lowest SQNR, ^ the largest drops "
        "(dB lost relative to the worst input)"
    )
    return "\n".join(lines)


def to_json(rows: Sequence[LayerError]) -> list[dict[str, Any]]:
    return [r.to_json() for r in rows]
