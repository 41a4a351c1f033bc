"""Chrome trace export (JSON that chrome://tracing and Perfetto open)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytpu.isa.program import LayerSpan
from pytpu.sim.timeline import Timeline


def chrome_trace(timeline: Timeline, layers: Sequence[LayerSpan] = ()) -> dict[str, Any]:
    """One track per queue and DDR channel, one slice per instruction, layers as async spans."""
    hw = timeline.hw
    tracks = {name: tid for tid, name in enumerate(timeline.resources(), start=1)}
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": f"TPU {hw.name}"}},
        *(
            {"name": "thread_name", "ph": "M", "pid": 0, "tid": tid, "args": {"name": name}}
            for name, tid in tracks.items()
        ),
    ]
    for e in timeline.events:
        slice_ = {
            "name": e.mnemonic,
            "cat": e.unit.name,
            "ph": "X",
            "pid": 0,
            "ts": hw.cycles_to_us(e.start),
            "dur": hw.cycles_to_us(e.end - e.start),
            "args": {"instruction": f"{e.unit.name}:{e.index}", "done_us": hw.cycles_to_us(e.done)},
        }
        events.append({**slice_, "tid": tracks[e.queue]})
        if e.channel >= 0:
            events.append({**slice_, "tid": tracks[f"DDR{e.channel}"]})
    for n, (name, t) in enumerate(timeline.layer_times(layers).items()):
        common = {"name": name, "cat": "layer", "id": n, "pid": 0, "tid": 0}
        events.append({**common, "ph": "b", "ts": t.start_us})
        events.append({**common, "ph": "e", "ts": t.end_us})
    return {"traceEvents": events, "displayTimeUnit": "ns"}


def write_chrome_trace(path: str | Path, timeline: Timeline, layers: Sequence[LayerSpan] = ()) -> None:
    Path(path).write_text(json.dumps(chrome_trace(timeline, layers)))
