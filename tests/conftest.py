"""Shared fixtures: synthetic raw files (Bayer and X-Trans DNGs in any phase) and tiny checkpoints."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from darkdev.cfa import BAYER_CANONICAL, XTRANS_CANONICAL
from darkdev.dng import DngMetadata, write_cfa_dng

BLACK_LEVEL = 512
WHITE_LEVEL = 16383


def cfa_pattern(kind: str, shift_rows: int = 0, shift_cols: int = 0) -> np.ndarray:
    """A CFA pattern whose canonical phase starts at (shift_rows, shift_cols)."""
    canonical = BAYER_CANONICAL if kind == "bayer" else XTRANS_CANONICAL
    return np.roll(canonical, (shift_rows, shift_cols), axis=(0, 1))


def scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth colourful linear scene in [0, 1]: gradients plus a few patches."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack([rows, cols, 1 - (rows + cols) / 2], axis=-1)
    for _ in range(4):
        top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
        image[top : top + height // 4, left : left + width // 4] = rng.random(3)
    return image


def make_mosaic(
    kind: str, height: int, width: int, shift=(0, 0), brightness: float = 0.02, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(uint16 mosaic of a dark noisy scene, its CFA pattern)."""
    pattern = cfa_pattern(kind, *shift)
    period = pattern.shape[0]
    colours = np.tile(pattern, (height // period + 1, width // period + 1))[:height, :width]
    image = scene(height, width, seed)
    values = np.take_along_axis(image, colours[..., None].astype(np.int64), axis=2)[..., 0]
    rng = np.random.default_rng(seed)
    signal = values * brightness * (WHITE_LEVEL - BLACK_LEVEL)
    noisy = rng.poisson(np.maximum(signal, 0) / 4) * 4 + rng.normal(0, 3, signal.shape)
    mosaic = np.clip(np.round(BLACK_LEVEL + noisy), 0, WHITE_LEVEL).astype(np.uint16)
    return mosaic, pattern


def write_raw(
    path: Path,
    kind: str = "bayer",
    height: int = 96,
    width: int = 128,
    shift=(0, 0),
    brightness: float = 0.02,
    seed: int = 0,
    **meta,
) -> Path:
    mosaic, pattern = make_mosaic(kind, height, width, shift, brightness, seed)
    levels = {"black_level": BLACK_LEVEL, "white_level": WHITE_LEVEL}
    write_cfa_dng(path, mosaic, pattern, DngMetadata(**{**levels, **meta}))
    return path


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def tiny_weights(tmp_path, monkeypatch):
    """A weights folder with tiny (width 4) LTS checkpoints for both CFA kinds, made here."""
    import torch

    from darkdev import manifest, weights
    from darkdev.models import build_model

    directory = tmp_path / "weights"
    entries = []
    for kind in ("bayer", "xtrans"):
        torch.manual_seed(0)
        model = build_model("lts", kind, width=4)
        file_name = f"lts-w4-{kind}.safetensors"
        digest = weights.save_checkpoint(directory / file_name, model, "lts", {"width": 4}, kind)
        entries.append(
            manifest.CheckpointEntry(
                file=file_name,
                sha256=digest,
                architecture="lts",
                arguments={"width": 4},
                cfa_kind=kind,
                default=True,
                size_bytes=(directory / file_name).stat().st_size,
                training={"command": "test fixture: random initialisation"},
                validation={},
            )
        )
    manifest.write_manifest(entries, directory)
    monkeypatch.setenv("DARKDEV_WEIGHTS_DIR", str(directory))
    return directory


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core machine, 2 spinning threads are several times slower.
    The training test modules ask for it on every test (pytestmark)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory):
    """Four smooth 8-bit photos for tiny training runs; runs and evaluations only read them."""
    import imageio.v3 as imageio

    from tests.training_helpers import smooth_photo

    folder = tmp_path_factory.mktemp("photos")
    for seed in range(4):
        imageio.imwrite(folder / f"smooth-{seed}.png", smooth_photo(260, 280, seed).pixels)
    return folder


@pytest.fixture(scope="session")
def validated_run(tmp_path_factory, photo_folder):
    """A finished tiny run that kept the weights of each validated step (3 and 6), with its
    validation-bayer-*.npz sets in its folder; publishing only reads it."""
    from darkdev.training.loop import train
    from tests.training_helpers import tiny_config

    out = tmp_path_factory.mktemp("validated-run")
    summary = train(tiny_config(out, photo_folder, keep_validated_weights=True))
    return out, summary
