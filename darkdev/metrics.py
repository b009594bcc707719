"""Image quality metrics (numpy only): PSNR and SSIM as scikit-image computes them.

Both take (H, W, 3) float images in [0, 1] with data range 1 and match
`skimage.metrics.peak_signal_noise_ratio(..., data_range=1)` and
`skimage.metrics.structural_similarity(..., channel_axis=-1, data_range=1)` (defaults:
7x7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03) to within 1e-4; the tests check it.
"""

from __future__ import annotations

import numpy as np

from darkdev.errors import ShapeError
from darkdev.filters import window_means

SSIM_WINDOW_PX = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference)
    test = np.asarray(test)
    if reference.shape != test.shape:
        raise ShapeError(f"images differ in shape: {reference.shape} vs {test.shape}")
    if reference.ndim != 3 or reference.shape[2] != 3:
        raise ShapeError(f"images must be (H, W, 3), got {reference.shape}")
    if not (np.issubdtype(reference.dtype, np.floating) and np.issubdtype(test.dtype, np.floating)):
        raise ShapeError(f"images must be float in [0, 1], got {reference.dtype} and {test.dtype}")
    # skimage computes in float64; so do we, for equality to 1e-4.
    return reference.astype(np.float64), test.astype(np.float64)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for data range 1 (inf for identical images)."""
    reference, test = _check_pair(reference, test)
    mean_squared_error = float(np.mean((reference - test) ** 2))
    if mean_squared_error == 0:
        return float("inf")
    return float(10.0 * np.log10(1.0 / mean_squared_error))


def _ssim_channel(reference: np.ndarray, test: np.ndarray) -> float:
    size = SSIM_WINDOW_PX
    pixels_per_window = size * size
    covariance_norm = pixels_per_window / (pixels_per_window - 1)  # sample covariance (ddof 1)
    # skimage filters with a uniform filter and then crops (size - 1) // 2 pixels from each
    # border, which leaves exactly the windows lying fully inside the image.
    mean_x = window_means(reference, size)
    mean_y = window_means(test, size)
    mean_xx = window_means(reference * reference, size)
    mean_yy = window_means(test * test, size)
    mean_xy = window_means(reference * test, size)
    variance_x = covariance_norm * (mean_xx - mean_x * mean_x)
    variance_y = covariance_norm * (mean_yy - mean_y * mean_y)
    covariance = covariance_norm * (mean_xy - mean_x * mean_y)
    c1 = (SSIM_K1 * 1.0) ** 2
    c2 = (SSIM_K2 * 1.0) ** 2
    numerator = (2 * mean_x * mean_y + c1) * (2 * covariance + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (variance_x + variance_y + c2)
    return float(np.mean(numerator / denominator))


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean structural similarity over the 3 channels, data range 1."""
    reference, test = _check_pair(reference, test)
    if min(reference.shape[:2]) < SSIM_WINDOW_PX:
        raise ShapeError(f"images must be at least {SSIM_WINDOW_PX} px on each side for SSIM")
    return float(np.mean([_ssim_channel(reference[..., c], test[..., c]) for c in range(3)]))


def chroma(image: np.ndarray) -> float:
    """Mean absolute deviation of R, G, B from their per-pixel mean in an (H, W, 3) image.

    0 for a grey image; how docs/training-history.md tells a network that has learnt colour
    from one that has not.
    """
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ShapeError(f"chroma needs an (H, W, 3) image, got {image.shape}")
    return float(np.abs(image - image.mean(axis=-1, keepdims=True)).mean())
