"""Guided colour: the network's luminance with chroma from a smoothed LibRaw development.

Networks trained for minutes rather than days learn luminance long before colour (ours come out
nearly grey). LibRaw's development of the same amplified raw has the right colours but heavy
chroma noise; smoothed over ~25 px its chroma is clean. Measured on the synthetic validation
crops (docs/training-history.md): +3.3 dB PSNR over the network's own colour for the Bayer
LTS-w16 checkpoint of that time.
numpy only.
"""

from __future__ import annotations

import numpy as np

from darkdev.errors import ShapeError
from darkdev.filters import box_smooth, resize_linear

# Linear sRGB (D65) -> XYZ as the LibRaw in rawpy builds rgb_cam from a camera's cam_xyz
# (to 5e-8; dcraw's 6-digit xyz_rgb is 4e-5 off): unprocessing and calibration invert that build.
XYZ_FROM_LINEAR_SRGB = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
GUIDE_RADIUS_FULL_PX = 12  # box radius at full resolution, applied twice (chosen on validation)
EPSILON = 1e-3


def chroma_ratios(guide: np.ndarray, radius_px: int) -> np.ndarray:
    """(h, w, 3) guide -> per-channel ratio to its mean, after smoothing (twice a box of radius)."""
    if guide.ndim != 3 or guide.shape[2] != 3:
        raise ShapeError(f"guide must be (H, W, 3), got {guide.shape}")
    smooth = np.stack(
        [
            box_smooth(box_smooth(guide[..., c].astype(np.float32), radius_px), radius_px)
            for c in range(3)
        ],
        axis=-1,
    )
    return smooth / np.maximum(smooth.mean(axis=-1, keepdims=True), EPSILON)


def guided_colour(network_image: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Network luminance x guide chroma; the guide may be smaller (e.g. LibRaw half size)."""
    if network_image.ndim != 3 or network_image.shape[2] != 3:
        raise ShapeError(f"image must be (H, W, 3), got {network_image.shape}")
    height, width, _ = network_image.shape
    scale = guide.shape[0] / height
    radius = max(1, round(GUIDE_RADIUS_FULL_PX * scale))
    ratios = chroma_ratios(guide, radius)
    if ratios.shape[:2] != (height, width):
        ratios = resize_linear(ratios, height, width)
    luminance = network_image.mean(axis=-1, keepdims=True)
    return np.clip(luminance * ratios, 0.0, 1.0).astype(np.float32)
