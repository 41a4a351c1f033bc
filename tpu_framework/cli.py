"""``tpuc``: the toolchain from the command line."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from pytpu.errors import TpuFrameworkError

# TF's C++ start-up chatter would bury the command's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parse_named_ints(values: tuple[str, ...], option: str) -> dict[str, list[int]]:
    """``NAME=1,3,224,224`` (repeatable) -> {NAME: [1, 3, 224, 224]}."""
    parsed: dict[str, list[int]] = {}
    for item in values:
        name, sep, numbers = item.rpartition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=N,N,..., got {item!r}", param_hint=option)
        try:
            parsed[name] = [int(n) for n in numbers.split(",") if n.strip()]
        except ValueError:
            raise click.BadParameter(f"{item!r}: dimensions must be integers", param_hint=option) from None
    return parsed


@click.group()
@click.version_option(package_name="tpu_framework")
def main() -> None:
    """Turn a trained network into a TPU program, and inspect each stage."""


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the frozen GraphDef (default: MODEL with .pb).")
@click.option("--input-shape", multiple=True, metavar="NAME=N,N,...", help="Fix an input's dynamic dimensions.")
@click.option("--keep", multiple=True, metavar="NAME=P,P,...",
              help="Keep an input/output stored in this axis order (e.g. input=0,2,3,1 feeds NHWC).")
@click.option("--simplify/--no-simplify", default=False, help="Run onnxsim first (falls back if it fails).")
def convert(model: Path, output: Path | None, input_shape: tuple[str, ...], keep: tuple[str, ...],
            simplify: bool) -> None:
    """Convert an ONNX MODEL to a TensorFlow GraphDef and a JSON name mapping beside it."""
    from onnx_direct import onnx_to_tf

    started = time.perf_counter()
    try:
        graph, mapping = onnx_to_tf(str(model), input_shape=_parse_named_ints(input_shape, "--input-shape") or None,
                                    try_simplify=simplify,
                                    keep_arrangement=_parse_named_ints(keep, "--keep") or None)
    except TpuFrameworkError as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from None
    elapsed = time.perf_counter() - started
    output = output or model.with_suffix(".pb")
    graph_def = graph.as_graph_def()
    output.write_bytes(graph_def.SerializeToString())
    mapping_path = output.with_suffix(".mapping.json")
    mapping_path.write_text(json.dumps({"tensors": dict(mapping), "layouts": mapping.layouts}, indent=1))
    transposes = sum(node.op == "Transpose" for node in graph_def.node)
    click.echo(f"converted {model} in {elapsed:.2f} s: {len(graph_def.node)} TF ops, {transposes} Transpose")
    click.echo(f"wrote {output} and {mapping_path}")


@main.command("ops")
def list_ops() -> None:
    """List the ONNX operators the converter supports."""
    from onnx_direct import ops

    for name in sorted(ops.claimed_op_types()):
        click.echo(name)


if __name__ == "__main__":
    sys.exit(main())
