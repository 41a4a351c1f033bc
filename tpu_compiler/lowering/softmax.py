"""Softmax on the EWP's SOFTMAX instruction.

Over the last axis the stored pixels already are dense groups (``wpp`` words, the last one partly used),
so SOFTMAX runs on the loaded pixels directly.  Over other axes, each sample is first gathered into dense
groups (``[groups, group size]``), normalised, and gathered back.
"""

from __future__ import annotations

import numpy as np

from pytpu.errors import CompilationError
from pytpu.isa import Pattern, Softmax, Unit
from pytpu.isa.layouts import pack_table32
from tpu_compiler.compiler.context import Context
from tpu_compiler.lowering.gather import Side, emit_gather
from tpu_compiler.network import Layer


def lower_softmax(ctx: Context, layer: Layer) -> None:
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    shape = x.tensor.shape
    axes = sorted({int(a) % len(shape) for a in layer.get("axes", [-1])})
    others = [a for a in range(len(shape)) if a not in axes]
    group = int(np.prod([shape[a] for a in axes]))
    groups = int(np.prod([shape[a] for a in others])) if others else 1
    gwords = -(-group // ctx.cwl)
    last = group - (gwords - 1) * ctx.cwl
    arena = ctx.arena(layer.name)
    table = ctx.load_ahead(arena, pack_table32(layer.arrays["table"], ctx.cwl), "exponential table")
    mult, shift, zo = int(layer.get("mult")), int(layer.get("shift")), y.tensor.zero_point

    def softmax(dst: Pattern, src: Pattern) -> Softmax:
        return Softmax(dst=dst, src=src, words=gwords, last=last, table=table, mult=mult, shift=shift, zo=zo)

    if axes == [len(shape) - 1]:
        per = max(1, min(groups, arena.free // (2 * gwords)))
        if 2 * gwords > arena.free:
            raise CompilationError(f"layer {layer.name!r} cannot be placed: a group needs {2 * gwords} cache words")
        src, dst = arena.alloc(per * gwords, "input groups"), arena.alloc(per * gwords, "output groups")
        for sample in ctx.samples:
            for g0 in range(0, groups, per):
                n = min(per, groups - g0) * gwords
                ctx.load(x, x.at(sample, g0 * gwords), Pattern.contiguous(src, n))
                ctx.emit(Unit.EWP, softmax(Pattern.contiguous(dst, n), Pattern.contiguous(src, n)))
                ctx.store(y, y.at(sample, g0 * gwords), Pattern.contiguous(dst, n))
        return
    index = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    forward = np.transpose(index, others + axes).reshape(groups, group)
    backward = np.empty(forward.size, dtype=np.int64)
    backward[forward.reshape(-1)] = np.arange(forward.size)
    need = 2 * x.sample_words + 2 * groups * gwords
    if need > arena.free:
        raise CompilationError(
            f"layer {layer.name!r} cannot be placed: a sample needs {need} cache words, {arena.free} free"
        )
    src = arena.alloc(x.sample_words, "input")
    dense = arena.alloc(groups * gwords, "dense groups")
    out = arena.alloc(x.sample_words, "output")
    for sample in ctx.samples:
        ctx.load(x, x.at(sample), Pattern.contiguous(src, x.sample_words))
        emit_gather(ctx, forward, [Side(src, x.tensor.channels, x.wpp)], Side(dense, group, gwords), 0)
        words = Pattern.contiguous(dense, groups * gwords)
        ctx.emit(Unit.EWP, softmax(words, words))
        emit_gather(ctx, backward, [Side(dense, group, gwords)], Side(out, y.tensor.channels, y.wpp), 0)
        ctx.store(y, y.at(sample), Pattern.contiguous(out, y.sample_words))
