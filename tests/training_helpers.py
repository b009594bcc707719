"""Helpers for the training tests: a smooth photo, a tiny run's config, its logged scores, the darkdev command,
and copies of a run's validation sets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from darkdev.training.config import TrainConfig
from darkdev.training.photos import Photo

REPOSITORY = Path(__file__).resolve().parents[1]


def smooth_photo(height: int = 300, width: int = 320, seed: int = 0) -> Photo:
    """A smooth colourful 8-bit 'photo'."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack([0.2 + 0.6 * rows, 0.3 + 0.5 * cols, 0.7 - 0.4 * (rows + cols) / 2], axis=-1)
    image += 0.1 * np.sin(rows[..., None] * 6 + rng.random(3) * 6)
    return Photo(f"smooth-{seed}.png", (np.clip(image, 0, 1) * 255).round().astype(np.uint8))


def tiny_config(out, photos, **changes) -> TrainConfig:
    values = dict(
        model="lts",
        cfa="bayer",
        width=4,
        crop=16,
        batch=2,
        max_steps=6,
        out=str(out),
        photos=str(photos),
        threads=1,
        data_workers=0,
        validate_every=3,
        validation_count=1,
        validation_packed_px=32,
        lr=1e-3,
        checkpoint_minutes=1000.0,
        log_every=1,
        precision="full",  # the same numbers on every machine (auto is bf16 on AMX CPUs)
    )
    values.update(changes)
    return TrainConfig(**values)


def logged_validation(out: Path, step: int) -> dict[str, float]:
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    line = [e for e in log if e["step"] == step and "val_psnr" in e][-1]
    return {k.removeprefix("val_"): round(v, 4) for k, v in line.items() if k.startswith("val_")}


def run_darkdev(*arguments, **environment):
    import os

    command = [str(Path(sys.executable).parent / "darkdev"), *map(str, arguments)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, **environment}
    )


def copy_sets(source: Path, target: Path, drop: str = "") -> Path:
    """A folder with source's bayer sets (without the split `drop`, and saved as before the
    below-black key when drop is "below_black")."""
    target.mkdir()
    for split in ("all_iso", "high_iso", "detail"):
        if split == drop:
            continue
        with np.load(source / f"validation-bayer-{split}.npz") as archive:
            fields = {key: archive[key] for key in archive.files if key != drop}
        np.savez(target / f"validation-bayer-{split}.npz", **fields)
    return target
