"""Image filters shared by RIMEF, guided colour and the metrics (numpy only): one box filter,
one linear resize."""

from __future__ import annotations

import numpy as np


def window_means(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W) -> mean over every size x size window lying fully inside the image,
    (H - size + 1, W - size + 1) float64, via an integral image (O(pixels))."""
    integral = np.zeros((image.shape[0] + 1, image.shape[1] + 1), dtype=np.float64)
    integral[1:, 1:] = image.cumsum(0, dtype=np.float64).cumsum(1)
    sums = (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )
    return sums / (size * size)


def box_smooth(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window centred on each pixel, edges replicated; same shape and dtype."""
    padded = np.pad(image, radius, mode="edge")
    return window_means(padded, 2 * radius + 1).astype(image.dtype)


def resize_linear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Separable linear interpolation of (h, w, C) to (height, width, C), pixel centres aligned."""
    rows = np.clip((np.arange(height) + 0.5) * image.shape[0] / height - 0.5, 0, image.shape[0] - 1)
    cols = np.clip((np.arange(width) + 0.5) * image.shape[1] / width - 0.5, 0, image.shape[1] - 1)
    top = np.floor(rows).astype(int)
    left = np.floor(cols).astype(int)
    bottom = np.minimum(top + 1, image.shape[0] - 1)
    right = np.minimum(left + 1, image.shape[1] - 1)
    row_weight = (rows - top)[:, None, None].astype(np.float32)
    col_weight = (cols - left)[None, :, None].astype(np.float32)
    upper = image[top][:, left] * (1 - col_weight) + image[top][:, right] * col_weight
    lower = image[bottom][:, left] * (1 - col_weight) + image[bottom][:, right] * col_weight
    return (upper * (1 - row_weight) + lower * row_weight).astype(np.float32)
