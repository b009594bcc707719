"""Automatic exposure ratio: how much to amplify a dark raw when the user does not say.

The estimate aims the packed raw's robust brightness at a well-exposed linear mid-tone. numpy only.
"""

from __future__ import annotations

import numpy as np

from darkdev.errors import ShapeError

TARGET_MEAN = 0.06  # linear mean of a well-exposed frame (roughly 0.27 after sRGB gamma)
MIN_RATIO = 1.0
MAX_RATIO = 300.0  # SID's largest ratio; beyond it the networks were never trained
HIGHLIGHT_PERCENTILE = 99.0  # ignore street lights and the moon when judging exposure


def estimate_ratio(packed: np.ndarray) -> float:
    """(C, H, W) packed raw in [0, 1] -> amplification ratio, clamped to [1, 300].

    Uses the mean of pixels below the 99th percentile so a few bright lights do not make the
    rest of the frame too dark.
    """
    if packed.ndim != 3:
        raise ShapeError(f"packed raw must be (C, H, W), got {packed.shape}")
    luminance = packed.mean(axis=0)
    step = max(1, int(np.sqrt(luminance.size / 250_000)))  # subsample: the statistic is robust
    sample = luminance[::step, ::step]
    ceiling = np.percentile(sample, HIGHLIGHT_PERCENTILE)
    body = sample[sample <= ceiling]
    level = float(body.mean()) if body.size else 0.0
    if level <= 0:
        return MAX_RATIO
    return float(np.clip(TARGET_MEAN / level, MIN_RATIO, MAX_RATIO))
