"""The loss of SPEC.md (Eq. 14-16) and the learning-rate schedules."""

from __future__ import annotations

import math

import torch

from darkdev.errors import ShapeError
from darkdev.training.config import TrainConfig

LOWPASS_BLOCK_PX = 8


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """mean |d/dx| + mean |d/dy| of an (N, 3, H, W) image."""
    return (image[..., :, 1:] - image[..., :, :-1]).abs().mean() + (
        image[..., 1:, :] - image[..., :-1, :]
    ).abs().mean()


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
