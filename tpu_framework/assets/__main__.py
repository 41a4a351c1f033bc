"""``python -m tpu_framework.assets fetch [--all | NAME ...]``: fill the cache and say what is in it."""

from __future__ import annotations

import argparse
import sys
import time

from pytpu.errors import AssetError
from tpu_framework.assets import MODEL_FILES
from tpu_framework.assets.cache import cache_root, sha256_file
from tpu_framework.assets.fashion_mnist import fashion_mnist_model_path

# The models, plus what the project trains itself (fetching it means training it, about a minute).
ASSETS = {**MODEL_FILES, "fashion_mnist_cnn": fashion_mnist_model_path}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tpu_framework.assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the names of the models")
    fetch = commands.add_parser("fetch", help="fetch or export models into the cache")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="models to fetch (see `list`)")
    fetch.add_argument("--all", action="store_true", help="every model")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(ASSETS))
        return 0
    names = list(ASSETS) if args.all else args.names
    unknown = [name for name in names if name not in ASSETS]
    if unknown or not names:
        parser.error(f"unknown models {unknown}; see `list`" if unknown else "name models to fetch, or pass --all")
    return _fetch(names)


def _fetch(names: list[str]) -> int:
    print(f"cache: {cache_root()}")
    failed = 0
    for name in names:
        start = time.perf_counter()
        try:
            path = ASSETS[name]()
        except AssetError as err:
            failed += 1
            print(f"{name:28s} FAILED: {err}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - start
        size = path.stat().st_size / 1e6
        print(f"{name:28s} {size:8.1f} MB  {seconds:6.1f} s  sha256 {sha256_file(path)}  {path}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
