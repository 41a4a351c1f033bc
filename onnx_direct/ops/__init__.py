"""Operator converters: one small module per op family, found by scanning this package.

Each ``op_*.py`` module registers functions with :func:`converter`.  A converter takes a
:class:`onnx_direct.context.Node` and returns the node's output value(s).  Adding an op means
adding a file; nothing here is edited.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import onnx

if TYPE_CHECKING:
    from onnx_direct.context import Node

Converter = Callable[["Node"], Any]

_REGISTRY: dict[tuple[str, str], list[tuple[int, Converter]]] = {}
_LOADED = False


def converter(op_types: str | Iterable[str], since: int = 1, domain: str = "") -> Callable[[Converter], Converter]:
    """Register ``fn`` for ``op_types`` from schema version ``since`` on (until a newer registration)."""
    names = [op_types] if isinstance(op_types, str) else list(op_types)

    def register(fn: Converter) -> Converter:
        for name in names:
            versions = _REGISTRY.setdefault((domain, name), [])
            versions.append((since, fn))
            versions.sort(key=lambda item: item[0])
        return fn

    return register


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("op_"):
            importlib.import_module(f"{__name__}.{module.name}")
    _LOADED = True


def schema_version(op_type: str, domain: str, opset: int) -> int | None:
    """The ``since_version`` of the schema of ``op_type`` in force at ``opset``, or None if undefined."""
    try:
        return int(onnx.defs.get_schema(op_type, opset, domain).since_version)
    except onnx.defs.SchemaError:
        return None


def find(op_type: str, domain: str, opset: int) -> Converter | None:
    """The newest converter registered for a version not above the schema version in force."""
    _load_all()
    versions = _REGISTRY.get(("" if domain == "ai.onnx" else domain, op_type))
    if not versions:
        return None
    version = schema_version(op_type, domain, opset)
    if version is None:
        return None
    chosen = None
    for since, fn in versions:
        if since <= version:
            chosen = fn
    return chosen


def claimed_op_types() -> set[str]:
    """Op types of the default domain that have at least one converter."""
    _load_all()
    return {name for domain, name in _REGISTRY if domain == ""}
