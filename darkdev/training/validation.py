"""Fixed validation sets: crops of held-out photos with fixed seeds, in two splits, and a third
set that measures detail.

- all_iso: the training distribution (ratio 50-300, K over the whole A7S II range);
- high_iso: where users need the network: ratio 100-300, K in the upper half of the range (log),
  Gaussian and Tukey-lambda read noise equally often;
- detail: dead-leaves images (dead_leaves.py) coloured from the held-out photos, with high_iso's
  noise. The photos are soft at pixel level, so the photo splits barely see a network smear
  fine detail; dead leaves do (and score near the held-out benchmark of real camera photos).

Both with the noise and colour of the modelled camera, or of a camera profile's (finetune).

Targets mean what SID's mean: the clean raw developed by LibRaw with its default demosaic (AHD;
X-Trans 3-pass), so crops are at least 512 px (LibRaw demosaics LINEAR below). The un-mosaiced
target the networks train towards is kept beside it. Without rawpy (the GPU machine) the sets
hold no LibRaw target and no classical baseline, and scores use the un-mosaiced target.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from darkdev import cfa, rimef
from darkdev.errors import ParameterError
from darkdev.files import write_atomic
from darkdev.network_input import InputConvention, network_input
from darkdev.training import synthetic, unprocessing
from darkdev.training.camera import SyntheticCamera
from darkdev.training.dead_leaves import dead_leaves_image, photo_palette
from darkdev.training.noise import HIGH_ISO
from darkdev.training.photos import Photo

VALIDATION_SEED = 12345
SPLITS = {
    "all_iso": synthetic.AugmentConfig(),
    "high_iso": synthetic.AugmentConfig(
        ratio_min=synthetic.HIGH_ISO_RATIOS[0],
        ratio_max=synthetic.HIGH_ISO_RATIOS[1],
        noise=HIGH_ISO,
    ),
}
DETAIL_SPLIT = "detail"
DETAIL_NOISE_SPLIT = "high_iso"  # the detail set's noise and exposure: where smearing shows
ALL_SPLITS = (*SPLITS, DETAIL_SPLIT)
DETAIL_PALETTE_COLOURS = 4096
DETAIL_SEED_TAG = (
    3  # the detail set's random streams: [seed, tag(, image)], apart from [seed, crop]
)
VALIDATION_PACKED_PX = {"bayer": 256, "xtrans": 176}  # 512 / 528 raw px: LibRaw's full demosaic


@dataclass
class ValidationSet:
    kind: str
    split: str
    names: list[str]
    ratios: list[float]
    gains: list[tuple[float, float, float]]
    noisy_packed: list[np.ndarray]  # (C, h, w) float32, <= 1, < 0 below black; before WB, RIMEF
    unmosaiced: list[np.ndarray]  # (H, W, 3) float32: the training target's definition
    libraw: list[np.ndarray] | None  # (H, W, 3) float32: SID-style target (LibRaw default demosaic)
    classical: list[np.ndarray] | None  # (H, W, 3): linear ratio + LibRaw, the baseline
    # noisy_packed keeps the values below black (sets saved before it was kept are clipped,
    # and can score only networks trained clipped).
    below_black: bool = True

    def __len__(self) -> int:
        return len(self.names)

    @property
    def targets(self) -> list[np.ndarray]:
        """What scores are measured against: SID-style when LibRaw made it, else un-mosaiced."""
        return self.libraw if self.libraw is not None else self.unmosaiced

    @property
    def target_name(self) -> str:
        return "LibRaw default demosaic" if self.libraw is not None else "un-mosaiced"

    def network_inputs(
        self, convention: InputConvention, lam: float = 0.0, alpha: float = 1.0
    ) -> list[np.ndarray]:
        """The crops prepared for a network trained with the given input convention."""
        self.check_input(convention)
        return [
            network_input(
                packed,
                self.kind,  # type: ignore[arg-type]
                gains,
                convention,
                rimef.RimefParams(ratio=ratio, lam=lam, alpha=alpha),
            )
            for packed, gains, ratio in zip(self.noisy_packed, self.gains, self.ratios, strict=True)
        ]

    def check_input(self, convention: InputConvention) -> None:
        """Refuse to feed a network trained below black from a set saved clipped at black."""
        if convention.below_black and not self.below_black:
            raise ParameterError(
                f"the {self.kind} {self.split} validation set was saved clipped at black: a "
                "network trained below black needs a set rebuilt by this version (darkdev "
                "evaluate --save-validation-set)"
            )

    def subset(self, keep: list[int]) -> ValidationSet:
        """The same set restricted to the crops at `keep` (every per-crop list subset alike)."""
        subsets: dict[str, Any] = {
            item.name: [getattr(self, item.name)[i] for i in keep]
            for item in dataclasses.fields(self)
            if isinstance(getattr(self, item.name), list)
        }
        return dataclasses.replace(self, **subsets)


def validation_set_path(directory: Path, cfa_kind: str, split: str) -> Path:
    """Where a run folder (or any folder of sets) keeps a CFA kind's split: the one naming rule
    shared by training, evaluation and publishing."""
    return Path(directory) / f"validation-{cfa_kind}-{split}.npz"


def split_suffix(split: str) -> str:
    """The key suffix of a split's scores in logs, summaries and manifests (psnr, psnr_high_iso,
    psnr_detail): all_iso's are unsuffixed, as they were before there were other splits."""
    return "" if split == "all_iso" else f"_{split}"


def validation_side_px(kind: str, packed_px: int | None = None) -> int:
    """A validation crop's side in raw pixels (packed_px None: VALIDATION_PACKED_PX)."""
    return (packed_px or VALIDATION_PACKED_PX[kind]) * cfa.BLOCK_SIZE[kind]


def libraw_available() -> bool:
    try:
        import rawpy  # noqa: F401  # the GPU machines have no rawpy
    except ImportError:
        return False
    return True


def libraw_development(
    dn: np.ndarray, kind: str, gains, ratio: float | None, camera=None
) -> np.ndarray:
    """A mosaic in DN through LibRaw: the clean one as SID's target, or the noisy one amplified
    linearly by `ratio` (the classical baseline); camera: whose colour matrix LibRaw uses."""
    from darkdev import dng, raw

    neutral = (1 / gains[0], 1.0, 1 / gains[2])
    meta = unprocessing.dng_metadata(kind, as_shot_neutral=neutral, camera=camera)
    frame = raw.decode(
        dng.dng_bytes(dn.astype(np.uint16), unprocessing.PATTERN_FOR_KIND[kind], meta), "synthetic"
    )
    amplified = None if ratio is None else np.clip(frame.mosaic * ratio, 0.0, 1.0)
    return raw.develop_with_libraw(frame, amplified)


def validation_pairs(
    photos: list,
    kind: str,
    split: str = "all_iso",
    count: int = 16,
    seed: int = VALIDATION_SEED,
    packed_px: int | None = None,
    camera: SyntheticCamera | None = None,
) -> Iterator[tuple[str, synthetic.ItemPlan, synthetic.PairTensors]]:
    """(photo name, plan, pair) of each fixed validation crop, from the seeds every run's sets
    use (photo index % len(photos)); what the sets keep, and what probes read below black."""
    import torch

    if not photos:
        raise ParameterError("no validation photos")
    if split not in SPLITS:
        raise ParameterError(f"unknown validation split {split!r}; choose {', '.join(SPLITS)}")
    augment = dataclasses.replace(SPLITS[split], camera=camera)
    bank = synthetic.PhotoBank(photos, "cpu")
    side_px = validation_side_px(kind, packed_px)
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        plan = synthetic.plan_item(rng, bank, kind, side_px, augment, photo=index % len(photos))
        with torch.no_grad():
            pair = synthetic.make_item(bank, kind, side_px, plan, augment)
        yield bank.names[plan.photo], plan, pair


def build_validation_set(
    photos: list,
    kind: str,
    split: str = "all_iso",
    count: int = 16,
    seed: int = VALIDATION_SEED,
    packed_px: int | None = None,
    camera: SyntheticCamera | None = None,
) -> ValidationSet:
    """Fixed crops (fixed seeds, photo index % len(photos)) with LibRaw targets when available;
    camera: whose noise and colour (None: the kind's modelled camera)."""
    with_libraw = libraw_available()
    result = ValidationSet(
        kind, split, [], [], [], [], [], [] if with_libraw else None, [] if with_libraw else None
    )
    for name, plan, pair in validation_pairs(photos, kind, split, count, seed, packed_px, camera):
        result.names.append(name)
        result.ratios.append(plan.ratio)
        result.gains.append(plan.gains)
        result.noisy_packed.append(pair.noisy_packed.numpy())
        result.unmosaiced.append(pair.target.permute(1, 2, 0).numpy().copy())
        if result.libraw is not None and result.classical is not None:
            clean, noisy = pair.clean_dn.numpy(), pair.noisy_dn.numpy()
            result.libraw.append(libraw_development(clean, kind, plan.gains, None, camera))
            result.classical.append(libraw_development(noisy, kind, plan.gains, plan.ratio, camera))
    return result


def detail_photos(photos: list, count: int, side_px: int, seed: int = VALIDATION_SEED) -> list:
    """count dead-leaves images of side_px (a validation crop's size, so crops are whole images
    at native scale) coloured from the photos' pixels; fixed by seed."""
    palette_rng = np.random.default_rng([seed, DETAIL_SEED_TAG])
    palette = photo_palette([p.pixels for p in photos], palette_rng, DETAIL_PALETTE_COLOURS)
    return [
        Photo(
            f"dead-leaves-{index:03d}",
            dead_leaves_image(
                np.random.default_rng([seed, DETAIL_SEED_TAG, index]), side_px, palette
            ),
        )
        for index in range(count)
    ]


def build_split(
    photos: list,
    kind: str,
    split: str,
    count: int = 16,
    seed: int = VALIDATION_SEED,
    packed_px: int | None = None,
    camera: SyntheticCamera | None = None,
) -> ValidationSet:
    """Any split of ALL_SPLITS from held-out photos: the photo splits' crops of them, or the
    detail set's dead leaves coloured by them."""
    if split != DETAIL_SPLIT:
        return build_validation_set(photos, kind, split, count, seed, packed_px, camera)
    if not photos:
        raise ParameterError("no validation photos to colour the dead leaves from")
    side_px = validation_side_px(kind, packed_px)
    leaves = detail_photos(photos, count, side_px, seed)
    detail = build_validation_set(leaves, kind, DETAIL_NOISE_SPLIT, count, seed, packed_px, camera)
    return dataclasses.replace(detail, split=DETAIL_SPLIT)


def _to_uint16(images: list[np.ndarray]) -> np.ndarray:
    return np.round(np.stack(images) * 65535.0).astype(np.uint16)  # LibRaw's own precision


def save_validation_set(validation: ValidationSet, path: Path) -> None:
    """npz with images as uint16 (what LibRaw writes), atomically replaced."""
    optional: dict[str, Any] = {
        name: _to_uint16(images)
        for name, images in (("libraw", validation.libraw), ("classical", validation.classical))
        if images is not None
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        kind=validation.kind,
        split=validation.split,
        names=np.array(validation.names),
        ratios=np.array(validation.ratios),
        gains=np.array(validation.gains),
        noisy_packed=np.stack(validation.noisy_packed),
        unmosaiced=_to_uint16(validation.unmosaiced),
        below_black=np.array(validation.below_black),
        **optional,
    )
    write_atomic(path, buffer.getvalue())


def load_validation_set(path: Path) -> ValidationSet:
    """A saved set; a file that is not one is refused in one line naming it."""
    try:
        return _read_validation_set(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ParameterError(f"{path}: not a readable validation set ({error})") from error


def _uint16_images(archive, name: str) -> list[np.ndarray] | None:
    if name not in archive:
        return None
    return [image.astype(np.float32) / 65535.0 for image in archive[name]]


def _read_validation_set(path: Path) -> ValidationSet:
    with np.load(path, allow_pickle=False) as archive:
        return ValidationSet(
            str(archive["kind"]),
            str(archive["split"]),
            [str(n) for n in archive["names"]],
            [float(r) for r in archive["ratios"]],
            [(float(r), float(g), float(b)) for r, g, b in archive["gains"]],
            list(archive["noisy_packed"]),
            _uint16_images(archive, "unmosaiced") or [],
            _uint16_images(archive, "libraw"),
            _uint16_images(archive, "classical"),
            below_black="below_black" in archive and bool(archive["below_black"]),
        )
