"""Fine-tuning the bundled network for one camera: `darkdev finetune --profile mycamera.json`.

    finetune(FinetuneOptions(profile=..., output=..., minutes=30)) -> FinetuneResult

The bundled default network of the profile's CFA kind goes on training (training.loop.train
with init_from) on synthetic pairs with the camera's noise and colour matrix (training.camera),
made from the bundled networks' mix: the photos beside 40 dead-leaves images drawn from them
(training.dead_leaves; drawn once, kept in the mix cache). On photos alone the tuned network
loses fine detail the bundled one learnt from the dead leaves.
The work folder is a training run folder (last.pt, log, validation sets), so --resume continues
it. Both models are scored on validation pairs with the camera's noise and colour: the bundled
one before, the tuned one after; the tuned weights are written to the output atomically, with
the camera they were tuned for in their metadata (weights.TUNED_FOR_KEY), which develop reads.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from darkdev import manifest, weights
from darkdev.errors import ParameterError, WeightsError
from darkdev.files import write_atomic
from darkdev.network_input import InputConvention
from darkdev.training import dead_leaves
from darkdev.training.batches import validation_sets
from darkdev.training.camera import SyntheticCamera, camera_from_profile
from darkdev.training.checkpoints import EXPORT_NAME
from darkdev.training.config import DEFAULT_PHOTOS, TrainConfig
from darkdev.training.evaluation import SPLIT_TITLES, score_classical, score_model
from darkdev.training.loop import train

DEFAULT_PHOTO_CACHE = "~/.cache/darkdev/photo-cache"  # prepared photos, shared by fine-tunings
DEFAULT_MIX_CACHE = "~/.cache/darkdev/training-mixes"  # photos + dead leaves, shared likewise
# The bundled networks' mix (scripts/make_dead_leaves.py --count 40 --link-photos --seed 0).
DEAD_LEAVES, DEAD_LEAVES_SIDE_PX, DEAD_LEAVES_SEED = 40, 1024, 0
CAMERA_RECORD = "camera.json"  # in the work folder: the camera its run is tuning for
LEARNING_RATE = 1e-4  # a third of the early runs' 3e-4, above the defaults' last rates: new noise
Scores = dict[str, tuple[float, float]]  # split -> (PSNR dB, SSIM)


@dataclass(frozen=True)
class FinetuneOptions:
    profile: Path
    output: Path
    minutes: float = 30.0  # training budget (validations included), over all resumed sessions
    work: Path | None = None  # None: OUTPUT's name with .finetune, beside it
    resume: bool = False
    iso: float | None = None  # tune for this ISO's noise (None: every calibrated ISO)
    overwrite: bool = False
    photos: str = DEFAULT_PHOTOS
    photo_cache: str | None = DEFAULT_PHOTO_CACHE
    dead_leaves: int = DEAD_LEAVES  # images beside the photos (0: photos alone)
    dead_leaves_side_px: int = DEAD_LEAVES_SIDE_PX
    mix_cache: str = DEFAULT_MIX_CACHE
    threads: int = 2
    seed: int = 0
    validation_count: int = 16
    validate_every: int = 250
    checkpoint_minutes: float = 2.0
    max_steps: int | None = None  # tests; None: as many steps as the minutes allow
    crop: int | None = None  # tests; None: the bundled network's training crop
    batch: int | None = None  # tests; None: the bundled network's training batch
    validation_packed_px: int | None = None  # tests
    command: str = ""

    @property
    def work_folder(self) -> Path:
        return self.work if self.work is not None else self.output.with_suffix(".finetune")


@dataclass
class FinetuneResult:
    camera: SyntheticCamera
    bundled_file: str
    before: Scores  # the bundled network
    after: Scores  # the tuned one (as written, float16)
    classical: Scores
    steps: int
    training_minutes: float
    output: Path
    output_sha256: str
    work: Path
    validation_crops: int
    training_photos: str  # the folder it trained on (the photos, or their mix with dead leaves)


def check_options(options: FinetuneOptions) -> None:
    """Refuse bad options before any work (one line each)."""
    if options.output.suffix != ".safetensors":
        raise ParameterError(f"-o {options.output}: the tuned weights are a .safetensors file")
    if options.output.exists() and not options.overwrite:
        raise ParameterError(f"{options.output}: exists (use --overwrite to replace it)")
    if not (math.isfinite(options.minutes) and options.minutes > 0):
        raise ParameterError(f"--minutes must be > 0, got {options.minutes}")
    if options.iso is not None and not options.iso > 0:
        raise ParameterError(f"--iso must be > 0, got {options.iso}")
    if options.threads < 1:
        raise ParameterError(f"--threads must be >= 1, got {options.threads}")
    if options.dead_leaves < 0:
        raise ParameterError(f"--dead-leaves must be >= 0, got {options.dead_leaves}")
    if options.dead_leaves_side_px < 8:
        raise ParameterError(
            f"dead leaves need a side of >= 8 px, got {options.dead_leaves_side_px}"
        )


def training_photos(options: FinetuneOptions, report) -> str:
    """The folder the run trains on: options.photos, or (with dead_leaves) their mix with dead
    leaves in the mix cache, whose missing images are drawn now (minutes, once per photo set)."""
    if options.dead_leaves == 0:
        return options.photos
    count, side_px = options.dead_leaves, options.dead_leaves_side_px
    folder = dead_leaves.mixed_folder(
        options.photos, options.mix_cache, count, side_px, DEAD_LEAVES_SEED
    )
    images = dead_leaves.image_paths(folder, count, DEAD_LEAVES_SEED)
    missing = sum(not path.exists() for path in images)
    start = time.perf_counter()
    if missing:
        report(
            f"drawing {missing} dead-leaves images of {side_px} px to train on beside the photos"
        )
    dead_leaves.write_training_folder(
        options.photos,
        folder,
        count,
        seed=DEAD_LEAVES_SEED,
        side_px=side_px,
        workers=options.threads,
        cache_dir=options.photo_cache,
    )
    if missing:
        report(
            f"drew them in {time.perf_counter() - start:.0f} s into {folder} (kept for later runs)"
        )
    return str(folder)


def bundled_entry(cfa_kind: str) -> manifest.CheckpointEntry:
    """The bundled default network of a CFA kind; fine-tuning needs a plain `width` model."""
    entry = manifest.default_entry(cfa_kind)
    if entry is None:
        raise WeightsError(f"no bundled {cfa_kind} network to fine-tune (see `darkdev models`)")
    if set(entry.arguments) != {"width"}:
        raise WeightsError(f"{entry.file}: fine-tuning needs a model of one width argument")
    return entry


def check_work_folder(work: Path, camera: SyntheticCamera, resume: bool) -> None:
    """A fresh run needs an empty folder; a resumed one must be tuning for the same camera (its
    validation pairs and last.pt are this camera's)."""
    if not work.exists():
        return
    if not resume:
        if any(work.iterdir()):
            raise ParameterError(
                f"--work {work} is not empty: --resume continues the fine-tuning in it, or "
                "choose another folder"
            )
        return
    record = work / CAMERA_RECORD
    if record.exists():
        recorded = json.loads(record.read_text())
        if (recorded.get("profile_sha256"), recorded.get("iso")) != (
            camera.profile_sha256,
            camera.iso,
        ):
            raise ParameterError(f"--work {work} was fine-tuning for another profile or --iso")


def train_config(
    options: FinetuneOptions,
    camera: SyntheticCamera,
    entry: manifest.CheckpointEntry,
    photos: str,
) -> TrainConfig:
    """The bundled network's own training settings, continued from it on this camera's pairs."""
    trained = entry.training
    start = manifest.weights_dir() / entry.file
    convention = weights.load_checkpoint(start)[1].input_convention  # the file's, as develop's
    return TrainConfig(
        model=entry.architecture,
        cfa=camera.cfa_kind,
        width=int(entry.arguments["width"]),
        crop=options.crop or int(trained.get("crop_packed_px", 128)),
        batch=options.batch or int(trained.get("batch", 4)),
        max_minutes=options.minutes,
        max_steps=options.max_steps,
        out=str(options.work_folder),
        resume=options.resume,
        lr=LEARNING_RATE,
        lr_schedule="cosine",
        tv_weight=float(trained.get("tv_weight", 1.0)),
        lowpass_weight=float(trained.get("lowpass_weight", 0.0)),
        ssim_weight=float(trained.get("ssim_weight", 0.0)),
        seed=options.seed,
        threads=options.threads,
        validate_every=options.validate_every,
        validation_count=options.validation_count,
        checkpoint_minutes=options.checkpoint_minutes,
        photos=photos,
        data_workers=0,
        validation_packed_px=options.validation_packed_px,
        lam_max=float(trained.get("lam_max", 0.0)),
        white_balance_input=convention.white_balance,
        below_black_input=convention.below_black,
        init_from=str(start),
        photo_cache=options.photo_cache,
        camera=camera.to_dict(),
        command=options.command,
    )


def score_weights(path: Path, validations: dict, cfa_kind: str, sha256: str | None) -> Scores:
    model, metadata = weights.load_model(path, sha256, cfa_kind)
    device = torch.device("cpu")
    return {
        split: score_model(model, validation, device, InputConvention.from_metadata(metadata))
        for split, validation in validations.items()
    }


def tuned_for(
    camera: SyntheticCamera, options: FinetuneOptions, entry: manifest.CheckpointEntry, steps: int
) -> dict[str, Any]:
    """What the tuned checkpoint records about its camera and origin (weights.TUNED_FOR_KEY)."""
    return {
        "make": camera.make,
        "model": camera.model,
        "profile_sha256": camera.profile_sha256,
        "profile_file": options.profile.name,
        "iso": camera.iso,
        "from": {"file": entry.file, "sha256": entry.sha256},
        "steps": steps,
    }


def write_tuned(source: Path, output: Path, record: dict[str, Any]) -> str:
    """The run's exported weights with the camera record added, written atomically."""
    state, metadata = weights.read_safetensors(source)
    metadata = {**metadata, weights.TUNED_FOR_KEY: json.dumps(record, sort_keys=True)}
    return weights.write_safetensors_atomically(output, state, metadata)


def finetune(options: FinetuneOptions, report=print) -> FinetuneResult:
    """Fine-tune, score before and after, write the output (see the module's docstring)."""
    check_options(options)
    camera = camera_from_profile(options.profile, options.iso)
    entry = bundled_entry(camera.cfa_kind)
    work = options.work_folder
    check_work_folder(work, camera, options.resume)
    torch.set_num_threads(options.threads)
    report(f"fine-tuning {entry.file} for {camera.name} ({camera.cfa_kind}) in {work}")
    photos = training_photos(options, report)
    config = train_config(options, camera, entry, photos)
    config.validate()
    work.mkdir(parents=True, exist_ok=True)
    if not (work / CAMERA_RECORD).exists():
        write_atomic(work / CAMERA_RECORD, json.dumps(camera.to_dict(), indent=1).encode())
    validations = validation_sets(config)  # this camera's noise and colour; cached in work
    classical = {split: score_classical(v) for split, v in validations.items()}
    before = score_weights(
        manifest.weights_dir() / entry.file, validations, config.cfa, entry.sha256
    )
    report("before (bundled): " + describe_scores(before))
    summary = train(config)
    after = score_weights(work / EXPORT_NAME, validations, config.cfa, None)
    report("after (tuned):    " + describe_scores(after))
    if mean_psnr(after) <= mean_psnr(before):
        report("warning: the tuned network does not beat the bundled one here; give it more time")
    record = tuned_for(camera, options, entry, int(summary["steps"]))
    sha256 = write_tuned(work / EXPORT_NAME, options.output, record)
    return FinetuneResult(
        camera=camera,
        bundled_file=entry.file,
        before=before,
        after=after,
        classical=classical,
        steps=int(summary["steps"]),
        training_minutes=float(summary["wall_time_s"]) / 60,
        output=options.output,
        output_sha256=sha256,
        work=work,
        validation_crops=len(validations["all_iso"]),
        training_photos=photos,
    )


def mean_psnr(scores: Scores) -> float:
    return sum(psnr for psnr, _ in scores.values()) / len(scores)


def describe_scores(scores: Scores) -> str:
    return ", ".join(
        f"{SPLIT_TITLES.get(split, split)} PSNR {psnr:.2f} dB / SSIM {ssim:.4f}"
        for split, (psnr, ssim) in scores.items()
    )
