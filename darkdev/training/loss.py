"""The loss of SPEC.md (Eq. 14-16) and the learning-rate schedules."""

from __future__ import annotations

import math

import torch

from darkdev.errors import ShapeError
from darkdev.metrics import SSIM_K1, SSIM_K2, SSIM_WINDOW_PX
from darkdev.training.config import TrainConfig

LOWPASS_BLOCK_PX = 8


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """mean |d/dx| + mean |d/dy| of an (N, 3, H, W) image."""
    return (image[..., :, 1:] - image[..., :, :-1]).abs().mean() + (
        image[..., 1:, :] - image[..., :-1, :]
    ).abs().mean()


def structural_similarity(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two (N, 3, H, W) images in [0, 1], as metrics.ssim defines it (7x7 uniform
    windows lying inside the image, sample covariance, K1 0.01, K2 0.03): differentiable."""
    if image.shape != reference.shape or image.ndim != 4 or min(image.shape[-2:]) < SSIM_WINDOW_PX:
        raise ShapeError(
            f"SSIM needs two equal (N, C, H, W) images of at least {SSIM_WINDOW_PX} px, got "
            f"{tuple(image.shape)} and {tuple(reference.shape)}"
        )

    def means(values: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(values, SSIM_WINDOW_PX, stride=1)

    pixels = SSIM_WINDOW_PX * SSIM_WINDOW_PX
    covariance_norm = pixels / (pixels - 1)
    mean_x, mean_y = means(image), means(reference)
    variance_x = covariance_norm * (means(image * image) - mean_x * mean_x)
    variance_y = covariance_norm * (means(reference * reference) - mean_y * mean_y)
    covariance = covariance_norm * (means(image * reference) - mean_x * mean_y)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    numerator = (2 * mean_x * mean_y + c1) * (2 * covariance + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (variance_x + variance_y + c2)
    return (numerator / denominator).mean()


def compute_loss(
    outputs: list[torch.Tensor],
    target: torch.Tensor,
    tv_weight: float,
    lowpass_weight: float = 0.0,
    ssim_weight: float = 0.0,
) -> torch.Tensor:
    """SPEC.md Eq. 14-16: L1 over every supervised output + beta * TV of the final output.

    Our additions, measured in docs/training-history.md: lowpass_weight > 0 adds that weight
    times the L1 between 8x8 block means of the final output and of the target; ssim_weight > 0
    adds that weight times 1 - SSIM of the final output (SSIM is where the held-out benchmark
    lags most).
    """
    if not outputs:
        raise ShapeError("model returned no outputs")
    reconstruction = sum((output - target).abs().mean() for output in outputs)
    loss = reconstruction + tv_weight * total_variation(outputs[-1])
    if lowpass_weight > 0:
        pooled_output = torch.nn.functional.avg_pool2d(outputs[-1], LOWPASS_BLOCK_PX)
        pooled_target = torch.nn.functional.avg_pool2d(target, LOWPASS_BLOCK_PX)
        loss = loss + lowpass_weight * (pooled_output - pooled_target).abs().mean()
    if ssim_weight > 0:
        loss = loss + ssim_weight * (1 - structural_similarity(outputs[-1], target))
    return loss


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    progress = step / max(total_steps, 1)
    if config.lr_schedule == "step":
        return config.lr if progress < 0.5 else config.lr / 10
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr
