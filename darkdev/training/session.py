"""One prepared GPU training session, sized for a lent machine (one call of about 8 minutes;
what comes back: at most 8 files of 16 MiB). scripts/train_on_gpu.sh runs it:

1. self-check (first minute): a few training steps of a tiny network with the real data path on
   the device, a validation, a sharded export and its reload; any error stops the session;
2. throughput: crops/s of the data path alone and of whole training steps of the model;
   meanwhile the CPUs draw dead-leaves images to train on beside the photos (dead_leaves.py);
3. training for a fixed number of minutes; every validation that improves exports the weights
   (fp16, safetensors shards under 16 MiB) into the output folder with the run's record as it
   stands, so a call cut at its limit still brings back the latest, publishable;
4. a 12 MP inference benchmark of the trained network (develop's tiled network stage).

results.json is rewritten after every stage; at the end of training it also carries what
publishing the run needs (session_runs.run_record: its folder stays on the lent machine), so
`darkdev unpack-session` can rebuild the run folder here. Rehearse on CPU with tiny settings
(tests do, and publish the result).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from darkdev import weights
from darkdev.ensemble import GPU_ENSEMBLE_SIZE
from darkdev.files import write_atomic
from darkdev.models import build_model
from darkdev.network_input import InputConvention
from darkdev.training import batches, checkpoints, dead_leaves, photos, synthetic, throughput
from darkdev.training.checkpoints import EXPORT_NAME
from darkdev.training.config import TrainConfig
from darkdev.training.loop import train
from darkdev.training.session_runs import RESULTS_NAME, RUN_KEY, export_stem, run_record

MAX_DRAWING_WORKERS = 14


@dataclass
class SessionPlan:
    out: str  # what comes back: results.json, weight shards (and the caller's log)
    work: str = "/tmp/darkdev-session"  # training state (too large to bring back)
    photos: str = "gpu-pack/photos"
    cfa: str = "bayer"
    model: str = "rmcn-3-nobc"  # the script starts it from the bundled width-16 network
    width: int = 32
    crop: int = 256  # packed px: 512 raw px for Bayer, as SID trains
    batch: int = 16
    minutes: float = 5.0
    lr: float = 1e-4
    tv_weight: float = 0.1
    # The SSIM term and the rule that counts it: what the shipped CPU networks were last
    # continued with (+0.004-0.011 SSIM for at most a few hundredths of a dB).
    ssim_weight: float = 0.3
    select_by: str = "psnr+ssim"
    validate_every: int = 400
    validation_count: int = 8
    validation_packed_px: int | None = None
    init_from: str | None = None
    # Dead-leaves images drawn on the machine's CPUs while the self-check runs, trained on beside
    # the photos (they travel as code, not as 64 MiB of images); 0: photos only.
    dead_leaves: int = 40
    dead_leaves_side_px: int = 1024
    ema_decay: float = 0.0
    later_sgn_lr_scale: float = 1.0  # e.g. 10 for an RMCN grown from an LTS (TrainConfig)
    check_width: int = 8
    check_steps: int = 4
    benchmark_steps: int = 5
    inference_megapixels: float = 12.0
    export_name: str = ""  # default: MODEL-wWIDTH-CFA

    @property
    def export_stem(self) -> str:
        return export_stem(asdict(self))


def _photo_cache(plan: SessionPlan) -> Path:
    """Where the session's runs (work/check, work/train) keep decoded photos: the throughput
    stage and the dead-leaves palette share it, so each photo is decoded once."""
    return batches.photo_cache_dir(TrainConfig(out=str(Path(plan.work) / "train")))


def _write_results(out: Path, results: dict[str, Any]) -> None:
    write_atomic(out / RESULTS_NAME, (json.dumps(results, indent=2) + "\n").encode())


@functools.lru_cache(maxsize=4)
def _trained_convention(checkpoint: str | None) -> InputConvention:
    """The input convention a checkpoint's network was trained on (its metadata)."""
    if not checkpoint:
        return InputConvention()
    return weights.load_checkpoint(Path(checkpoint))[1].input_convention


def _config(plan: SessionPlan, command: str = "", **changes: Any) -> TrainConfig:
    convention = _trained_convention(plan.init_from)
    values: dict[str, Any] = dict(
        command=command,
        # A session continues a network on the input convention it was trained on.
        white_balance_input=convention.white_balance,
        below_black_input=convention.below_black,
        model=plan.model,
        cfa=plan.cfa,
        width=plan.width,
        crop=plan.crop,
        batch=plan.batch,
        photos=plan.photos,
        lr=plan.lr,
        lr_schedule="cosine",
        tv_weight=plan.tv_weight,
        ssim_weight=plan.ssim_weight,
        select_by=plan.select_by,
        data_workers=0,
        threads=max(1, torch.get_num_threads()),
        validate_every=plan.validate_every,
        validation_count=plan.validation_count,
        validation_packed_px=plan.validation_packed_px,
        checkpoint_minutes=2.0,
        log_every=50,
        init_from=plan.init_from,
        later_sgn_lr_scale=plan.later_sgn_lr_scale,
        ema_decay=plan.ema_decay,
    )
    values.update(changes)
    return TrainConfig(**values)


def check_start(plan: SessionPlan) -> None:
    """Start the planned network from plan.init_from on the CPU (a second or two): a model, width
    or CFA that the checkpoint cannot start fails here, not after minutes of device time."""
    if plan.init_from:
        config = _config(plan, out=str(Path(plan.work) / "start-check"))
        config.validate()
        checkpoints.initialise_from(build_model(plan.model, plan.cfa, plan.width), config)


def self_check(plan: SessionPlan, device: torch.device) -> dict[str, Any]:
    """A few steps of a tiny network through every stage the session uses; raises on error."""
    start = time.perf_counter()
    work = Path(plan.work) / "check"
    config = _config(
        plan,
        model="lts",
        later_sgn_lr_scale=1.0,
        width=plan.check_width,
        batch=2,
        max_steps=plan.check_steps,
        validate_every=plan.check_steps,
        validation_count=1,
        validation_packed_px=32,
        init_from=None,
        out=str(work),
    )
    summary = train(config)
    model, metadata = weights.load_model(work / EXPORT_NAME)
    index = checkpoints.export_sharded(
        model,
        work / "shards",
        architecture=metadata["architecture"],
        arguments=metadata["arguments"],
        cfa_kind=plan.cfa,
        stem="check",
    )
    reloaded, _ = checkpoints.load_sharded(index, plan.cfa)
    for name, tensor in model.state_dict().items():
        if not torch.equal(tensor.half().float(), reloaded.state_dict()[name].float()):
            raise RuntimeError(f"sharded export changed tensor {name}")
    throughput.inference_frames_per_second(
        model.to(device), plan.cfa, device, 0.5, frames=1, ensemble=2
    )
    return {"seconds": round(time.perf_counter() - start, 1), "steps": summary["steps"]}


def measure(plan: SessionPlan, device: torch.device) -> dict[str, Any]:
    """crops/s of the data path alone and of whole training steps of the planned model."""
    names = photos.list_photo_names(plan.photos)
    chosen = photos.split_names(names)[0]
    bank = synthetic.PhotoBank(
        photos.load_photos(plan.photos, names=chosen, cache_dir=_photo_cache(plan)), device
    )
    data_rate = throughput.data_path_crops_per_second(bank, plan.cfa, plan.crop, plan.batch)
    step = throughput.training_crops_per_second(
        bank, plan.cfa, plan.model, plan.width, plan.crop, plan.batch, plan.benchmark_steps
    )
    return {
        "crop_packed_px": plan.crop,
        "batch": plan.batch,
        "data_path_crops_per_second": round(data_rate, 2),
        "training_step_crops_per_second": round(step["crops_per_second"], 2),
        "training_seconds_per_step": round(step["seconds_per_step"], 4),
    }


def draw_dead_leaves(plan: SessionPlan, folder: Path) -> dict[str, Any]:
    """The training folder: the pack's photos linked beside plan.dead_leaves new images."""
    start = time.perf_counter()
    # Two cores stay with the self-check; at most 14 drawers (a container may show the host's).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, min(MAX_DRAWING_WORKERS, (cores or 1) - 2))
    paths = dead_leaves.write_training_folder(
        plan.photos,
        folder,
        plan.dead_leaves,
        side_px=plan.dead_leaves_side_px,
        workers=workers,
        cache_dir=_photo_cache(plan),
    )
    return {
        "images": len(paths),
        "side_px": plan.dead_leaves_side_px,
        "workers": workers,
        "seconds": round(time.perf_counter() - start, 1),
    }


def run_session(plan: SessionPlan, command: str = "") -> dict[str, Any]:
    """The session's stages (module docstring); command: its command line, recorded as the
    training run's."""
    out = Path(plan.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results: dict[str, Any] = {
        "plan": asdict(plan),
        "machine": f"{platform.machine()}, torch {torch.__version__}, "
        + (torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"),
        "stages": {},
    }
    stages = results["stages"]
    session_start = time.perf_counter()

    def stage(name: str, value: dict[str, Any]) -> None:
        stages[name] = {**value, "at_seconds": round(time.perf_counter() - session_start, 1)}
        _write_results(out, results)
        print(f"{name}: {json.dumps(stages[name])}", flush=True)

    check_start(plan)
    training_photos = plan.photos
    with ThreadPoolExecutor(1) as background:
        drawing = None
        if plan.dead_leaves:
            training_photos = str(Path(plan.work) / "photos")
            drawing = background.submit(draw_dead_leaves, plan, Path(training_photos))
        stage("self_check", self_check(plan, device))
        stage("throughput", measure(plan, device))
        if drawing is not None:
            stage("dead_leaves", drawing.result())
    elapsed_minutes = (time.perf_counter() - session_start) / 60
    config = _config(
        plan,
        command,
        photos=training_photos,
        out=str(Path(plan.work) / "train"),
        max_minutes=max(plan.minutes - elapsed_minutes, 0.2),
        export_dir=str(out),
        export_name=plan.export_stem,
    )
    summary = train(config)
    stage("training", {key: summary[key] for key in ("steps", "wall_time_s", "validation")})
    # The run folder stays here: what publishing it needs goes back in results.json.
    results[RUN_KEY] = run_record(Path(config.out))
    _write_results(out, results)
    model, _ = weights.load_model(Path(config.out) / EXPORT_NAME)
    model = model.to(device)
    frames = throughput.inference_frames_per_second(
        model, plan.cfa, device, plan.inference_megapixels
    )
    # What develop does on CUDA by default: GPU_ENSEMBLE_SIZE views of the frame.
    views = GPU_ENSEMBLE_SIZE
    ensemble_frames = throughput.inference_frames_per_second(
        model, plan.cfa, device, plan.inference_megapixels, frames=1, ensemble=views
    )
    stage(
        "inference",
        {
            "megapixels": plan.inference_megapixels,
            "frames_per_second": frames,
            f"frames_per_second_{views}_views": ensemble_frames,
        },
    )
    return results


def parse_plan(argv: list[str] | None = None) -> SessionPlan:
    parser = argparse.ArgumentParser(
        prog="python -m darkdev.training.session", description=__doc__.split("\n")[0]
    )
    defaults = SessionPlan(out="")
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        kind = type(value) if value is not None else (int if name.endswith("_px") else str)
        parser.add_argument(flag, type=kind, default=value, required=name == "out")
    return SessionPlan(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    command = "python -m darkdev.training.session " + shlex.join(arguments)
    results = run_session(parse_plan(arguments), command)
    print(f"session done in {results['stages']['inference']['at_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
