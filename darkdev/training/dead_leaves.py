"""Dead-leaves images: synthetic clean photographs with sharp edges at every scale.

The fetched photographs are soft at pixel level (LibRaw's LINEAR and AHD developments of their
clean raws differ by only 37-42 dB, against 23 dB on detailed camera photos), so a network
trained only on them learns that the world is soft. A dead-leaves image (Matheron; Lee, Mumford
and Huang 2001) is a stack of occluding disks whose radii follow p(r) ~ r^-3, the
scale-invariant statistics of natural images, with edges as sharp as the pixel grid allows;
Achddou, Gousseau and Ladjal (2021) train restoration networks on them. Colours are drawn from
real photographs' pixels so that colour statistics stay natural. Disks are drawn front to back
(each paints only what nothing in front of it covers) on a supersampled canvas, then averaged
down in linear light: the antialiasing a lens and sensor give.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from darkdev.errors import ParameterError
from darkdev.files import write_atomic
from darkdev.training import photos as photo_files
from darkdev.training.unprocessing import libraw_gamma, linear_from_uint8

UNCOVERED_FRACTION = 1e-4  # stop when this share of the canvas is still bare (then backfill)
PALETTE_SIZE = 100_000  # colours drawn from the training photos for a folder's leaves


def leaf_radii(
    rng: np.random.Generator, count: int, radius_min_px: float, radius_max_px: float
) -> np.ndarray:
    """count radii with density ~ r^-3 on [radius_min_px, radius_max_px] (inverse CDF)."""
    if not 0 < radius_min_px < radius_max_px:
        raise ParameterError(
            f"dead leaves need 0 < radius_min_px < radius_max_px, got {radius_min_px}, "
            f"{radius_max_px}"
        )
    low, high = radius_min_px**-2.0, radius_max_px**-2.0
    return (low - rng.random(count) * (low - high)) ** -0.5


def _paint_leaves(
    rng: np.random.Generator,
    side_px: int,
    palette: np.ndarray,
    radius_min_px: float,
    radius_max_px: float,
) -> np.ndarray:
    """(side, side, 3) uint8: disks front to back until (almost) nothing is bare."""
    canvas = np.zeros((side_px, side_px, 3), dtype=np.uint8)
    bare = np.ones((side_px, side_px), dtype=bool)
    bare_count = side_px * side_px
    while bare_count > UNCOVERED_FRACTION * side_px * side_px:
        radii = leaf_radii(rng, 4096, radius_min_px, radius_max_px)
        centres = rng.uniform(-radii[:, None], side_px + radii[:, None], (4096, 2))
        colours = palette[rng.integers(len(palette), size=4096)]
        for (row, col), radius, colour in zip(centres, radii, colours, strict=True):
            top, bottom = max(int(row - radius), 0), min(int(row + radius) + 1, side_px)
            left, right = max(int(col - radius), 0), min(int(col + radius) + 1, side_px)
            if top >= bottom or left >= right:
                continue
            rows = np.arange(top, bottom)[:, None] + 0.5 - row
            cols = np.arange(left, right)[None, :] + 0.5 - col
            paint = (rows * rows + cols * cols <= radius * radius) & bare[top:bottom, left:right]
            canvas[top:bottom, left:right][paint] = colour
            bare[top:bottom, left:right] &= ~paint
            bare_count -= int(paint.sum())
            if bare_count <= UNCOVERED_FRACTION * side_px * side_px:
                break
    canvas[bare] = palette[rng.integers(len(palette))]  # the last few bare pixels: one leaf
    return canvas


def dead_leaves_image(
    rng: np.random.Generator,
    side_px: int,
    palette: np.ndarray,
    radius_min_px: float = 1.0,
    radius_max_px: float | None = None,
    supersample: int = 2,
) -> np.ndarray:
    """(side_px, side_px, 3) uint8 sRGB-like (LibRaw curve) dead-leaves image.

    palette: (N, 3) uint8 colours to draw leaves from (e.g. pixels of real photographs).
    Radii are in output pixels; radius_max_px defaults to side_px / 4.
    """
    if side_px < 8 or supersample < 1:
        raise ParameterError(f"dead leaves need side_px >= 8 and supersample >= 1, got {side_px}")
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or palette.dtype != np.uint8 or not len(palette):
        raise ParameterError(f"palette must be (N, 3) uint8, got {palette.shape} {palette.dtype}")
    radius_max_px = side_px / 4 if radius_max_px is None else radius_max_px
    canvas = _paint_leaves(
        rng,
        side_px * supersample,
        palette,
        radius_min_px * supersample,
        radius_max_px * supersample,
    )
    linear = linear_from_uint8()[canvas]
    linear = linear.reshape(side_px, supersample, side_px, supersample, 3).mean(axis=(1, 3))
    return np.round(libraw_gamma(linear) * 255).astype(np.uint8)


def photo_palette(photos: list[np.ndarray], rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 3) uint8 colours sampled uniformly from the pixels of (H, W, 3) uint8 photos."""
    if not photos:
        raise ParameterError("no photographs to draw dead-leaves colours from")
    chosen = rng.integers(len(photos), size=count)
    colours = np.empty((count, 3), dtype=np.uint8)
    for index, photo_index in enumerate(chosen):
        photo = photos[photo_index]
        colours[index] = photo[rng.integers(photo.shape[0]), rng.integers(photo.shape[1]), :3]
    return colours


def _write_image(
    path: Path, seed: int, index: int, side_px: int, palette: np.ndarray, radius_min_px: float
) -> float:
    """Write one image (a worker process's task); returns the seconds it took."""
    import imageio.v3 as imageio  # core dependency; lazy so importing this module stays cheap

    start = time.perf_counter()
    rng = np.random.default_rng([seed, 2, index])
    image = dead_leaves_image(rng, side_px, palette, radius_min_px=radius_min_px)
    buffer = io.BytesIO()
    imageio.imwrite(buffer, image, extension=".png")
    write_atomic(path, buffer.getvalue())
    return time.perf_counter() - start


def image_paths(out: Path, count: int, seed: int) -> list[Path]:
    """The names write_training_folder gives its images (seed and index: stable across calls)."""
    return [out / f"{photo_files.DEAD_LEAVES_PREFIX}s{seed}-{i:03d}.png" for i in range(count)]


def write_training_folder(
    photos: str | Path | None,
    out: str | Path,
    count: int,
    seed: int = 0,
    side_px: int = 1024,
    radius_min_px: float = 1.0,
    link_photos: bool = True,
    workers: int = 1,
    report: Callable[[Path, float], None] | None = None,
    cache_dir: str | Path | None = None,
) -> list[Path]:
    """Write `count` dead-leaves PNGs into `out` (kept where present), coloured from the training
    split of `photos` (never its validation photos), and with link_photos link every photo of
    `photos` beside them and list the folder in a manifest.tsv (the source's photos first, in
    its order), so `out` trains on both and validates as `photos` does. Images are independent,
    so `workers` processes draw them at once; report(path, seconds) follows each new one.
    Returns the images' paths. Names start with photos.DEAD_LEAVES_PREFIX: beside photos they never
    validate. cache_dir: the training run's photo cache (photos.load_photos), so the photos are
    decoded once."""
    if count < 0 or workers < 1:
        raise ParameterError(f"need count >= 0 and workers >= 1, got {count}, {workers}")
    folder = photo_files.photo_folder(photos)
    names = photo_files.list_photo_names(folder)
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    if link_photos:
        for name in names:
            link = out / name
            if link.is_symlink() and not link.exists():
                link.unlink()  # the source folder moved: point the link at it again
            if not link.exists():
                link.symlink_to((folder / name).resolve())
    paths = image_paths(out, count, seed)
    missing = [(index, path) for index, path in enumerate(paths) if not path.exists()]
    if missing:  # the palette decodes every training photo: only when there is a leaf to draw
        training = photo_files.load_photos(
            folder, names=photo_files.split_names(names)[0], cache_dir=cache_dir
        )
        palette = photo_palette(
            [p.pixels for p in training], np.random.default_rng([seed, 1]), PALETTE_SIZE
        )
        tasks = [(path, seed, index, side_px, palette, radius_min_px) for index, path in missing]
        _draw(tasks, workers, report)
    if link_photos:
        _write_listing(out, names)
    return paths


def _draw(tasks: list[tuple], workers: int, report: Callable[[Path, float], None] | None) -> None:
    """Run _write_image on each task, in `workers` processes when there are several."""
    if workers == 1 or len(tasks) < 2:
        for task in tasks:
            seconds = _write_image(*task)
            if report:
                report(task[0], seconds)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no fork of a process that holds CUDA
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
        futures = {pool.submit(_write_image, *task): task[0] for task in tasks}
        for future in as_completed(futures):
            seconds = future.result()
            if report:
                report(futures[future], seconds)


def _write_listing(out: Path, source_names: list[str]) -> None:
    """manifest.tsv of a linked folder: the source's photos in the source's own order, then every
    other image in `out` by name. Validation crops follow the listing order, so the folder then
    validates on the very crops its source does, and it trains on everything it holds."""
    linked = set(source_names)
    others = sorted(
        path.name
        for path in out.iterdir()
        if path.suffix.lower() in photo_files.PHOTO_EXTENSIONS and path.name not in linked
    )
    rows = ["filename", *source_names, *others]
    write_atomic(out / "manifest.tsv", ("\n".join(rows) + "\n").encode())


def mixed_folder(
    photos: str | Path | None, root: str | Path, count: int, side_px: int, seed: int
) -> Path:
    """Where a mix of `photos` and `count` dead leaves (write_training_folder with link_photos)
    is kept under `root`: named for the photo folder and the images, with a digest of the
    folder's path and photo names, so another photo set never reuses stale leaves."""
    folder = photo_files.photo_folder(photos).resolve()
    names = photo_files.list_photo_names(folder)
    digest = hashlib.sha256("\n".join([str(folder), *names]).encode()).hexdigest()[:10]
    label = f"{folder.name}+dead-leaves-{count}x{side_px}px-s{seed}-{digest}"
    return Path(root).expanduser() / label
