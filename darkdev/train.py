"""Training: synthetic pairs (or SID), the loss of SPEC.md, Adam, resumable checkpoints, logs.

    python -m darkdev.train --model lts --cfa bayer --width 16 --crop 128 --batch 4 \
        --max-minutes 40 --out runs/NAME [--resume]

Data parallel (DistributedDataParallel; gloo on CPU, nccl on CUDA), --batch is the whole batch:

    torchrun --standalone --nproc_per_node 2 -m darkdev.train --batch 8 ... --out runs/NAME

Determinism: the batch of step k depends only on (seed, k) (training.synthetic.step_generator), the model is
initialised from the seed, and a checkpoint holds model, optimizer, step and the LR schedule's
length, so a stopped-and-resumed run reproduces an uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from darkdev import metrics, weights
from darkdev.cfa import CHANNELS
from darkdev.errors import ParameterError, ShapeError
from darkdev.models import STRIDE, build_model, parameter_count
from darkdev.training import photos as photo_files
from darkdev.training import synthetic
from darkdev.training.sid import SidDataset
from darkdev.training.validation import (
    SPLITS,
    ValidationSet,
    build_validation_set,
    load_validation_set,
    save_validation_set,
)

DEFAULT_PHOTOS = "~/.cache/darkdev/photos"  # where scripts/fetch_training_photos.py writes
CHECKPOINT_NAME = "last.pt"
LOG_NAME = "log.jsonl"
INIT_NAME = "init.safetensors"  # copy of --init-from
# The LR schedule's length is fixed from the speed of steps 20..120 of the first session
# (the first steps are slow: worker start-up, allocator warm-up).
SPEED_WARMUP_STEPS = 20
STEPS_FOR_SPEED_ESTIMATE = 100


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
    tv_weight: float = 1.0  # beta of SPEC.md's loss (paper: 1)
    # Not in the paper: weight of an L1 term on 8x8 block means of the final output, which
    # carries tone and colour without the pixel noise that dominates the per-pixel L1's signs.
    lowpass_weight: float = 0.0
    seed: int = 0
    threads: int = 2
    validate_every: int = 500  # steps
    validation_count: int = 16
    checkpoint_minutes: float = 5.0
    log_every: int = 25
    photos: str = DEFAULT_PHOTOS
    data_workers: int = 1  # processes generating batches ahead (0: inline)
    content_reuse: int = 1  # unused since pairs are made in torch (kept so old configs resume)
    validation_packed_px: int | None = None  # None: validation.VALIDATION_PACKED_PX (>= 512 raw px)
    lam_max: float = 0.0  # RIMEF lambda range in training (0: linear amplification, as SID)
    white_balance_input: bool = False  # multiply packed raw by as-shot WB gains (SPEC.md)
    init_from: str | None = None  # start from these weights (same architecture), not random
    sid_root: str | None = None  # train on SID instead of synthetic pairs
    sid_list: str | None = None
    photo_names: list[str] | None = None  # resolved at the first start, kept on resume
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.cfa not in CHANNELS:
            raise ParameterError(f"--cfa must be bayer or xtrans, got {self.cfa!r}")
        if self.crop % STRIDE or self.crop <= 0:
            raise ParameterError(f"--crop must be a positive multiple of {STRIDE}, got {self.crop}")
        if self.batch < 1 or self.threads < 1 or self.validate_every < 1:
            raise ParameterError("--batch, --threads and --validate-every must be >= 1")
        if self.lr_schedule not in ("step", "cosine", "constant"):
            raise ParameterError(f"unknown --lr-schedule {self.lr_schedule!r}")
        if not (self.lr > 0 and self.tv_weight >= 0 and self.max_minutes > 0):
            raise ParameterError("--lr and --max-minutes must be > 0, --tv-weight >= 0")
        if self.lowpass_weight < 0:
            raise ParameterError(f"--lowpass-weight must be >= 0, got {self.lowpass_weight}")
        if (self.sid_root is None) != (self.sid_list is None):
            raise ParameterError("--sid-root and --sid-list go together")

    def augment(self) -> synthetic.AugmentConfig:
        return synthetic.AugmentConfig(
            lam_max=self.lam_max, white_balance_input=self.white_balance_input
        )


# ----------------------------------------------------------------------------- loss


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """mean |d/dx| + mean |d/dy| of an (N, 3, H, W) image."""
    return (image[..., :, 1:] - image[..., :, :-1]).abs().mean() + (
        image[..., 1:, :] - image[..., :-1, :]
    ).abs().mean()


LOWPASS_BLOCK_PX = 8


def compute_loss(
    outputs: list[torch.Tensor],
    target: torch.Tensor,
    tv_weight: float,
    lowpass_weight: float = 0.0,
) -> torch.Tensor:
    """SPEC.md Eq. 14-16: L1 over every supervised output + beta * TV of the final output.

    lowpass_weight > 0 adds that weight times the L1 between 8x8 block means of the final output
    and of the target (our addition, measured in the README).
    """
    if not outputs:
        raise ShapeError("model returned no outputs")
    reconstruction = sum((output - target).abs().mean() for output in outputs)
    loss = reconstruction + tv_weight * total_variation(outputs[-1])
    if lowpass_weight > 0:
        pooled_output = torch.nn.functional.avg_pool2d(outputs[-1], LOWPASS_BLOCK_PX)
        pooled_target = torch.nn.functional.avg_pool2d(target, LOWPASS_BLOCK_PX)
        loss = loss + lowpass_weight * (pooled_output - pooled_target).abs().mean()
    return loss


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    progress = step / max(total_steps, 1)
    if config.lr_schedule == "step":
        return config.lr if progress < 0.5 else config.lr / 10
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr


# ----------------------------------------------------------------------------- data


class BatchSource:
    """Builds the batch of any step from (seed, step) alone.

    Synthetic pairs are made in torch on the training device (training.synthetic); SID batches
    in numpy. With world_size ranks, rank r builds items r*b .. r*b + b - 1 (b = batch /
    world_size) of the step's batch, so the ranks together train on exactly the batch one
    process would.
    """

    def __init__(
        self, config: TrainConfig, rank: int = 0, world_size: int = 1, device: str = "cpu"
    ) -> None:
        if config.batch % world_size:
            raise ParameterError(
                f"--batch {config.batch} must be a multiple of the number of ranks ({world_size})"
            )
        self.config = config
        self.rank = rank
        self.world_size = world_size
        self.items_per_rank = config.batch // world_size
        self.device = device
        self._bank: synthetic.PhotoBank | None = None
        self._sid: SidDataset | None = None

    def _setup(self) -> None:
        if self.config.sid_root is not None:
            if self._sid is None:
                self._sid = SidDataset(
                    self.config.sid_root,
                    self.config.sid_list or "",
                    Path(self.config.out) / "sid-cache",
                    self.config.crop,
                    self.config.white_balance_input,
                )
        elif self._bank is None:
            self._bank = synthetic.PhotoBank(training_photos(self.config), self.device)

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._setup()
        first_item = self.rank * self.items_per_rank
        if self._sid is not None:
            inputs, targets = self._sid.batch(
                self.items_per_rank, self.config.seed, step, first_item
            )
            return torch.from_numpy(inputs), torch.from_numpy(targets)
        assert self._bank is not None
        with torch.no_grad():
            batch = synthetic.synthetic_batch(
                self._bank,
                self.config.cfa,
                self.config.crop,
                self.items_per_rank,
                self.config.seed,
                step,
                self.config.augment(),
                first_item=first_item,
            )
        return batch.inputs, batch.targets

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_bank": None, "_sid": None}


def photo_cache_dir(config: TrainConfig) -> Path:
    """Prepared photos kept beside the run folders, shared by later runs (decoding is slow)."""
    return Path(config.out).resolve().parent / "photo-cache"


def _photo_split(config: TrainConfig, validation: bool) -> list[photo_files.Photo]:
    names = config.photo_names or photo_files.list_photo_names(config.photos)
    chosen = photo_files.split_names(names)[1 if validation else 0]
    return photo_files.load_photos(config.photos, names=chosen, cache_dir=photo_cache_dir(config))


def training_photos(config: TrainConfig) -> list[photo_files.Photo]:
    """The run's training photos (never a validation photo); loads only those files."""
    return _photo_split(config, validation=False)


def validation_photos(config: TrainConfig) -> list[photo_files.Photo]:
    return _photo_split(config, validation=True)


_WORKER_SOURCE: BatchSource | None = None  # one per worker process, so photos load once


def _worker_init(source: BatchSource) -> None:
    global _WORKER_SOURCE
    torch.set_num_threads(1)  # the generator is numpy; keep the cores for the network
    _WORKER_SOURCE = source


def _worker_batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    assert _WORKER_SOURCE is not None
    return _WORKER_SOURCE(step)


class Prefetcher:
    """Keeps `depth` future batches computing in worker processes (or computes inline)."""

    def __init__(self, source: BatchSource, first_step: int, workers: int, depth: int = 3) -> None:
        self.source = source
        self.next_step = first_step
        self.pool = None
        self.pending: deque = deque()
        if workers > 0:
            import multiprocessing

            self.pool = multiprocessing.get_context("spawn").Pool(
                workers, initializer=_worker_init, initargs=(source,)
            )
            for _ in range(depth):
                self._submit()

    def _submit(self) -> None:
        assert self.pool is not None
        # Only the step number travels: the worker keeps its own BatchSource (and loaded photos).
        self.pending.append(self.pool.apply_async(_worker_batch, (self.next_step,)))
        self.next_step += 1

    def get(self) -> tuple[np.ndarray, np.ndarray]:
        if self.pool is None:
            batch = self.source(self.next_step)
            self.next_step += 1
            return batch
        batch = self.pending.popleft().get()
        self._submit()
        return batch

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


def validation_sets(config: TrainConfig) -> dict[str, ValidationSet]:
    """The fixed validation crops of this CFA kind, per split (cached in the run folder)."""
    result = {}
    photos = None
    for split in SPLITS:
        path = Path(config.out) / f"validation-{config.cfa}-{split}.npz"
        if path.exists():
            result[split] = load_validation_set(path)
            continue
        if photos is None:
            photos = validation_photos(config)
        result[split] = build_validation_set(
            photos,
            config.cfa,
            split,
            config.validation_count,
            packed_px=config.validation_packed_px,
        )
        save_validation_set(result[split], path)
    return result


# ----------------------------------------------------------------------------- evaluation


def predict(model: torch.nn.Module, packed: np.ndarray, device: torch.device) -> np.ndarray:
    """(C, h, w) amplified packed raw -> (h*s, w*s, 3) float32 sRGB clipped to [0, 1]."""
    if packed.ndim != 3 or packed.shape[1] % STRIDE or packed.shape[2] % STRIDE:
        raise ShapeError(
            f"packed input must be (C, h, w) with sides multiple of {STRIDE}, got {packed.shape}"
        )
    with torch.no_grad():
        output = model(torch.from_numpy(np.ascontiguousarray(packed))[None].to(device))
    return output[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def score_model(
    model: torch.nn.Module,
    validation: ValidationSet,
    device: torch.device,
    white_balance_input: bool = False,
) -> tuple[float, float]:
    """Mean PSNR and SSIM of a model over a validation set."""
    was_training = model.training
    model.eval()
    psnrs, ssims = [], []
    inputs = validation.network_inputs(white_balance_input)
    for packed, target in zip(inputs, validation.targets, strict=True):
        output = predict(model, packed, device)
        psnrs.append(metrics.psnr(target, output))
        ssims.append(metrics.ssim(target, output))
    model.train(was_training)
    return float(np.mean(psnrs)), float(np.mean(ssims))


def score_classical(validation: ValidationSet) -> tuple[float, float]:
    if validation.classical is None:
        return math.nan, math.nan  # made without LibRaw (the GPU machine)
    psnrs = [
        metrics.psnr(t, c) for t, c in zip(validation.targets, validation.classical, strict=True)
    ]
    ssims = [
        metrics.ssim(t, c) for t, c in zip(validation.targets, validation.classical, strict=True)
    ]
    return float(np.mean(psnrs)), float(np.mean(ssims))


# ----------------------------------------------------------------------------- checkpoints


def _atomic_torch_save(document: dict, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(document, temporary)
    os.replace(temporary, path)


def save_training_state(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Model, optimizer, step and bookkeeping as plain tensors/dicts (loadable weights_only)."""
    _atomic_torch_save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            **state,
        },
        path,
    )


def load_training_state(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _read_log(path: Path, up_to_step: int) -> list[dict]:
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [entry for entry in entries if entry.get("step", 0) <= up_to_step]


def plot_curves(log_path: Path, image_path: Path, classical_psnr: float | None) -> None:
    """Training loss and validation PSNR against step (matplotlib, imported lazily)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = _read_log(log_path, 1 << 62)
    losses = [(e["step"], e["loss"]) for e in entries if "loss" in e]
    scores = [(e["step"], e["val_psnr"]) for e in entries if "val_psnr" in e]
    figure, (loss_axis, psnr_axis) = plt.subplots(1, 2, figsize=(10, 4))
    if losses:
        loss_axis.plot(*zip(*losses, strict=True), lw=0.8)
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("training loss (L1 sum + beta TV)")
    loss_axis.set_yscale("log")
    if scores:
        psnr_axis.plot(*zip(*scores, strict=True), marker="o", label="network")
    if classical_psnr is not None:
        psnr_axis.axhline(
            classical_psnr, color="gray", ls="--", label="classical (linear + LibRaw)"
        )
    psnr_axis.set_xlabel("step")
    psnr_axis.set_ylabel("validation PSNR (dB)")
    psnr_axis.legend()
    figure.tight_layout()
    figure.savefig(image_path, dpi=100)
    plt.close(figure)


def initialise_from(model: torch.nn.Module, config: TrainConfig) -> None:
    """Load a checkpoint's weights into a fresh model of the same architecture, width and CFA."""
    assert config.init_from is not None
    source, metadata = weights.load_model(Path(config.init_from), expected_cfa_kind=config.cfa)
    wanted = (config.model, {"width": config.width})
    if (metadata["architecture"], metadata["arguments"]) != wanted:
        raise ParameterError(
            f"--init-from {config.init_from} is {metadata['architecture']} "
            f"{metadata['arguments']}, the run trains {wanted[0]} {wanted[1]}"
        )
    model.load_state_dict(source.state_dict())
    # Keep a copy: the summary's hash must name these weights even if the file is replaced later.
    shutil.copyfile(config.init_from, Path(config.out) / INIT_NAME)


# ----------------------------------------------------------------------------- data parallel


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def join_ranks(use_cuda: bool) -> Ranks:
    """Join the process group torchrun describes in the environment (nccl on CUDA, else gloo)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Ranks()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank)


def agree(ranks: Ranks, device: torch.device, *values: int) -> list[int]:
    """Rank 0's integers on every rank: stop decisions follow rank 0's clock, not each rank's."""
    if ranks.world_size == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.int64, device=device)
    dist.broadcast(tensor, src=0)
    return [int(v) for v in tensor.tolist()]


def check_ranks_in_step(ranks: Ranks, model: torch.nn.Module) -> None:
    """Raise if data-parallel ranks ended with different weights (they must stay identical)."""
    if ranks.world_size == 1:
        return
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    highest, lowest = checksum.clone(), checksum.clone()
    dist.all_reduce(highest, op=dist.ReduceOp.MAX)
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    if highest.item() != lowest.item():
        raise RuntimeError(
            f"data-parallel ranks diverged: weight checksums {lowest.item()} .. {highest.item()}"
        )


class AllOutputs(torch.nn.Module):
    """forward() returns every supervised output, so DistributedDataParallel syncs all of them."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, packed: torch.Tensor) -> list[torch.Tensor]:
        return self.model.forward_all(packed)


STOP_REASONS = ("", "steps", "time", "session_steps")  # index 0: keep going


# ----------------------------------------------------------------------------- training


def train(config: TrainConfig) -> dict[str, Any]:
    """Train (or resume) a model; returns the summary also written to OUT/summary.json."""
    config.validate()
    use_cuda = torch.cuda.is_available()
    ranks = join_ranks(use_cuda)
    try:
        return _train(config, ranks, use_cuda)
    finally:
        if ranks.world_size > 1:
            dist.destroy_process_group()


def _train(config: TrainConfig, ranks: Ranks, use_cuda: bool) -> dict[str, Any]:
    start_wall = time.monotonic()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    device = torch.device(f"cuda:{ranks.local_rank}" if use_cuda else "cpu")
    torch.manual_seed(config.seed)
    model = build_model(config.model, config.cfa, config.width).to(device)  # type: ignore[arg-type]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    forward_all: torch.nn.Module = AllOutputs(model)
    if ranks.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        # Same seed on every rank, and DDP broadcasts rank 0's weights anyway.
        forward_all = DistributedDataParallel(
            forward_all, device_ids=[ranks.local_rank] if use_cuda else None
        )
    checkpoint_path = out / CHECKPOINT_NAME
    log_path = out / LOG_NAME

    step = 0
    elapsed_before_s = 0.0
    total_steps = config.max_steps
    best = {"psnr": -math.inf, "ssim": 0.0, "step": -1, "selection": -math.inf}
    best.update(psnr_high_iso=-math.inf, ssim_high_iso=0.0)
    best_state: dict[str, torch.Tensor] | None = None
    if config.resume and checkpoint_path.exists():
        saved = load_training_state(checkpoint_path)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
        step = int(saved["step"])
        elapsed_before_s = float(saved["elapsed_s"])
        total_steps = int(saved["total_steps"]) if saved["total_steps"] >= 0 else total_steps
        best = {
            "psnr": float(saved["best_psnr"]),
            "ssim": float(saved["best_ssim"]),
            "step": int(saved["best_step"]),
            "selection": float(saved.get("best_selection", saved["best_psnr"])),
            "psnr_high_iso": float(saved.get("best_psnr_high_iso", -math.inf)),
            "ssim_high_iso": float(saved.get("best_ssim_high_iso", 0.0)),
        }
        best_state = saved["best_model"] if saved["best_step"] >= 0 else None
        if ranks.main:
            # Drop log lines written after the checkpoint so the log matches the restored state.
            log_path.write_text("".join(json.dumps(e) + "\n" for e in _read_log(log_path, step)))
    else:
        if config.init_from is not None:
            initialise_from(model, config)
        if log_path.exists() and ranks.main:
            log_path.unlink()
    photos_path = out / "photos.json"
    if config.sid_root is None and config.photo_names is None and ranks.main:
        # Record the photo set once, so a resumed run (or its workers) sees the very same photos.
        if config.resume and photos_path.exists():
            config.photo_names = json.loads(photos_path.read_text())
        else:
            config.photo_names = photo_files.list_photo_names(config.photos)  # raises if none
            photos_path.write_text(json.dumps(config.photo_names, indent=1) + "\n")
    if ranks.world_size > 1:
        shared = [config.photo_names]
        dist.broadcast_object_list(shared, src=0)
        config.photo_names = shared[0]

    budget_s = config.max_minutes * 60.0
    source = BatchSource(config, ranks.rank, ranks.world_size, str(device))
    # Synthetic pairs are made on the training device, in this process; only SID uses workers.
    prefetcher = Prefetcher(source, step, config.data_workers if config.sid_root else 0)
    if ranks.main:
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
        validations = validation_sets(config)
        classical = {split: score_classical(v) for split, v in validations.items()}
        classical_psnr, classical_ssim = classical["all_iso"]
    use_autocast = device.type == "cuda"  # bf16 autocast on GPU; float32 on CPU

    def elapsed() -> float:
        return elapsed_before_s + time.monotonic() - start_wall

    def save(current_step: int) -> None:
        save_training_state(
            checkpoint_path,
            model,
            optimizer,
            {
                "step": current_step,
                "elapsed_s": elapsed(),
                "total_steps": total_steps if total_steps is not None else -1,
                "best_psnr": best["psnr"],
                "best_ssim": best["ssim"],
                "best_step": best["step"],
                "best_selection": best["selection"],
                "best_psnr_high_iso": best["psnr_high_iso"],
                "best_ssim_high_iso": best["ssim_high_iso"],
                "best_model": best_state if best_state is not None else {},
            },
        )

    validated_steps: set[int] = set()

    def run_validation(current_step: int) -> None:
        nonlocal best_state
        validated_steps.add(current_step)
        scores = {
            split: score_model(model, v, device, config.white_balance_input)
            for split, v in validations.items()
        }
        psnr_db, ssim_value = scores["all_iso"]
        high_psnr_db, high_ssim_value = scores["high_iso"]
        selection = (psnr_db + high_psnr_db) / 2  # both splits count: high ISO is where users are
        with open(log_path, "a") as log:
            log.write(
                json.dumps(
                    {
                        "step": current_step,
                        "val_psnr": psnr_db,
                        "val_ssim": ssim_value,
                        "val_psnr_high_iso": high_psnr_db,
                        "val_ssim_high_iso": high_ssim_value,
                        "elapsed_s": round(elapsed(), 1),
                    }
                )
                + "\n"
            )
        print(
            f"step {current_step}: validation PSNR/SSIM all ISO {psnr_db:.3f} / {ssim_value:.4f}"
            f" (classical {classical_psnr:.3f} / {classical_ssim:.4f}), high ISO "
            f"{high_psnr_db:.3f} / {high_ssim_value:.4f} (classical "
            f"{classical['high_iso'][0]:.3f} / {classical['high_iso'][1]:.4f})",
            flush=True,
        )
        if selection > best["selection"]:
            best.update(
                psnr=psnr_db,
                ssim=ssim_value,
                step=current_step,
                selection=selection,
                psnr_high_iso=high_psnr_db,
                ssim_high_iso=high_ssim_value,
            )
            best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}

    model.train()
    last_checkpoint = time.monotonic()
    session_start_step = step
    session_start_time = time.monotonic()
    speed_start_time = session_start_time
    running_loss: list[float] = []
    stopped_by = "steps"
    try:
        while True:
            reason = ""
            if total_steps is not None and step >= total_steps:
                reason = "steps"
            elif elapsed() >= budget_s:
                reason = "time"
            elif (
                config.session_steps is not None
                and step - session_start_step >= config.session_steps
            ):
                reason = "session_steps"
            code, agreed_total = agree(
                ranks,
                device,
                STOP_REASONS.index(reason),
                total_steps if total_steps is not None else -1,
            )
            total_steps = agreed_total if agreed_total >= 0 else None
            if code:
                stopped_by = STOP_REASONS[code]
                break
            inputs, targets = prefetcher.get()
            x, y = inputs.to(device), targets.to(device)
            schedule_length = total_steps if total_steps is not None else 1 << 62
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step, schedule_length)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_autocast):
                outputs = forward_all(x)
            loss = compute_loss(
                [o.float() for o in outputs], y, config.tv_weight, config.lowpass_weight
            )
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP: gradients are averaged over the ranks here
            optimizer.step()
            step += 1
            step_loss = loss.detach()
            if ranks.world_size > 1:
                dist.all_reduce(step_loss)  # log the whole batch's loss, as one process would
                step_loss /= ranks.world_size
            running_loss.append(float(step_loss.item()))
            if step % config.log_every == 0 and ranks.main:
                with open(log_path, "a") as log:
                    log.write(
                        json.dumps(
                            {
                                "step": step,
                                "loss": float(np.mean(running_loss)),
                                "lr": optimizer.param_groups[0]["lr"],
                                "elapsed_s": round(elapsed(), 1),
                            }
                        )
                        + "\n"
                    )
                running_loss.clear()
            if step - session_start_step == SPEED_WARMUP_STEPS:
                speed_start_time = time.monotonic()
            if (
                total_steps is None
                and step - session_start_step == SPEED_WARMUP_STEPS + STEPS_FOR_SPEED_ESTIMATE
            ):
                # Fix the schedule's length from the measured speed (5% kept for validations).
                seconds_per_step = (time.monotonic() - speed_start_time) / STEPS_FOR_SPEED_ESTIMATE
                total_steps = step + int(0.95 * (budget_s - elapsed()) / seconds_per_step)
                if ranks.main:
                    print(
                        f"{seconds_per_step:.3f} s/step; schedule length {total_steps} steps",
                        flush=True,
                    )
            if not ranks.main:
                continue  # validation and checkpoints are rank 0's; the others wait at agree()
            if step % config.validate_every == 0:
                run_validation(step)
            if time.monotonic() - last_checkpoint >= config.checkpoint_minutes * 60:
                save(step)
                last_checkpoint = time.monotonic()
    finally:
        prefetcher.close()
    check_ranks_in_step(ranks, model)
    session_steps = step - session_start_step
    seconds_per_step = (time.monotonic() - session_start_time) / max(session_steps, 1)
    if not ranks.main:
        return {"steps": step, "stopped_by": stopped_by, "rank": ranks.rank}
    if stopped_by == "session_steps":
        save(step)  # an interruption, not the end: no extra validation, so resuming stays exact
        return {"steps": step, "stopped_by": stopped_by, "seconds_per_step": seconds_per_step}
    if step not in validated_steps:
        run_validation(step)
    save(step)

    # Export the best-validation weights.
    assert best_state is not None
    model.load_state_dict(best_state)
    export_path = out / "best.safetensors"
    sha256 = weights.save_checkpoint(
        export_path,
        model,
        config.model,
        {"width": config.width},
        config.cfa,
        white_balance_input=config.white_balance_input,
    )
    try:
        plot_curves(log_path, out / "training_curves.png", classical_psnr)
    except Exception as error:  # a plot must never lose a finished training
        print(f"warning: could not plot curves: {error}", file=sys.stderr)
    summary = {
        "command": config.command,
        "config": asdict(config),
        "initialised_from": None
        if config.init_from is None
        else {"file": config.init_from, "sha256": weights.sha256_of(out / INIT_NAME)},
        "data": ("SID " + str(config.sid_list))
        if config.sid_root
        else f"synthetic pairs made in torch from {config.photos} (ELD noise, ratio 50-300, "
        "un-mosaiced targets; validation: "
        + ", ".join(f"{len(v)} {split} crops" for split, v in validations.items())
        + " of held-out photos, scored against LibRaw's default development)",
        "model": config.model,
        "parameters": parameter_count(model),
        "steps": step,
        "best_step": best["step"],
        "stopped_by": stopped_by,
        "wall_time_s": round(elapsed(), 1),
        "seconds_per_step_this_session": round(seconds_per_step, 4),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}, "
        f"{config.threads} threads, device {device.type}"
        + (f", {ranks.world_size} ranks" if ranks.world_size > 1 else ""),
        "validation": {
            "psnr": best["psnr"],
            "ssim": best["ssim"],
            "classical_psnr": classical_psnr,
            "classical_ssim": classical_ssim,
            "psnr_high_iso": best["psnr_high_iso"],
            "ssim_high_iso": best["ssim_high_iso"],
            "classical_psnr_high_iso": classical["high_iso"][0],
            "classical_ssim_high_iso": classical["high_iso"][1],
            "n_images": len(validations["all_iso"]),
            "crop_raw_px": int(validations["all_iso"].noisy_packed[0].shape[1])
            * (2 if config.cfa == "bayer" else 3),
            "target": validations["all_iso"].target_name,
        },
        "export": {"file": str(export_path), "sha256": sha256},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------------- publishing


def _initialisation_record(summary: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Where a continued run started: the file, its hash and, if the manifest knows that hash,
    the training and validation record of that earlier checkpoint (so the chain stays known)."""
    record = dict(summary["initialised_from"])
    for entry in weights.read_manifest(directory):
        if entry.sha256 == record["sha256"]:
            record["training"] = entry.training
            record["validation"] = entry.validation
    return record


def publish(
    run_directory: str | Path,
    file_name: str,
    weights_directory: Path | None = None,
    default: bool = True,
) -> weights.CheckpointEntry:
    """Copy a finished run's best.safetensors into weights/ and add/replace its manifest entry.

    The entry's numbers come from the run's summary.json (measured by this code). With
    default=True, other entries of the same CFA kind stop being the default.
    """
    run_directory = Path(run_directory)
    directory = weights_directory or weights.weights_dir()
    summary = json.loads((run_directory / "summary.json").read_text())
    config = summary["config"]
    destination = directory / file_name
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_directory / "best.safetensors", destination)
    sha256 = weights.sha256_of(destination)
    if sha256 != summary["export"]["sha256"]:
        raise OSError(f"{destination}: copy differs from {run_directory / 'best.safetensors'}")
    validation = summary["validation"]
    entry = weights.CheckpointEntry(
        file=file_name,
        sha256=sha256,
        architecture=config["model"],
        arguments={"width": config["width"]},
        cfa_kind=config["cfa"],
        default=default,
        size_bytes=destination.stat().st_size,
        training={
            "command": summary["command"],
            "data": summary["data"],
            "steps": summary["steps"],
            "best_step": summary["best_step"],
            "wall_time_s": summary["wall_time_s"],
            "machine": summary["machine"],
            "lr": config["lr"],
            "lr_schedule": config["lr_schedule"],
            "tv_weight": config["tv_weight"],
            "lowpass_weight": config.get("lowpass_weight", 0.0),
            "crop_packed_px": config["crop"],
            "batch": config["batch"],
            "white_balance_input": config["white_balance_input"],
            "lam_max": config["lam_max"],
            **(
                {"initialised_from": _initialisation_record(summary, directory)}
                if summary.get("initialised_from")
                else {}
            ),
        },
        validation={
            "psnr": round(validation["psnr"], 4),
            "ssim": round(validation["ssim"], 4),
            "classical_psnr": round(validation["classical_psnr"], 4),
            "classical_ssim": round(validation["classical_ssim"], 4),
            "n_images": validation["n_images"],
            "set": f"synthetic, {validation['n_images']} fixed {validation['crop_raw_px']} px "
            "crops of held-out photos",
        },
    )
    entries = [e for e in weights.read_manifest(directory) if e.file != file_name]
    if default:
        for other in entries:
            if other.cfa_kind == entry.cfa_kind:
                other.default = False
    weights.write_manifest([*entries, entry], directory)
    return entry


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(
        prog="python -m darkdev.train", description=__doc__.split("\n")[0]
    )
    defaults = TrainConfig()
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--cfa", default=defaults.cfa, choices=sorted(CHANNELS))
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--crop", type=int, default=defaults.crop, help="packed crop side")
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--max-minutes", type=float, default=defaults.max_minutes)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument(
        "--session-steps",
        type=int,
        default=None,
        help="stop after N steps of this session (resume later with --resume)",
    )
    parser.add_argument("--out", default=defaults.out)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument(
        "--lr-schedule", default=defaults.lr_schedule, choices=["step", "cosine", "constant"]
    )
    parser.add_argument("--tv-weight", type=float, default=defaults.tv_weight, help="beta")
    parser.add_argument(
        "--lowpass-weight",
        type=float,
        default=defaults.lowpass_weight,
        help="L1 on 8x8 block means (tone and colour; not in the paper)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--validate-every", type=int, default=defaults.validate_every)
    parser.add_argument("--validation-count", type=int, default=defaults.validation_count)
    parser.add_argument("--validation-packed-px", type=int, default=None, help="tests only")
    parser.add_argument("--log-every", type=int, default=defaults.log_every, help="steps")
    parser.add_argument("--checkpoint-minutes", type=float, default=defaults.checkpoint_minutes)
    parser.add_argument("--photos", default=defaults.photos)
    parser.add_argument("--data-workers", type=int, default=defaults.data_workers)
    parser.add_argument("--content-reuse", type=int, default=defaults.content_reuse)
    parser.add_argument("--lam-max", type=float, default=defaults.lam_max)
    parser.add_argument("--white-balance-input", action="store_true")
    parser.add_argument(
        "--init-from", default=None, help="safetensors checkpoint to start from (same model)"
    )
    parser.add_argument("--sid-root", default=None)
    parser.add_argument("--sid-list", default=None)
    arguments = parser.parse_args(argv)
    values = {k.replace("-", "_"): v for k, v in vars(arguments).items()}
    command = "python -m darkdev.train " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    return TrainConfig(**values, command=command)


def main(argv: list[str] | None = None) -> int:
    import signal

    # SIGTERM (kill PID) unwinds like Ctrl-C, so the data worker processes are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    config = parse_args(argv)
    summary = train(config)
    if "validation" not in summary:
        return 0  # a data-parallel rank other than 0, or a session stopped by --session-steps
    validation = summary["validation"]
    print(
        f"done: {summary['steps']} steps, best PSNR {validation['psnr']:.3f} dB / SSIM "
        f"{validation['ssim']:.4f}; classical {validation['classical_psnr']:.3f} / "
        f"{validation['classical_ssim']:.4f}; weights {summary['export']['file']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
