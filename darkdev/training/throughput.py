"""How fast training can go on a device: crops/s of the data path alone and of whole training
steps, and frames/s of a trained network on a 12 MP frame (develop's tiled inference).

Used by benchmarks/bench_training.py (CPU here) and by the prepared GPU session
(darkdev.training.session), so both report the same quantities.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from darkdev import cfa
from darkdev.models import build_model, channels_last, supervised_outputs
from darkdev.training import synthetic
from darkdev.training.config import bfloat16_autocast
from darkdev.training.loss import compute_loss


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def data_path_crops_per_second(
    bank: synthetic.PhotoBank, kind: str, crop_packed_px: int, batch: int, batches: int = 5
) -> float:
    """Synthetic pairs made per second on the bank's device (after one warm-up batch)."""
    synthetic.synthetic_batch(bank, kind, crop_packed_px, batch, seed=1, step=0)
    _synchronise(bank.device)
    start = time.perf_counter()
    with torch.no_grad():
        for step in range(1, batches + 1):
            synthetic.synthetic_batch(bank, kind, crop_packed_px, batch, seed=1, step=step)
    _synchronise(bank.device)
    return batches * batch / (time.perf_counter() - start)


def training_crops_per_second(
    bank: synthetic.PhotoBank,
    kind: str,
    model_name: str,
    width: int,
    crop_packed_px: int,
    batch: int,
    steps: int = 3,
    tv_weight: float = 0.1,
    precision: str = "auto",
) -> dict[str, float]:
    """Whole training steps (data, forward, loss, backward, Adam) per second and crops per
    second, in the loop's precision (TrainConfig.precision)."""
    device = bank.device
    model = channels_last(build_model(model_name, kind, width).to(device))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    use_autocast = bfloat16_autocast(device, precision)

    def step(index: int) -> None:
        with torch.no_grad():
            pairs = synthetic.synthetic_batch(bank, kind, crop_packed_px, batch, 2, index)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_autocast):
            outputs = supervised_outputs(model, channels_last(pairs.inputs))
        loss = compute_loss([o.float() for o in outputs], pairs.targets, tv_weight)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    step(0)  # warm-up: allocator, cuDNN algorithm choice
    _synchronise(device)
    start = time.perf_counter()
    for index in range(1, steps + 1):
        step(index)
    _synchronise(device)
    seconds_per_step = (time.perf_counter() - start) / steps
    return {"seconds_per_step": seconds_per_step, "crops_per_second": batch / seconds_per_step}


def inference_frames_per_second(
    model: torch.nn.Module,
    kind: str,
    device: torch.device,
    megapixels: float = 12.0,
    frames: int = 2,
    ensemble: int = 1,
) -> float:
    """Frames per second of develop's tiled network stage on a frame of `megapixels` (3:2),
    over `ensemble` views of it (develop --ensemble; re-packing and averaging included)."""
    from darkdev.ensemble import ensemble_output
    from darkdev.inference import run_network

    block = cfa.BLOCK_SIZE[kind]
    width_px = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    height_px = int(round(width_px / 1.5))
    packed_shape = (cfa.CHANNELS[kind], height_px // block // 2 * 2, width_px // block // 2 * 2)
    packed = np.random.default_rng(0).random(packed_shape, dtype=np.float32) * 0.5
    tiles_per_batch = 8 if device.type == "cuda" else 1  # as develop batches tiles
    model.eval()

    def run(view: np.ndarray) -> np.ndarray:
        return run_network(model, view, block, device, tiles_per_batch=tiles_per_batch)

    run(packed)  # warm-up
    _synchronise(device)
    start = time.perf_counter()
    for _ in range(frames):
        ensemble_output(packed, kind, ensemble, run)  # type: ignore[arg-type]
    _synchronise(device)
    return frames / (time.perf_counter() - start)
