"""Real photographs bundled inside installed wheels, ImageNet preprocessing, and ImageNet class names.

The photos are read straight from the files scikit-image and scikit-learn ship in their wheels (nothing is
downloaded; scikit-image's own loaders would fetch the images it does not bundle), and from Debian's ``darknet``
package where it is installed (``DEBIAN_PHOTOS``, sha256-checked).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from pytpu.errors import AssetError
from tpu_framework.assets.cache import verify_sha256

# name -> (package that bundles it, path inside that package)
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "motorcycle_left": ("skimage", "data/motorcycle_left.png"),
    "motorcycle_right": ("skimage", "data/motorcycle_right.png"),
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg"),
    "retina": ("skimage", "data/retina.jpg"),
    "immunohistochemistry": ("skimage", "data/ihc.png"),
    "camera": ("skimage", "data/camera.png"),
    "moon": ("skimage", "data/moon.png"),
    "coins": ("skimage", "data/coins.png"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
}
# name -> (Debian package, installed path, sha256): photos from Debian packages, read where dpkg installs them
# (``apt-get install darknet``) and checked against these hashes (package version 0.0.0+git20180914.61c9d02e-2).
DEBIAN_PHOTOS: dict[str, tuple[str, str, str]] = {
    "dog": ("darknet", "/usr/share/darknet/data/dog.jpg",
            "5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866"),
    "eagle": ("darknet", "/usr/share/darknet/data/eagle.jpg",
              "f95f57297fd51a6c5ddceb5ed6916fa759d1d65f402fee34c05b31a9608755c0"),
    "giraffe": ("darknet", "/usr/share/darknet/data/giraffe.jpg",
                "00dc48a9b2af8a1fe4c4b79319726591f1033c7e1150f21e7577a79f3b6659f1"),
    "horses": ("darknet", "/usr/share/darknet/data/horses.jpg",
               "c8f0a677a1356569e2ce71d2fa88c1030c0ae57ecf5e14170e02d9a86a20dcb4"),
    "kite": ("darknet", "/usr/share/darknet/data/kite.jpg",
             "87410f52f79cc256c3949b48a3548632c07c8e9943468ef8caa6250f6643be8e"),
    "person": ("darknet", "/usr/share/darknet/data/person.jpg",
               "cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1"),
    "scream": ("darknet", "/usr/share/darknet/data/scream.jpg",
               "dcab7bae866fbb396e01ab27a9c8d2d40b3e80911dafb05a5fa18d1bac6b8d17"),
}  # fmt: skip
# Everyday scenes an ImageNet classifier has seen the like of: a sensible calibration set.
IMAGENET_LIKE = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "china", "flower")

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
SHARED_ENV = "TPU_FRAMEWORK_SHARED"


def photo_path(name: str) -> Path:
    if name in DEBIAN_PHOTOS:
        return _debian_photo_path(name)
    if name not in PHOTOS:
        raise AssetError(f"unknown photo {name!r}; known: {sorted([*PHOTOS, *DEBIAN_PHOTOS])}")
    package, relative = PHOTOS[name]
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"photo {name!r} ships with {package}, which is not installed (pip install '.[models]')")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise AssetError(f"photo {name!r}: {path} is missing from the installed {package}")
    return path


def _debian_photo_path(name: str) -> Path:
    package, installed, sha256 = DEBIAN_PHOTOS[name]
    path = Path(installed)
    if not path.is_file():
        raise AssetError(f"photo {name!r} ships with the Debian package {package}: apt-get install {package}")
    verify_sha256(path, sha256)
    return path


def available_photos(names: Sequence[str]) -> list[str]:
    """Those of ``names`` whose package is installed here (unknown names raise :class:`AssetError`)."""
    found = []
    for name in names:
        try:
            photo_path(name)
        except AssetError:
            if name not in PHOTOS and name not in DEBIAN_PHOTOS:
                raise
            continue
        found.append(name)
    return found


def photo(name: str) -> Image.Image:
    """The photo as an RGB PIL image (grey ones are replicated to three channels)."""
    with Image.open(photo_path(name)) as image:
        return image.convert("RGB")


def photo_array(name: str) -> np.ndarray:
    """The photo as a uint8 ``[H, W, 3]`` array."""
    return np.asarray(photo(name), dtype=np.uint8)


def imagenet_preprocess(image: Image.Image | np.ndarray, size: int = 224, resize: int = 256) -> np.ndarray:
    """torchvision's ImageNet evaluation transform: shorter side to ``resize``, centre crop ``size``, mean/std.

    Returns float32 ``[1, 3, size, size]`` (NCHW).
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image = image.convert("RGB")
    width, height = image.size
    scale = resize / min(width, height)
    new_size = (resize, int(height * scale)) if width <= height else (int(width * scale), resize)
    image = image.resize(new_size, Image.Resampling.BILINEAR)
    left = round((new_size[0] - size) / 2.0)
    top = round((new_size[1] - size) / 2.0)
    pixels = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    return ((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[np.newaxis]


def imagenet_views(image: Image.Image, size: int = 224, resize: int = 256) -> np.ndarray:
    """Five views of one photo for quantization data: the evaluation crop (centre) and the four corner crops
    of the same resized image, ``[5, 3, size, size]``."""
    image = image.convert("RGB")
    width, height = image.size
    scale = resize / min(width, height)
    resized = image.resize(
        (max(size, round(width * scale)), max(size, round(height * scale))), Image.Resampling.BILINEAR
    )
    right, bottom = resized.size[0] - size, resized.size[1] - size
    corners = [(0, 0), (right, 0), (0, bottom), (right, bottom)]
    views = [imagenet_preprocess(image, size, resize)[0]]
    for left, top in corners:
        pixels = np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
        views.append(((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))
    return np.stack(views).astype(np.float32)


def imagenet_batch(names: Sequence[str] = IMAGENET_LIKE, size: int = 224, resize: int = 256) -> np.ndarray:
    """Several photos preprocessed and stacked: float32 ``[N, 3, size, size]``."""
    return np.concatenate([imagenet_preprocess(photo(name), size, resize) for name in names])


def shared_data_path(filename: str) -> Path:
    """A file of the project's shared data: ``$TPU_FRAMEWORK_SHARED/data/``, else ``<repo>/../shared/data/``."""
    candidates = [Path(__file__).resolve().parents[2].parent / "shared"]
    if os.environ.get(SHARED_ENV):
        candidates.insert(0, Path(os.environ[SHARED_ENV]).expanduser())
    for shared in candidates:
        if (shared / "data" / filename).is_file():
            return shared / "data" / filename
    looked = ", ".join(str(c / "data" / filename) for c in candidates)
    raise AssetError(f"{filename} not found (looked in {looked}); set {SHARED_ENV} to the shared directory")


@cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names, indexed by the 0-based class id."""
    names = tuple(line.strip() for line in shared_data_path("imagenet_classes.txt").read_text().splitlines())
    names = tuple(n for n in names if n)
    if len(names) != 1000:
        raise AssetError(f"imagenet_classes.txt has {len(names)} names, expected 1000")
    return names
