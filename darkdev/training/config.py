"""A training run's settings (TrainConfig) and the command line that fills them."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass, field
from typing import Any

from darkdev.cfa import CHANNELS
from darkdev.errors import ParameterError
from darkdev.inference import PRECISIONS, check_precision, native_half_dtype
from darkdev.models import STRIDE
from darkdev.network_input import BELOW_BLACK_FLOOR, InputConvention
from darkdev.training import synthetic
from darkdev.training.camera import SyntheticCamera
from darkdev.training.noise import NoiseRange
from darkdev.weights import resolve_checkpoint

DEFAULT_PHOTOS = "~/.cache/darkdev/photos"  # where scripts/fetch_training_photos.py writes
LR_SCHEDULES = ("step", "cosine", "constant")
# What "best" means at a validation (state.selection_score): mean PSNR of the splits; that plus
# mean SSIM in dB (-10 log10(1 - SSIM), so 0.01 SSIM near 0.8 weighs about 0.2 dB); mean SSIM.
SELECTION_RULES = ("psnr", "psnr+ssim", "ssim")
DESCRIPTION = (
    "Training: synthetic pairs (or SID), the loss of SPEC.md, Adam, resumable checkpoints, logs."
)


@dataclass
class TrainConfig:
    model: str = "lts"
    cfa: str = "bayer"
    width: int = 16
    crop: int = 128  # packed crop side (multiple of 16)
    batch: int = 4
    max_minutes: float = 40.0  # wall-clock budget, validation included
    max_steps: int | None = None  # fixes the LR schedule length; else estimated from speed
    session_steps: int | None = (
        None  # stop this session after N steps (checkpointed; --resume goes on)
    )
    out: str = "runs/default"
    resume: bool = False
    lr: float = 1e-4  # paper: 1e-4, then 1e-5 after half the run
    lr_schedule: str = "step"  # 'step' (paper: /10 at half), 'cosine', 'constant'
    # Not in the paper: the learning rate of an MCN's SGN-2..n (and their raw output convs) is
    # lr times this. For an RMCN grown from an LTS (models.growth) SGN-1 is the trained LTS and
    # wants a low rate, while the others' zeroed convolutions start from nothing.
    later_sgn_lr_scale: float = 1.0
    tv_weight: float = 1.0  # beta of SPEC.md's loss (paper: 1)
    # Not in the paper: weight of an L1 term on 8x8 block means of the final output, which
    # carries tone and colour without the pixel noise that dominates the per-pixel L1's signs.
    lowpass_weight: float = 0.0
    # Not in the paper: weight of 1 - SSIM of the final output (the metric's own definition).
    ssim_weight: float = 0.0
    seed: int = 0
    threads: int = 2
    validate_every: int = 500  # steps
    validation_count: int = 16
    select_by: str = "psnr"  # which validated weights are kept as best (SELECTION_RULES)
    keep_validated_weights: bool = False  # also write every validated step's weights
    # Validate on dead leaves too (validation.DETAIL_SPLIT): a third split --select-by counts.
    detail_validation: bool = True
    # Validate on these sets (copied into the run folder at its start: validation-CFA-SPLIT.npz,
    # e.g. the folder publish scores on) instead of building the run's own from --photos.
    validation_set: str | None = None
    # Not in the paper: validate, keep and export an exponential moving average of the weights
    # with this decay (training.averaging); 0: the weights themselves.
    ema_decay: float = 0.0
    checkpoint_minutes: float = 5.0
    log_every: int = 25
    photos: str = DEFAULT_PHOTOS
    data_workers: int = 1  # processes generating batches ahead (0: inline)
    content_reuse: int = 1  # unused since pairs are made in torch (kept so old configs resume)
    validation_packed_px: int | None = None  # None: validation.VALIDATION_PACKED_PX (>= 512 raw px)
    lam_max: float = 0.0  # RIMEF lambda range in training (0: linear amplification, as SID)
    white_balance_input: bool = False  # multiply packed raw by as-shot WB gains (SPEC.md)
    # Feed the network the values below black (amplified, floored at BELOW_BLACK_FLOOR) instead
    # of clipping them: a fifth of high-ISO input samples sit there (probe_below_black.py).
    below_black_input: bool = False
    # bf16 autocast (float32 master weights): 'auto' where it is native (CUDA; CPUs with AMX or
    # AVX512-BF16: Bayer RMCN steps 0.44 -> 0.32 s, the same validation at equal steps),
    # 'full' float32 everywhere, 'half' bf16 anywhere (inference.PRECISIONS).
    precision: str = "auto"
    # Training noise: K range [Kmin / w, Kmax * w] and log-sigma spread x w (None: the kind's
    # noise.NOISE_WIDENING). Validation keeps the kind's own ranges: the camera users have.
    noise_widening: float | None = None
    # Training noise: each colour's black level off by N(0, this) DN (noise.NoiseRange), so the
    # network learns what a camera's inexact black level does; validation keeps it exact.
    black_error_dn: float = 0.0
    init_from: str | None = None  # start from these weights (same architecture), not random
    # Every improving validation also writes the weights as fp16 shards under 16 MiB here
    # (a GPU session's output folder: a call cut at its limit still brings back the latest).
    export_dir: str | None = None
    export_name: str = "best"
    sid_root: str | None = None  # train on SID instead of synthetic pairs
    sid_list: str | None = None
    photo_names: list[str] | None = None  # resolved at the first start, kept on resume
    photo_cache: str | None = None  # prepared photos (None: photo-cache beside the run folder)
    # Synthesise with this camera's noise and colour (SyntheticCamera.to_dict(), from a camera
    # profile: darkdev finetune); None: the kind's modelled camera (Sony A7S II / X-T2).
    camera: dict[str, Any] | None = None
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def schedule_from_speed(self) -> bool:
        """Whether the run fixes its schedule's length from its measured speed: only a decaying
        schedule on a time budget needs one; a constant rate's run simply stops at --max-minutes
        (a length from a slow stretch of a shared machine would stop it early)."""
        return self.max_steps is None and self.lr_schedule != "constant"

    def validate(self) -> None:
        if self.cfa not in CHANNELS:
            raise ParameterError(f"--cfa must be bayer or xtrans, got {self.cfa!r}")
        if self.crop % STRIDE or self.crop <= 0:
            raise ParameterError(f"--crop must be a positive multiple of {STRIDE}, got {self.crop}")
        if self.batch < 1 or self.threads < 1 or self.validate_every < 1:
            raise ParameterError(
                f"--batch, --threads and --validate-every must be >= 1, got {self.batch}, "
                f"{self.threads}, {self.validate_every}"
            )
        if not (math.isfinite(self.later_sgn_lr_scale) and self.later_sgn_lr_scale > 0):
            raise ParameterError(f"--later-sgn-lr-scale must be > 0, got {self.later_sgn_lr_scale}")
        if self.later_sgn_lr_scale != 1.0 and not self.model.startswith(("rmcn", "dmcn")):
            raise ParameterError(
                f"--later-sgn-lr-scale is for an RMCN or DMCN; {self.model} has one SGN"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ParameterError(f"unknown --lr-schedule {self.lr_schedule!r}")
        if self.select_by not in SELECTION_RULES:
            raise ParameterError(
                f"--select-by must be one of {', '.join(SELECTION_RULES)}, got {self.select_by!r}"
            )
        if not (self.lr > 0 and self.tv_weight >= 0 and self.max_minutes > 0):
            raise ParameterError(
                f"--lr and --max-minutes must be > 0, --tv-weight >= 0; got {self.lr}, "
                f"{self.max_minutes}, {self.tv_weight}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ParameterError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if self.lowpass_weight < 0 or self.ssim_weight < 0:
            raise ParameterError(
                f"--lowpass-weight and --ssim-weight must be >= 0, got {self.lowpass_weight}, "
                f"{self.ssim_weight}"
            )
        if self.noise_widening is not None and not (
            math.isfinite(self.noise_widening) and self.noise_widening >= 1
        ):
            raise ParameterError(f"--noise-widening must be >= 1, got {self.noise_widening}")
        if not (math.isfinite(self.black_error_dn) and self.black_error_dn >= 0):
            raise ParameterError(f"--black-error-dn must be >= 0, got {self.black_error_dn}")
        check_precision(self.precision)
        if (self.sid_root is None) != (self.sid_list is None):
            raise ParameterError("--sid-root and --sid-list go together")

    def synthetic_camera(self) -> SyntheticCamera | None:
        return None if self.camera is None else SyntheticCamera.from_dict(self.camera)

    def augment(self) -> synthetic.AugmentConfig:
        return synthetic.AugmentConfig(
            noise=NoiseRange(
                widening=self.noise_widening, black_error_sigma_dn=self.black_error_dn
            ),
            lam_max=self.lam_max,
            input_convention=self.input_convention,
            camera=self.synthetic_camera(),
        )

    @property
    def input_convention(self) -> InputConvention:
        return InputConvention(self.white_balance_input, self.below_black_input)


def bfloat16_autocast(device, precision: str) -> bool:
    """Whether training on a torch device runs in bf16 autocast (see TrainConfig.precision)."""
    if precision == "auto":
        return native_half_dtype(device) is not None
    return precision == "half"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m darkdev.train", description=DESCRIPTION)
    defaults = TrainConfig()
    for add_arguments in (
        _add_run_arguments,
        _add_model_arguments,
        _add_optimisation_arguments,
        _add_data_arguments,
        _add_validation_arguments,
    ):
        add_arguments(parser, defaults)
    return parser


def _add_run_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    group = parser.add_argument_group("the run: output, length, resuming, this machine")
    group.add_argument("--out", default=defaults.out)
    group.add_argument("--resume", action="store_true")
    group.add_argument("--max-minutes", type=float, default=defaults.max_minutes)
    group.add_argument("--max-steps", type=int, default=None)
    group.add_argument(
        "--session-steps",
        type=int,
        default=None,
        help="stop after N steps of this session (resume later with --resume)",
    )
    group.add_argument("--seed", type=int, default=defaults.seed)
    group.add_argument("--threads", type=int, default=defaults.threads)
    group.add_argument("--data-workers", type=int, default=defaults.data_workers)
    group.add_argument("--log-every", type=int, default=defaults.log_every, help="steps")
    group.add_argument("--checkpoint-minutes", type=float, default=defaults.checkpoint_minutes)
    group.add_argument("--debug", action="store_true", help="Show tracebacks (darkdev train).")


def _add_model_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    group = parser.add_argument_group("the network and where it starts")
    group.add_argument("--model", default=defaults.model)
    group.add_argument("--cfa", default=defaults.cfa, choices=sorted(CHANNELS))
    group.add_argument("--width", type=int, default=defaults.width)
    group.add_argument(
        "--init-from",
        default=None,
        help="checkpoint to start from (a safetensors file, or a bundled one by name: "
        "`darkdev models`): the same model at its width or narrower (widened exactly), or an "
        "LTS to grow into rmcn-N-nobc",
    )


def _add_optimisation_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    group = parser.add_argument_group("the optimisation: batches, learning rate, loss")
    group.add_argument("--crop", type=int, default=defaults.crop, help="packed crop side")
    group.add_argument("--batch", type=int, default=defaults.batch)
    group.add_argument("--lr", type=float, default=defaults.lr)
    group.add_argument("--lr-schedule", default=defaults.lr_schedule, choices=LR_SCHEDULES)
    group.add_argument(
        "--later-sgn-lr-scale",
        type=float,
        default=defaults.later_sgn_lr_scale,
        help="an MCN's SGN-2..n learn at lr times this (e.g. 10 for an RMCN grown from an LTS)",
    )
    group.add_argument("--tv-weight", type=float, default=defaults.tv_weight, help="beta")
    group.add_argument(
        "--lowpass-weight",
        type=float,
        default=defaults.lowpass_weight,
        help="L1 on 8x8 block means (tone and colour; not in the paper)",
    )
    group.add_argument(
        "--ssim-weight",
        type=float,
        default=defaults.ssim_weight,
        help="weight of 1 - SSIM of the output (not in the paper)",
    )
    group.add_argument(
        "--ema-decay",
        type=float,
        default=defaults.ema_decay,
        help="validate, keep and export an exponential moving average of the weights with this "
        "decay, e.g. 0.999 (0: off; not in the paper)",
    )
    group.add_argument(
        "--precision",
        default=defaults.precision,
        choices=PRECISIONS,
        help="bf16 autocast where native (auto: CUDA, CPUs with AMX or AVX512-BF16), "
        "float32 (full) or bf16 anywhere (half)",
    )


def _add_data_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    group = parser.add_argument_group("the training pairs: photos, noise, what the network sees")
    group.add_argument("--photos", default=defaults.photos)
    group.add_argument("--content-reuse", type=int, default=defaults.content_reuse)
    group.add_argument("--lam-max", type=float, default=defaults.lam_max)
    group.add_argument("--white-balance-input", action="store_true")
    group.add_argument(
        "--below-black-input",
        action="store_true",
        help="keep the noisy values below black in the network's input (amplified, floored at "
        f"{BELOW_BLACK_FLOOR:g}) instead of clipping them at zero",
    )
    group.add_argument(
        "--black-error-dn",
        type=float,
        default=0.0,
        help="train with each colour's black level off by a normal draw of this spread in DN "
        "(a camera's inexact black, which the ratio amplifies); validation keeps it exact",
    )
    group.add_argument(
        "--noise-widening",
        type=float,
        default=None,
        help="train on the calibrated K range widened by this factor (and log-sigma spread), "
        "instead of the kind's default (1 Bayer, 1.5 X-Trans); validation keeps the default",
    )
    group.add_argument("--sid-root", default=None)
    group.add_argument("--sid-list", default=None)


def _add_validation_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    group = parser.add_argument_group("validation: when, on what, which step is best")
    group.add_argument("--validate-every", type=int, default=defaults.validate_every)
    group.add_argument("--validation-count", type=int, default=defaults.validation_count)
    group.add_argument(
        "--select-by",
        default=defaults.select_by,
        choices=SELECTION_RULES,
        help="which validated weights are the run's best: mean PSNR of the splits (psnr), "
        "that plus mean SSIM in dB, -10 log10(1 - SSIM) (psnr+ssim), or mean SSIM (ssim)",
    )
    group.add_argument(
        "--detail-validation",
        action=argparse.BooleanOptionalAction,
        default=defaults.detail_validation,
        help="validate on dead leaves at high ISO too, a third split that --select-by counts "
        "(default: on)",
    )
    group.add_argument(
        "--validation-set",
        metavar="DIR",
        help="validate on DIR's validation-CFA-SPLIT.npz (copied into the run folder at its "
        "start; e.g. the sets darkdev publish and rescore score on) instead of building them",
    )
    group.add_argument(
        "--keep-validated-weights",
        action="store_true",
        help="also write each validated step's weights to validated/step-NNNNNN.safetensors",
    )
    group.add_argument("--validation-packed-px", type=int, default=None, help="tests only")


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    arguments = _parser().parse_args(argv)
    values = {k.replace("-", "_"): v for k, v in vars(arguments).items() if k != "debug"}
    given = argv if argv is not None else sys.argv[1:]
    # --debug only changes how errors are shown: not part of what trained the weights.
    command = "python -m darkdev.train " + " ".join(shlex.quote(a) for a in given if a != "--debug")
    if values["init_from"] is not None:  # a bundled checkpoint's name becomes its file
        values["init_from"] = str(resolve_checkpoint(values["init_from"], values["cfa"]))
    return TrainConfig(**values, command=command)
