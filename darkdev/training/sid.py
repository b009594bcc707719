"""The See-in-the-Dark dataset: official list files, cached decoding, aligned random crops."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkdev import cfa, rimef
from darkdev.errors import ParameterError, ShapeError
from darkdev.network_input import InputConvention, network_input

EXPOSURE_PATTERN = re.compile(r"_([0-9.]+)s\.[A-Za-z0-9]+$")
MAX_SID_RATIO = 300.0


def exposure_from_name(name: str) -> float:
    """'10003_00_0.04s.ARW' -> 0.04 (seconds), as SID's scripts parse it."""
    match = EXPOSURE_PATTERN.search(Path(name).name)
    if not match:
        raise ParameterError(f"{name}: no exposure time like '_0.04s' in the file name")
    return float(match.group(1))


@dataclass(frozen=True)
class SidPair:
    short_path: Path
    long_path: Path
    ratio: float


def read_sid_list(root: str | Path, list_file: str | Path) -> list[SidPair]:
    """Parse an official SID list ('./Sony/short/x.ARW ./Sony/long/y.ARW ISO200 F9' lines)."""
    root = Path(root)
    pairs = []
    for line in Path(list_file).read_text().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        short_path, long_path = root / parts[0], root / parts[1]
        ratio = min(exposure_from_name(parts[1]) / exposure_from_name(parts[0]), MAX_SID_RATIO)
        pairs.append(SidPair(short_path, long_path, ratio))
    return pairs


class SidDataset:
    """SID pairs: packed short exposures (amplified by the ratio) and LibRaw-developed long ones.

    Decoded short exposures and developed targets are cached as .npy files under cache_dir
    (one per file) so each raw is decoded once. Several short exposures share one long one.
    """

    def __init__(
        self,
        root: str | Path,
        list_file: str | Path,
        cache_dir: str | Path,
        crop_packed_px: int = 512,
        convention: InputConvention = InputConvention(),
    ) -> None:
        self.pairs = read_sid_list(root, list_file)
        if not self.pairs:
            raise ParameterError(f"{list_file}: no pairs")
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.crop_packed_px = crop_packed_px
        self.convention = convention

    def __len__(self) -> int:
        return len(self.pairs)

    def _cache_path(self, path: Path, suffix: str) -> Path:
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        return self.cache_dir / f"{path.stem}-{key}-{suffix}.npy"

    def packed_short(
        self, index: int
    ) -> tuple[np.ndarray, cfa.CfaKind, tuple[float, float, float]]:
        """(C, h, w) float32 packed short exposure (not amplified), CFA kind, WB gains."""
        pair = self.pairs[index]
        # "kept-black": caches written before values below black were kept hold them clipped.
        path = self._cache_path(pair.short_path, "packed-kept-black")
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            return np.load(path), meta["kind"], tuple(meta["gains"])
        from darkdev import raw  # rawpy: only where SID files are decoded (GPU machines lack it)

        frame = raw.read_raw(pair.short_path)
        packed = cfa.pack(frame.mosaic, frame.layout).astype(np.float32)
        meta = {
            "kind": frame.layout.kind,
            "gains": list(frame.camera_whitebalance),
            "offset": [frame.layout.offset_rows, frame.layout.offset_cols],
        }
        np.save(path, packed)
        meta_path.write_text(json.dumps(meta))
        return packed, frame.layout.kind, frame.camera_whitebalance

    def target(self, index: int) -> tuple[np.ndarray, tuple[int, int]]:
        """(H, W, 3) float32 developed long exposure and the (rows, cols) CFA offset of its file."""
        pair = self.pairs[index]
        path = self._cache_path(pair.long_path, "target")
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists():
            offset = tuple(json.loads(meta_path.read_text())["offset"])
            return np.load(path).astype(np.float32) / 65535.0, offset
        from darkdev import raw

        frame = raw.read_raw(pair.long_path)
        developed = raw.develop_with_libraw(frame)
        np.save(path, np.round(developed * 65535.0).astype(np.uint16))  # 16 bit: as LibRaw made it
        offset = (frame.layout.offset_rows, frame.layout.offset_cols)
        meta_path.write_text(json.dumps({"offset": list(offset)}))
        return developed, offset

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random aligned crop: (C, p, p) amplified input and (3, p*s, p*s) target, flipped."""
        pair = self.pairs[index]
        packed, kind, gains = self.packed_short(index)
        target, (offset_rows, offset_cols) = self.target(index)
        block = cfa.BLOCK_SIZE[kind]
        crop = min(self.crop_packed_px, packed.shape[1], packed.shape[2]) // 2 * 2
        if crop < 2:
            raise ShapeError(f"{pair.short_path}: too small to crop")
        top = (
            int(rng.integers(0, packed.shape[1] - crop + 1)) // 2 * 2
        )  # keep X-Trans sub-block parity
        left = int(rng.integers(0, packed.shape[2] - crop + 1)) // 2 * 2
        input_crop = packed[:, top : top + crop, left : left + crop]
        row0, col0 = offset_rows + top * block, offset_cols + left * block
        target_crop = target[row0 : row0 + crop * block, col0 : col0 + crop * block].transpose(
            2, 0, 1
        )
        if target_crop.shape[1:] != (crop * block, crop * block):
            raise ShapeError(f"{pair.long_path}: long exposure smaller than the short one")
        amplified = network_input(
            input_crop, kind, gains, self.convention, rimef.RimefParams(ratio=pair.ratio)
        )
        # Flips and transposes of packed crops, as SID trains.
        if rng.random() < 0.5:
            amplified, target_crop = amplified[:, :, ::-1], target_crop[:, :, ::-1]
        if rng.random() < 0.5:
            amplified, target_crop = amplified[:, ::-1], target_crop[:, ::-1]
        if rng.random() < 0.5:
            amplified, target_crop = amplified.transpose(0, 2, 1), target_crop.transpose(0, 2, 1)
        return (
            np.ascontiguousarray(amplified, dtype=np.float32),
            np.ascontiguousarray(target_crop, dtype=np.float32),
        )

    def batch(
        self, batch_size: int, seed: int, step: int, first_item: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        inputs, targets = [], []
        for item in range(first_item, first_item + batch_size):
            rng = np.random.default_rng([seed, step, item])  # as training.synthetic
            index = int(rng.integers(len(self.pairs)))
            x, y = self.sample(index, rng)
            inputs.append(x)
            targets.append(y)
        return np.stack(inputs), np.stack(targets)
