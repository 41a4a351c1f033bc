"""Where fetched and exported assets live, and how they get there without ever leaving a half-written file."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytpu.errors import AssetError

CACHE_ENV = "TPU_FRAMEWORK_CACHE"
_CHUNK = 1 << 20


def cache_root() -> Path:
    """``$TPU_FRAMEWORK_CACHE`` if set, else ``~/.cache/tpu_framework``."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "tpu_framework"


def cache_path(*parts: str) -> Path:
    """A path inside the cache root (its parent directory is created)."""
    path = cache_root().joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`AssetError` unless ``path`` exists and hashes to ``expected``."""
    if not path.is_file():
        raise AssetError(f"{path}: missing")
    actual = sha256_file(path)
    if actual != expected:
        raise AssetError(f"{path}: sha256 {actual} does not match the pinned {expected}")


def is_verified(path: Path, expected: str) -> bool:
    return path.is_file() and sha256_file(path) == expected


def settings_key(settings: dict[str, object]) -> str:
    """A short stable hash of export settings, so a cached file is rebuilt whenever one of them changes."""
    return sha256_bytes(json.dumps(settings, sort_keys=True).encode())[:16]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``; on success it replaces ``path`` in one step, on failure it is removed.

    Readers never see a partial file, even when several processes fill the same cache entry at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes it private; cached assets are ordinary readable files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
