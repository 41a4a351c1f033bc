"""Maps left in pixel groups: a stem's or a convolution's output stored as the words it drains, ``q`` pixels
to a word.

A stem (``lowering/stem.py``) drains ``q`` neighbouring output pixels into one word and spreads them to their
own words with ``q - 1`` MOVEs.  When its only reader (after an optional lookup, the activation) is a
convolution that reads its input ``p = q`` pixels per word anyway (``lowering/conv_groups.py``), the spread
is undone there by a PACK reading ``p`` words per packed word.  Left in the drained groups instead
(``Buffer.group``), the map takes ``1/q`` of the words in the cache and in DDR (YOLOv8n's 160x160x16 first
map: 3,200 words instead of 25,600, so it stays in the cache), the stem skips its spreading MOVEs, the
lookup looks up ``q`` pixels per word, and the convolution builds its packed rows with two lane-shifting
MOVEs per row of words.  A convolution lowered in pixel groups (``q`` outputs per accumulator row) whose only
reader is another such convolution does the same: it drains its groups into the map and skips its spreading
MOVEs (YOLOv8n's C2f bottlenecks, between their two 3x3 convolutions).  A 1x1 convolution (stride 1, no
padding) reads such a map as it is: in pixel groups with ``p = q`` (its output left in the same groups when
its reader reads them), or, with a wider output, a pixel slot at a time (``lowering/conv_ungroup.py``), so
a map that only a 1x1 convolution reads is left in groups too (MobileNetV2's depthwise outputs and
projections, ResNet-50's stage-1 3x3 outputs).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from pytpu.isa import limits_of
from pytpu.params import ModelParameters
from tpu_compiler.compiler.slicing import SlicingScheme
from tpu_compiler.compiler.views import Views
from tpu_compiler.lowering.conv_groups import candidates
from tpu_compiler.lowering.stem import plan_stem, reads_planar_input, stem_geometry
from tpu_compiler.lowering.window import Geometry, plain_1x1, window_fields
from tpu_compiler.network import Layer, Network


def plan_grouped_maps(
    net: Network, views: Views, hw: ModelParameters, scheme: SlicingScheme | None, io: set[str]
) -> dict[str, int]:
    """Tensor -> ``q`` for every map stored in pixel groups: the output of a stem or of a convolution lowered in
    pixel groups and, if a lookup is its only reader, the lookup's output, when the one reader of the last is
    a convolution that can group ``q`` input pixels per word.  ``io``: tensors whose DDR words the host reads
    or writes (never grouped)."""
    readers: dict[str, list[Layer]] = {}
    for layer in net.layers:
        if layer.name not in views.skipped:
            for name in dict.fromkeys(views.root(n) for n in layer.inputs):
                readers.setdefault(name, []).append(layer)
    out: dict[str, int] = {}
    for layer in net.layers:
        stem = reads_planar_input(layer)
        if layer.name in views.skipped or not (stem or _plain_conv(layer)):
            continue
        p = out.get(views.root(layer.inputs[0]), 1)
        if plain_1x1(layer) and p == 1:  # a 1x1 convolution makes groups only from groups
            continue
        chain = [layer.name]
        reader = _only_reader(chain[-1], readers)
        if reader is not None and reader.kind == "lut":
            chain.append(reader.name)
            reader = _only_reader(chain[-1], readers)
        if reader is None or io.intersection(chain) or (scheme is not None and {layer.name, reader.name} & set(scheme)):
            continue
        pixels = _groupable(reader, net, hw)
        q = _stem_pixels(layer, net, hw, pixels) if stem else _conv_pixels(layer, net, hw, pixels, p)
        if q > 1:
            out.update(dict.fromkeys(chain, q))
    return out


def _conv_pixels(layer: Layer, net: Network, hw: ModelParameters, pixels: Collection[int], p: int) -> int:
    """Of ``pixels``, the outputs per accumulator row of the pixel-group plan of the convolution ``layer`` (its
    input ``p`` pixels per word if grouped) with the fewest array rows (1: none)."""
    x, y = net.tensors[layer.inputs[0]], net.tensors[layer.name]
    every = candidates(_geometry(layer, net), x.channels, y.channels, limits_of(hw), p if p > 1 else None)
    plans = [plan for plan in every if plan.q in pixels and (plan.q == p or not plain_1x1(layer))]
    return min(plans, key=lambda plan: (plan.words / plan.q, -plan.q)).q if plans else 1


def _stem_pixels(layer: Layer, net: Network, hw: ModelParameters, pixels: Collection[int]) -> int:
    """Of ``pixels``, the pixels per accumulator row of the cheapest plan of the stem ``layer`` with its output
    left in groups (1: none)."""
    shape = net.tensors[layer.name].shape
    geo = stem_geometry(layer, net.tensors[layer.inputs[0]].shape, shape)
    if geo is None or not pixels:
        return 1
    plan = plan_stem(geo, hw, pixels, grouped=True)
    return plan.q if plan is not None else 1


def _only_reader(name: str, readers: Mapping[str, list[Layer]]) -> Layer | None:
    """The one layer reading tensor ``name``, and reading it as it is (no view of it in between)."""
    found = readers.get(name, [])
    return found[0] if len(found) == 1 and list(found[0].inputs) == [name] else None


def _groupable(layer: Layer, net: Network, hw: ModelParameters) -> set[int]:
    """The input pixels per word ``p`` at which ``layer``, if a convolution lowered in pixel groups, can read
    its input (none for other layers)."""
    if not _plain_conv(layer):
        return set()
    x, y = net.tensors[layer.inputs[0]], net.tensors[layer.name]
    lim = limits_of(hw)
    if plain_1x1(layer):  # in pixel groups (p = q) or, if its output is wider, a slot at a time (conv_ungroup)
        return set(range(2, min(min(lim.array_rows, lim.cwl) // x.channels, x.shape[2]) + 1))
    return {plan.p for plan in candidates(_geometry(layer, net), x.channels, y.channels, lim) if plan.p > 1}


def _plain_conv(layer: Layer) -> bool:
    """Whether ``layer`` is a convolution that may be lowered in pixel groups (depthwise and grouped ones too:
    their tiles are block-diagonal): not dense, not a stem, and not 1x1 unless of stride 1 and unpadded (other
    1x1 convolutions read pixels subsampled; a plain one reads a map left in groups as it is, ``p = q``)."""
    if layer.kind != "conv" or layer.get("dense") or reads_planar_input(layer):
        return False
    return tuple(np.shape(layer.arrays["weights"])[:2]) != (1, 1) or plain_1x1(layer)


def _geometry(layer: Layer, net: Network) -> Geometry:
    x, y = net.tensors[layer.inputs[0]], net.tensors[layer.name]
    right = int(layer.get("pads", [0, 0, 0, 0])[3])
    return Geometry(**window_fields(layer, x.shape, y.shape), samples=range(1), right=right)
