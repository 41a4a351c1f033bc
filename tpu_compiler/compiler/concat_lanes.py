"""Convolution outputs made at the lanes their concatenation puts them at.

A concatenation along channels builds each output pixel's words from its sources' lanes.  A source whose
lanes land at another byte of the word (a DenseNet layer's 32 new channels after the map's, an Inception
branch after another's) is moved there, and when its scale differs from the output's, rescaled in place
after the move: two EWP passes over a word per pixel.  A convolution whose output of one word is read only by
the concatenation can drain (or spread its pixel groups) straight to that lane instead
(``Buffer.lane``, the DRAIN's byte offset): the concatenation then rescales it with one pass from the source.
This is the shared cache schedule's ``fallthrough_patch``: the array layer's output falls through to the
lanes it will have in its reader's tensor.
"""

from __future__ import annotations

from collections import Counter

from tpu_compiler.compiler.views import Views
from tpu_compiler.lowering.stem import reads_planar_input
from tpu_compiler.network import Layer, Network, concat_lanes, concatenates_channels


def plan_concat_lanes(net: Network, views: Views, cwl: int, io: set[str]) -> dict[str, int]:
    """Tensor -> the lane (byte of its words) its producing convolution writes it at; ``io``: tensors whose DDR
    words the host reads or writes (left at lane 0)."""
    readers: Counter[str] = Counter()
    for layer in net.layers:
        readers.update({views.root(name) for name in layer.inputs})
    lanes: dict[str, int] = {}
    for layer in net.layers:
        if not concatenates_channels(layer, net.tensors[layer.name].shape):
            continue
        offset = 0
        for i, (name, taken) in enumerate(zip(layer.inputs, concat_lanes(layer), strict=True)):
            channels = net.tensors[name].channels if taken is None else taken[1]
            lane = offset % cwl
            offset += channels
            producer = net.producer(name)
            if (
                taken is None
                and lane > 0
                and lane + channels <= cwl
                and int(layer.get("mults")[i]) != 0
                and producer is not None
                and _drains_lanes(producer)
                and name not in io
                and views.root(name) == name
                and readers[name] == 1
                and layer.inputs.count(name) == 1
            ):
                lanes[name] = lane
    return lanes


def _drains_lanes(layer: Layer) -> bool:
    """Whether the layer's lowering writes its output at a lane offset: a convolution (or dense layer) of one
    group, not a stem on a planar input (whose words hold pixel groups)."""
    return layer.kind == "conv" and int(layer.get("groups", 1)) == 1 and not reads_planar_input(layer)
