"""The training loop: step, validate, decide when to stop, finish (state.py: set up, resume, save).

    train(TrainConfig(...)) -> summary (also written to OUT/summary.json)

Determinism: the batch of step k depends only on (seed, k) (synthetic.step_generator), the model
is initialised from the seed, and a checkpoint holds model, optimizer, step and the LR schedule's
length, so a stopped-and-resumed run reproduces an uninterrupted one; data-parallel ranks each
build their slice of the same batch, so they train as one process would.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from darkdev import weights
from darkdev.files import write_atomic
from darkdev.models import channels_last, parameter_count
from darkdev.training.averaging import averaged_weights, update_average
from darkdev.training.batches import BatchSource, Prefetcher
from darkdev.training.checkpoints import (
    EXPORT_NAME,
    INIT_NAME,
    SUMMARY_NAME,
    export_sharded,
    export_weights,
    start_record,
    validated_weights_path,
)
from darkdev.training.config import TrainConfig, bfloat16_autocast
from darkdev.training.curves import append_log, plot_curves
from darkdev.training.distributed import (
    Ranks,
    agree,
    check_ranks_in_step,
    join_ranks,
    leave_ranks,
    mean_over_ranks,
)
from darkdev.training.evaluation import SPLIT_TITLES, score_model
from darkdev.training.loss import compute_loss, learning_rate
from darkdev.training.session_runs import progress_path, record_of
from darkdev.training.state import (
    Best,
    Run,
    build_run,
    prepare_validation,
    read_invocations,
    record_photo_names,
    resume_or_start,
    save,
    selection_score,
)
from darkdev.training.validation import DETAIL_SPLIT, split_suffix

STOP_REASONS = ("", "steps", "time", "session_steps", "interrupted")  # index 0: keep going
# Set by request_stop() (Ctrl-C, kill: training.cli); the loop stops at the next step boundary.
STOP_REQUESTED = threading.Event()
# The LR schedule's length is fixed from the speed of steps 20..120 of the first session
# (the first steps are slow: worker start-up, allocator warm-up).
SPEED_WARMUP_STEPS = 20
STEPS_FOR_SPEED_ESTIMATE = 100
UNKNOWN_LENGTH = 1 << 62  # schedule length before the speed estimate fixes it


def train(config: TrainConfig) -> dict[str, Any]:
    """Train (or resume) a model; returns the summary also written to OUT/summary.json."""
    config.validate()
    use_cuda = torch.cuda.is_available()
    ranks = join_ranks(use_cuda)
    finished = False
    try:
        summary = train_on_ranks(config, ranks, use_cuda)
        finished = True
        return summary
    finally:
        STOP_REQUESTED.clear()  # a stop is the run's that ends: it never carries over to the next
        leave_ranks(ranks, finished)


def train_on_ranks(config: TrainConfig, ranks: Ranks, use_cuda: bool) -> dict[str, Any]:
    """The run on this rank; its model (and DDP wrapper) is freed when this returns."""
    run = build_run(config, ranks, use_cuda)
    resume_or_start(run)
    record_photo_names(run)
    source = BatchSource(config, ranks.rank, ranks.world_size, str(run.device))
    # Synthetic pairs are made on the training device, in this process; only SID uses workers.
    prefetcher = Prefetcher(source, run.step, config.data_workers if config.sid_root else 0)
    if ranks.main:
        prepare_validation(run)
        if config.init_from is not None and run.step == 0:
            validate(run)  # the weights it starts from are the score to beat
    try:
        stopped_by = run_loop(run, prefetcher)
    finally:
        prefetcher.close()
    return finish(run, stopped_by)


# ----------------------------------------------------------------------------- the loop


def request_stop() -> None:
    """Stop the running training at its next step, saving a checkpoint to --resume from."""
    STOP_REQUESTED.set()


def run_loop(run: Run, prefetcher: Prefetcher) -> str:
    """Steps until a stop reason; returns it ('steps', 'time' or 'session_steps')."""
    run.model.train()
    run.last_checkpoint = time.monotonic()
    run.session_start_step = run.step
    run.session_start_time = run.speed_start_time = time.monotonic()
    run.running_loss = []
    while True:
        reason = stop_reason(run)
        if reason:
            return reason
        train_step(run, prefetcher)
        after_step(run)


def stop_reason(run: Run) -> str:
    """Rank 0's reason to stop ('' to go on), and its schedule length, agreed by every rank."""
    config = run.config
    reason = ""
    if run.total_steps is not None and run.step >= run.total_steps:
        reason = "steps"
    elif run.elapsed() >= run.budget_s():
        reason = "time"
    elif config.session_steps is not None and run.step - run.session_start_step >= (
        config.session_steps
    ):
        reason = "session_steps"
    elif STOP_REQUESTED.is_set():
        reason = "interrupted"
    total = run.total_steps if run.total_steps is not None else -1
    code, agreed_total = agree(run.ranks, run.device, STOP_REASONS.index(reason), total)
    run.total_steps = agreed_total if agreed_total >= 0 else None
    return STOP_REASONS[code]


def train_step(run: Run, prefetcher: Prefetcher) -> None:
    """One optimiser step on the step's batch (bf16 autocast where config.precision says)."""
    config = run.config
    inputs, targets = prefetcher.get()
    x, y = channels_last(inputs.to(run.device)), targets.to(run.device)
    schedule_length = run.total_steps if run.total_steps is not None else UNKNOWN_LENGTH
    rate = learning_rate(config, run.step, schedule_length)
    # Group 0: the network (or an MCN's SGN-1); group 1, if any: an MCN's other SGNs.
    for group, scale in zip(
        run.optimizer.param_groups, (1.0, config.later_sgn_lr_scale), strict=False
    ):
        group["lr"] = rate * scale
    use_autocast = bfloat16_autocast(run.device, config.precision)
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=use_autocast):
        outputs = run.forward_all(x)
    loss = compute_loss(
        [o.float() for o in outputs], y, config.tv_weight, config.lowpass_weight, config.ssim_weight
    )
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {loss.item()} at step {run.step}")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()  # DDP: gradients are averaged over the ranks here
    run.optimizer.step()
    if run.ema is not None and run.ranks.main:  # only rank 0 validates and saves
        update_average(run.ema, run.model, config.ema_decay)
    run.step += 1
    # Log the whole batch's loss, as one process would.
    run.running_loss.append(float(mean_over_ranks(run.ranks, loss.detach()).item()))


def after_step(run: Run) -> None:
    """Log, fix the schedule's length from the measured speed, validate and checkpoint."""
    config, step = run.config, run.step
    if step % config.log_every == 0 and run.ranks.main:
        record = {
            "step": step,
            "loss": float(np.mean(run.running_loss)),
            "lr": run.optimizer.param_groups[0]["lr"],
            "elapsed_s": round(run.elapsed(), 1),
        }
        append_log(run.log_path, record)
        run.running_loss.clear()
    session_steps = step - run.session_start_step
    if session_steps == SPEED_WARMUP_STEPS:
        run.speed_start_time = time.monotonic()
    if run.total_steps is None and session_steps == SPEED_WARMUP_STEPS + STEPS_FOR_SPEED_ESTIMATE:
        # Fix the schedule's length from the measured speed; refine_schedule_length updates it.
        seconds_per_step = (time.monotonic() - run.speed_start_time) / STEPS_FOR_SPEED_ESTIMATE
        if config.schedule_from_speed:
            run.total_steps = steps_in_budget(run, seconds_per_step)
        if run.ranks.main:
            length = f"; schedule length {run.total_steps} steps" if run.total_steps else ""
            print(f"{seconds_per_step:.3f} s/step{length}", flush=True)
    if not run.ranks.main:
        return  # validation and checkpoints are rank 0's; the others wait at agree()
    if step % config.validate_every == 0:
        refine_schedule_length(run)
        validate(run)
    if time.monotonic() - run.last_checkpoint >= config.checkpoint_minutes * 60:
        save(run)
        run.last_checkpoint = time.monotonic()


def steps_in_budget(run: Run, seconds_per_step: float) -> int:
    """The step at which the time budget runs out at this speed (5% kept for the last export)."""
    return run.step + int(0.95 * (run.budget_s() - run.elapsed()) / seconds_per_step)


def refine_schedule_length(run: Run) -> None:
    """Re-fix a time budget's schedule length from this session's speed so far, validations
    included, until half of it has passed: a shared machine's speed drifts (0.15 s/step
    measured at the start, 0.27 an hour later), and the step schedule's drop belongs at half
    the time. Runs given --max-steps keep their length; constant-rate runs have none."""
    session_steps = run.step - run.session_start_step
    if (
        not run.config.schedule_from_speed
        or run.total_steps is None
        or run.step >= run.total_steps / 2
        or session_steps <= SPEED_WARMUP_STEPS + STEPS_FOR_SPEED_ESTIMATE
    ):
        return
    seconds_per_step = invocation_seconds_per_step(run)
    total_steps = steps_in_budget(run, seconds_per_step)
    if total_steps != run.total_steps:
        print(f"{seconds_per_step:.3f} s/step; schedule length now {total_steps} steps", flush=True)
    run.total_steps = total_steps


# ----------------------------------------------------------------------------- validation


def validate(run: Run) -> None:
    """Score every split, log and print them, and keep the weights if they are the best so far
    (with --ema-decay all of this is the weight average's)."""
    run.validated_steps.add(run.step)
    with averaged_weights(run.model, run.ema):
        validate_weights(run)


def validate_weights(run: Run) -> None:
    """validate's work on the weights the model holds now."""
    scores = {
        split: score_model(run.model, v, run.device, run.config.input_convention)
        for split, v in run.validations.items()
    }
    selection = selection_score(run.config.select_by, scores)
    entry: dict[str, Any] = {"step": run.step}
    for split, (psnr_db, ssim_value) in scores.items():
        entry[f"val_psnr{split_suffix(split)}"] = psnr_db
        entry[f"val_ssim{split_suffix(split)}"] = ssim_value
    append_log(run.log_path, {**entry, "elapsed_s": round(run.elapsed(), 1)})
    described = ", ".join(
        f"{SPLIT_TITLES[split]} {psnr_db:.3f} / {ssim_value:.4f} (classical "
        f"{run.classical[split][0]:.3f} / {run.classical[split][1]:.4f})"
        for split, (psnr_db, ssim_value) in scores.items()
    )
    print(f"step {run.step}: validation PSNR/SSIM {described}", flush=True)
    if run.config.keep_validated_weights:
        export_weights(run.model, run.config, validated_weights_path(run.out, run.step))
    if selection > run.best.selection:
        state = {k: v.detach().clone().cpu() for k, v in run.model.state_dict().items()}
        run.best = Best(run.step, selection, scores, state)
        if run.config.export_dir is not None:
            export_progress(run)


def export_progress(run: Run) -> None:
    """The best weights so far as shards in config.export_dir (see TrainConfig.export_dir), and
    the run's record as it stands, for a session cut before finish (session_runs)."""
    config = run.config
    index = export_sharded(
        run.model,
        config.export_dir,  # type: ignore[arg-type]
        architecture=config.model,
        arguments={"width": config.width},
        cfa_kind=config.cfa,
        convention=config.input_convention,
        stem=config.export_name,
        step=run.step,
    )
    summary = run_summary(run, "in progress: the latest export", invocation_seconds_per_step(run))
    summary["export"] = {"file": index.name, "sha256": None}  # shards, no single file
    exported = json.loads(index.read_text())["tensors_sha256"]  # not exporting the state again
    record = record_of(summary, run.log_path, exported)
    progress = progress_path(index.parent, config.export_name)
    write_atomic(progress, (json.dumps(record, indent=1) + "\n").encode())
    print(f"step {run.step}: best weights so far exported to {index}", flush=True)


# ----------------------------------------------------------------------------- finishing


def finish(run: Run, stopped_by: str) -> dict[str, Any]:
    """Final validation and checkpoint, the best weights exported, curves and summary.json."""
    check_ranks_in_step(run.ranks, run.model)
    seconds_per_step = invocation_seconds_per_step(run)  # of the steps, not what follows them
    if not run.ranks.main:
        return {"steps": run.step, "stopped_by": stopped_by, "rank": run.ranks.rank}
    if stopped_by in ("session_steps", "interrupted"):
        save(run)  # an interruption, not the end: no extra validation, so resuming stays exact
        return {"steps": run.step, "stopped_by": stopped_by, "seconds_per_step": seconds_per_step}
    if run.step not in run.validated_steps:
        validate(run)
    save(run)
    assert run.best.state is not None
    run.model.load_state_dict(run.best.state)
    export_path = run.out / EXPORT_NAME
    sha256 = export_weights(run.model, run.config, export_path)
    try:
        plot_curves(run.log_path, run.out / "training_curves.png", run.classical["all_iso"][0])
    except Exception as error:  # a plot must never lose a finished training
        print(f"warning: could not plot curves: {error}", file=sys.stderr)
    summary = run_summary(run, stopped_by, seconds_per_step)
    summary["export"] = {"file": str(export_path), "sha256": sha256}
    (run.out / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def invocation_seconds_per_step(run: Run) -> float:
    """Of this invocation (a resumed run's earlier ones ran at other speeds)."""
    session_steps = run.step - run.session_start_step
    return (time.monotonic() - run.session_start_time) / max(session_steps, 1)


def split_scores(
    best: dict[str, tuple[float, float]], classical: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """psnr, ssim, classical_psnr, classical_ssim of each split, keys suffixed by split."""
    result = {}
    for split, (psnr_db, ssim_value) in best.items():
        suffix = split_suffix(split)
        result[f"psnr{suffix}"], result[f"ssim{suffix}"] = psnr_db, ssim_value
        result[f"classical_psnr{suffix}"] = classical[split][0]
        result[f"classical_ssim{suffix}"] = classical[split][1]
    return result


def run_summary(run: Run, stopped_by: str, seconds_per_step: float) -> dict[str, Any]:
    config, validations = run.config, run.validations
    all_iso = validations["all_iso"]
    camera = config.synthetic_camera()
    noise = "ELD noise" if camera is None else f"{camera.name}'s profile noise and colour"
    if config.noise_widening is not None:
        noise += f", ranges widened x{config.noise_widening:g}"
    if config.black_error_dn > 0:
        noise += f", black level off by N(0, {config.black_error_dn:g}) DN per colour"
    data = f"synthetic pairs made in torch from {config.photos} ({noise}, ratio 50-300, "
    data += f"un-mosaiced targets; input {config.input_convention.describe()}; validation: "
    data += ", ".join(f"{len(v)} {split} crops" for split, v in validations.items())
    data += " of held-out photos"
    if DETAIL_SPLIT in validations:
        data += " (detail: dead leaves coloured from them, high-ISO noise)"
    data += ", scored against LibRaw's default development)"
    return {
        "command": config.command,
        "invocations": read_invocations(run.out),  # every start and resume, with its code
        "config": asdict(config),
        "initialised_from": None
        if config.init_from is None
        else start_record(run.out)
        or {"file": config.init_from, "sha256": weights.sha256_of(run.out / INIT_NAME)},
        "data": ("SID " + str(config.sid_list)) if config.sid_root else data,
        "model": config.model,
        "parameters": parameter_count(run.model),
        "steps": run.step,
        "best_step": run.best.step,
        "stopped_by": stopped_by,
        "wall_time_s": round(run.elapsed(), 1),
        "seconds_per_step_this_session": round(seconds_per_step, 4),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}, "
        f"{config.threads} threads, device {run.device.type}"
        + (f", {run.ranks.world_size} ranks" if run.ranks.world_size > 1 else ""),
        "validation": {
            **split_scores(run.best.scores, run.classical),
            "n_images": len(all_iso),
            "crop_raw_px": int(all_iso.noisy_packed[0].shape[1])
            * (2 if config.cfa == "bayer" else 3),
            "target": all_iso.target_name,
        },
    }
