"""A training run's state: built, resumed from last.pt (or started from --init-from), saved.

The loop (training.loop) changes a Run as it goes; save() writes all of it to last.pt, so a
resumed run goes on exactly where the saved one stopped.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import torch

from darkdev.errors import ParameterError
from darkdev.models import build_model, channels_last
from darkdev.network_input import InputConvention
from darkdev.training import photos as photo_files
from darkdev.training.averaging import Average, check_average, start_average
from darkdev.training.batches import validation_sets
from darkdev.training.checkpoints import (
    CHECKPOINT_NAME,
    initialise_from,
    keep_init_copy,
    load_training_state,
    save_training_state,
)
from darkdev.training.config import TrainConfig
from darkdev.training.curves import LOG_NAME, truncate_log
from darkdev.training.distributed import Ranks, share_object, wrap_for_ranks
from darkdev.training.evaluation import score_classical, score_model
from darkdev.training.validation import ValidationSet

Scores = dict[str, tuple[float, float]]  # split -> (PSNR dB, SSIM)


def selection_score(select_by: str, scores: Mapping[str, tuple[float, float]]) -> float:
    """How good one validation is under a rule of config.SELECTION_RULES (higher is better):
    every split counts alike (high ISO and detail are where users are)."""
    if not scores:
        raise ParameterError("no validation scores to select by")
    mean_psnr_db = sum(psnr_db for psnr_db, _ in scores.values()) / len(scores)
    mean_ssim = sum(ssim for _, ssim in scores.values()) / len(scores)
    if select_by == "psnr":
        return mean_psnr_db
    if select_by == "ssim":
        return mean_ssim
    if select_by == "psnr+ssim":
        ssim_db = [-10 * math.log10(max(1 - ssim, 1e-10)) for _, ssim in scores.values()]
        return mean_psnr_db + sum(ssim_db) / len(scores)
    raise ParameterError(f"unknown selection rule {select_by!r}")


@dataclass
class Best:
    """The best validation so far (by config.select_by), its scores per split and its weights."""

    step: int = -1
    selection: float = -math.inf
    scores: Scores = field(default_factory=dict)
    state: dict[str, torch.Tensor] | None = None


@dataclass
class Run:
    """Everything the loop changes as it goes; saved to last.pt by save()."""

    config: TrainConfig
    ranks: Ranks
    device: torch.device
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    forward_all: torch.nn.Module
    start_wall: float
    step: int = 0
    elapsed_before_s: float = 0.0
    total_steps: int | None = None
    best: Best = field(default_factory=Best)
    validations: dict[str, ValidationSet] = field(default_factory=dict)
    classical: dict[str, tuple[float, float]] = field(default_factory=dict)
    validated_steps: set[int] = field(default_factory=set)
    ema: Average | None = None  # the weight average with --ema-decay (training.averaging)
    started_from_init: bool = False  # --init-from loaded now: its copy is kept with config.json
    running_loss: list[float] = field(default_factory=list)
    session_start_step: int = 0
    session_start_time: float = 0.0
    speed_start_time: float = 0.0
    last_checkpoint: float = 0.0

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def log_path(self) -> Path:
        return self.out / LOG_NAME

    def elapsed(self) -> float:
        return self.elapsed_before_s + time.monotonic() - self.start_wall

    def budget_s(self) -> float:
        return self.config.max_minutes * 60.0


def build_run(config: TrainConfig, ranks: Ranks, use_cuda: bool) -> Run:
    start_wall = time.monotonic()
    torch.set_num_threads(config.threads)
    device = torch.device(f"cuda:{ranks.local_rank}" if use_cuda else "cpu")
    torch.manual_seed(config.seed)
    model = channels_last(build_model(config.model, config.cfa, config.width).to(device))
    optimizer = build_optimizer(model, config)
    forward_all = wrap_for_ranks(model, ranks, use_cuda)
    return Run(config, ranks, device, model, optimizer, forward_all, start_wall)


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam; with config.later_sgn_lr_scale != 1, an MCN's parameters outside SGN-1 form a second
    group (loop.group_learning_rates gives each group its rate, from the config)."""
    if config.later_sgn_lr_scale == 1.0:
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    sgns = cast(torch.nn.ModuleList, model.sgns)
    first_ids = {id(p) for p in sgns[0].parameters()}
    first = [p for p in model.parameters() if id(p) in first_ids]
    later = [p for p in model.parameters() if id(p) not in first_ids]
    return torch.optim.Adam([{"params": first}, {"params": later}], lr=config.lr)


def resume_or_start(run: Run) -> None:
    """Restore last.pt with --resume (when there is one); else start fresh or from --init-from."""
    config = run.config
    checkpoint_path = run.out / CHECKPOINT_NAME
    run.total_steps = config.max_steps
    if config.resume and checkpoint_path.exists():
        saved = load_training_state(checkpoint_path)
        run.model.load_state_dict(saved["model"])
        saved_groups = len(saved["optimizer"]["param_groups"])
        if saved_groups != len(run.optimizer.param_groups):
            raise ParameterError(
                f"{checkpoint_path}: saved with {saved_groups} learning-rate group(s); resume "
                "with the --later-sgn-lr-scale it was started with (1 gives one group)"
            )
        run.optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
        run.step = int(saved["step"])
        run.elapsed_before_s = float(saved["elapsed_s"])
        if saved["total_steps"] >= 0 and config.schedule_from_speed:  # else: --max-steps or none
            run.total_steps = int(saved["total_steps"])
        run.best = Best(
            step=int(saved["best_step"]),
            selection=-math.inf,  # rescore_best ranks it under this session's --select-by
            scores=saved_best_scores(saved),
            state=saved["best_model"] if saved["best_step"] >= 0 else None,
        )
        run.ema = resumed_average(run, saved)
        if run.ranks.main:
            truncate_log(run.log_path, run.step)
        return
    if config.init_from is not None:
        initialise_from(run.model, config)
        run.started_from_init = True
    run.ema = start_average(run.model) if config.ema_decay > 0 else None
    if run.log_path.exists() and run.ranks.main:
        run.log_path.unlink()


def resumed_average(run: Run, saved: Mapping[str, Any]) -> Average | None:
    """The saved weight average; with --ema-decay and none saved (a run started without it), the
    average starts from the resumed weights."""
    if run.config.ema_decay <= 0:
        return None
    if not saved.get("ema"):
        print(f"step {run.step}: the weight average starts here", flush=True)
        return start_average(run.model)
    average = {name: tensor.to(run.device) for name, tensor in saved["ema"].items()}
    check_average(average, run.model)
    return average


def saved_best_scores(saved: Mapping[str, Any]) -> Scores:
    """The best validation's scores per split from last.pt; one saved before there were per-split
    scores has best_psnr/best_ssim (all ISO) and perhaps best_psnr_high_iso/best_ssim_high_iso."""
    if "best_scores" in saved:
        return {split: (float(p), float(s)) for split, (p, s) in saved["best_scores"].items()}
    scores: Scores = {}
    for split, suffix in (("all_iso", ""), ("high_iso", "_high_iso")):
        psnr_db = float(saved.get(f"best_psnr{suffix}", -math.inf))
        if math.isfinite(psnr_db):
            scores[split] = (psnr_db, float(saved[f"best_ssim{suffix}"]))
    return scores


def rescore_best(run: Run) -> None:
    """Score the best weights on splits they were not validated on (a resumed run that now has
    more splits), then re-rank them under this session's --select-by (which may differ)."""
    best = run.best
    if best.state is None:
        return
    missing = [split for split in run.validations if split not in best.scores]
    if missing:
        model = copy.deepcopy(run.model)
        model.load_state_dict(best.state)
        for split in missing:
            validation = run.validations[split]
            best.scores[split] = score_model(
                model, validation, run.device, run.config.input_convention
            )
        print(f"best weights (step {best.step}) scored on {', '.join(missing)} too", flush=True)
    best.selection = selection_score(
        run.config.select_by, {split: best.scores[split] for split in run.validations}
    )


def record_photo_names(run: Run) -> None:
    """Record the photo set once, so a resumed run (or its ranks) sees the very same photos."""
    config = run.config
    photos_path = run.out / "photos.json"
    if config.sid_root is None and config.photo_names is None and run.ranks.main:
        if config.resume and photos_path.exists():
            config.photo_names = json.loads(photos_path.read_text())
        else:
            config.photo_names = photo_files.list_photo_names(config.photos)  # raises if none
            run.out.mkdir(parents=True, exist_ok=True)
            photos_path.write_text(json.dumps(config.photo_names, indent=1) + "\n")
    config.photo_names = share_object(run.ranks, config.photo_names)


INVOCATIONS_NAME = "invocations.jsonl"  # one line per start or resume of the run


def code_version() -> str | None:
    """This code's git commit (+ a mark when darkdev/ has uncommitted changes); None outside git."""
    root = Path(__file__).resolve().parents[2]

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *arguments], capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", "darkdev")
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + (" with uncommitted changes" if changed else "")) if commit else None


def record_invocation(run: Run) -> None:
    """Append this start (or resume) to the run's history: a finished run's summary lists every
    command that trained it, from which step, on which code."""
    entry = {
        "command": run.config.command,
        "from_step": run.step,
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": code_version(),
    }
    with open(run.out / INVOCATIONS_NAME, "a") as stream:
        stream.write(json.dumps(entry) + "\n")


def read_invocations(run_directory: Path) -> list[dict]:
    path = run_directory / INVOCATIONS_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_same_input(run: Run) -> None:
    """A resumed run keeps the input convention it started with: a network cannot switch what it
    sees halfway through one run (start a new run --init-from its weights instead)."""
    config_path = run.out / "config.json"
    if not (run.config.resume and config_path.exists()):
        return
    started = InputConvention.from_metadata(json.loads(config_path.read_text()))
    if started != run.config.input_convention:
        raise ParameterError(
            f"{run.out} was started with input {started.describe()}, resumed with "
            f"{run.config.input_convention.describe()}: resume with the options it started with"
        )


def prepare_validation(run: Run) -> None:
    """Rank 0: the run's folder (made only now: a run that cannot start leaves none behind),
    config.json and history, its validation sets and the classical baseline's scores."""
    check_same_input(run)
    run.out.mkdir(parents=True, exist_ok=True)
    if run.started_from_init:
        keep_init_copy(run.config)
    (run.out / "config.json").write_text(json.dumps(asdict(run.config), indent=2) + "\n")
    record_invocation(run)
    run.validations = validation_sets(run.config)
    for validation in run.validations.values():  # before any step, not at the first validation
        validation.check_input(run.config.input_convention)
    run.classical = {split: score_classical(v) for split, v in run.validations.items()}
    rescore_best(run)


def save(run: Run) -> None:
    best = run.best
    save_training_state(
        run.out / CHECKPOINT_NAME,
        run.model,
        run.optimizer,
        {
            "step": run.step,
            "elapsed_s": run.elapsed(),
            "total_steps": run.total_steps if run.total_steps is not None else -1,
            "best_step": best.step,
            "best_selection": best.selection,
            "best_scores": {split: list(pair) for split, pair in best.scores.items()},
            "best_model": best.state if best.state is not None else {},
            "ema": run.ema if run.ema is not None else {},
        },
    )
