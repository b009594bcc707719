"""Clean photographs for synthetic training: listing, prepared-pixel cache, split, loading.

The photographs come from scripts/fetch_training_photos.py (Debian-packaged photos, credits in
data/PHOTO_CREDITS.md; never committed), by default in ~/.cache/darkdev/photos. A missing or
empty folder is an error: training never silently falls back to other pictures. The split into
training and validation is by whole photo, by a stable hash of the file name.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkdev.errors import ParameterError
from darkdev.files import write_atomic

DEFAULT_PHOTOS = Path("~/.cache/darkdev/photos")  # where scripts/fetch_training_photos.py writes
VALIDATION_PERCENT = 15  # share of whole photos held out, by a stable hash of the file name
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
MAX_PHOTO_SIDE_PX = 2048  # photos are box-downscaled to this long side once (less JPEG noise)
# A photo pack (for a GPU machine, which takes 64 MiB) stores NAME as NAME + PACK_SUFFIX; the
# split still hashes NAME, so packed and original photos fall on the same side.
PACK_SUFFIX = ".pack.jpg"
PACK_SIDE_PX = MAX_PHOTO_SIDE_PX
PACK_QUALITY = 92
# Synthetic images (scripts/make_dead_leaves.py) share a training folder with the photographs
# but never validate there: the photo splits measure photographs, and detail has its own split.
# A folder of synthetic images alone (runs/val-dl's) validates on its own held-out ones.
DEAD_LEAVES_PREFIX = "dead-leaves-"


@dataclass
class Photo:
    name: str
    pixels: np.ndarray = field(repr=False)  # (H, W, 3) uint8 sRGB


def is_validation_photo(name: str) -> bool:
    """Stable split by whole photo: ~15% of names (by SHA-256 of the file name) are validation."""
    name = Path(name).name
    name = name[: -len(PACK_SUFFIX)] if name.endswith(PACK_SUFFIX) else name
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < VALIDATION_PERCENT


def _box_downscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Mean of factor x factor blocks of a uint8 (H, W, 3) image, rounded (integer arithmetic)."""
    height, width = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    blocks = pixels[:height, :width].reshape(height // factor, factor, width // factor, factor, 3)
    sums = blocks.sum(axis=(1, 3), dtype=np.uint32)
    return ((sums + factor * factor // 2) // (factor * factor)).astype(np.uint8)


def _prepare(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    pixels = pixels[..., :3]
    if pixels.dtype != np.uint8:
        pixels = np.clip(
            pixels.astype(np.float64) / (65535.0 if pixels.max() > 255 else 255.0), 0, 1
        )
        pixels = (pixels * 255).round().astype(np.uint8)
    factor = math.ceil(max(pixels.shape[:2]) / MAX_PHOTO_SIDE_PX)
    return _box_downscale(pixels, factor) if factor > 1 else np.ascontiguousarray(pixels)


def photo_folder(folder: str | Path | None) -> Path:
    """The photo folder (default ~/.cache/darkdev/photos), which must exist."""
    path = Path(folder if folder is not None else DEFAULT_PHOTOS).expanduser()
    if not path.is_dir():
        raise ParameterError(
            f"photo folder {path} does not exist; fetch the photos with "
            "`python scripts/fetch_training_photos.py --out ~/.cache/darkdev/photos` "
            "or pass --photos DIR"
        )
    return path


def list_photo_names(folder: str | Path | None) -> list[str]:
    """File names of a photo folder: manifest.tsv's 'filename' column, else every image file."""
    folder = photo_folder(folder)
    manifest = folder / "manifest.tsv"
    if manifest.exists():
        lines = [line.split("\t") for line in manifest.read_text().splitlines() if line.strip()]
        header = [column.strip() for column in lines[0]] if lines else []
        if "filename" in header:
            column = header.index("filename")
            names = [line[column].strip() for line in lines[1:] if len(line) > column]
            return [name for name in names if (folder / name).is_file()]
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PHOTO_EXTENSIONS)
    if not names:
        raise ParameterError(
            f"photo folder {folder} holds no photos ({', '.join(PHOTO_EXTENSIONS)})"
        )
    return names


def _read_photo(path: Path, cache_dir: Path | None) -> np.ndarray:
    """Decode and prepare a photo; with cache_dir, keep the prepared pixels as .npy (fast reload)."""
    import imageio.v3 as imageio  # core dependency; lazy so importing this module stays cheap

    if cache_dir is None:
        return _prepare(np.asarray(imageio.imread(path)))
    status = path.stat()
    key = f"{path.stem}-{status.st_size}-{status.st_mtime_ns}-{MAX_PHOTO_SIDE_PX}.npy"
    cached = cache_dir / key
    if cached.exists():
        try:
            return np.load(cached)
        except (OSError, ValueError):
            pass  # a damaged cache entry: decode again
    pixels = _prepare(np.asarray(imageio.imread(path)))
    cache_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, pixels)
    write_atomic(cached, buffer.getvalue())  # concurrent readers never see half a file
    return pixels


def load_photos(
    folder: str | Path | None,
    min_side_px: int = 256,
    names: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
) -> list[Photo]:
    """Photos of a folder (see list_photo_names), or exactly `names` from it.

    names: a run's recorded photo list, so a resumed run sees the same set. cache_dir: where
    prepared pixels are kept between runs. Unreadable or too small photos are skipped; none at
    all is an error.
    """
    path = photo_folder(folder)
    cache = Path(cache_dir).expanduser() if cache_dir else None  # "~/..." as users write it
    photos: list[Photo] = []
    for name in list(names) if names is not None else list_photo_names(path):
        try:
            pixels = _read_photo(path / name, cache)
        except (OSError, ValueError):
            continue  # unreadable photo: skip it rather than stop training
        if min(pixels.shape[:2]) >= min_side_px:
            photos.append(Photo(name, pixels))
    if not photos:
        raise ParameterError(f"no usable photo (>= {min_side_px} px on the short side) in {path}")
    return photos


def is_synthetic(name: str) -> bool:
    return Path(name).name.startswith(DEAD_LEAVES_PREFIX)


def split_names(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """split_photos() on file names alone, so each side loads only its own photos. Beside
    photographs, a synthetic image on the validation side of the hash is left out of both
    (training stays as it was, and photographs alone validate); a folder of synthetic images
    only (a dead-leaves validation folder) validates on its own held-out ones."""
    any_photograph = any(not is_synthetic(n) for n in names)
    validation = [
        n for n in names if is_validation_photo(n) and not (any_photograph and is_synthetic(n))
    ]
    training = [n for n in names if not is_validation_photo(n)]
    photographs = [n for n in training if not is_synthetic(n)]
    if not validation and len(photographs) > 1:
        validation = [photographs[-1]]
        training.remove(photographs[-1])
    if not training and len(validation) > 1:
        training = [validation.pop()]
    return training, validation


def split_photos(photos: list[Photo]) -> tuple[list[Photo], list[Photo]]:
    """(training, validation) by whole photo; guarantees at least one of each when possible."""
    by_name = {photo.name: photo for photo in photos}
    training, validation = split_names(list(by_name))
    return [by_name[n] for n in training], [by_name[n] for n in validation]


def write_photo_pack(
    source: str | Path | None,
    destination: str | Path,
    max_side_px: int = PACK_SIDE_PX,
    quality: int = PACK_QUALITY,
) -> tuple[int, int]:
    """Resized JPEG copies (4:4:4) of every photo of `source` plus a manifest.tsv, so the set
    travels to a machine that takes only a few tens of MiB; copies of photos no longer in the
    set are removed, since they would travel too. Returns (photos, bytes of the folder)."""
    from PIL import Image  # Pillow: the encoder; imported here, only packing needs it

    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    rows, written = ["filename\tsource\twidth\theight"], set()
    for photo in load_photos(source):
        image = Image.fromarray(photo.pixels)
        factor = max(image.size) / max_side_px
        if factor > 1:
            size = (round(image.size[0] / factor), round(image.size[1] / factor))
            image = image.resize(size, Image.Resampling.LANCZOS)
        name = Path(photo.name).name + PACK_SUFFIX
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, subsampling=0)
        write_atomic(destination / name, buffer.getvalue())
        written.add(name)
        rows.append(f"{name}\t{photo.name}\t{image.size[0]}\t{image.size[1]}")
    for stale in destination.glob("*" + PACK_SUFFIX):
        if stale.name not in written:
            stale.unlink()
    write_atomic(destination / "manifest.tsv", ("\n".join(rows) + "\n").encode())
    return len(written), sum(p.stat().st_size for p in destination.iterdir() if p.is_file())
