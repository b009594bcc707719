"""Automatic exposure ratio: how much to amplify a dark raw when the user does not say.

The estimate aims the packed raw's robust brightness at a well-exposed linear mid-tone. numpy only.
"""

from __future__ import annotations

import numpy as np

from darkdev.errors import ShapeError

TARGET_MEAN = (
    0.105  # median level the true ratio reaches on training pairs (benchmarks/eval_auto_ratio.py)
)
MIN_RATIO = 1.0
MAX_RATIO = 300.0  # SID's largest ratio; beyond it the networks were never trained
HIGHLIGHT_PERCENTILE = 99.0  # ignore street lights and the moon when judging exposure


def robust_level(packed: np.ndarray) -> float:
    """Mean of the (C, H, W) packed raw's pixels below the 99th percentile of brightness.

    Ignoring the brightest 1 % keeps a few street lights or the moon from making the rest of the
    frame too dark.
    """
    if packed.ndim != 3:
        raise ShapeError(f"packed raw must be (C, H, W), got {packed.shape}")
    step = max(1, int(np.sqrt(packed[0].size / 250_000)))  # subsample: the statistic is robust
    # Clipped at black, as this level was tuned (develop's output brightness stays as it was).
    sample = np.maximum(packed[:, ::step, ::step], 0.0).mean(axis=0)
    body = sample[sample <= np.percentile(sample, HIGHLIGHT_PERCENTILE)]
    return float(body.mean()) if body.size else 0.0


def estimate_ratio(packed: np.ndarray, target_level: float = TARGET_MEAN) -> float:
    """(C, H, W) packed raw (<= 1, < 0 below black) -> amplification ratio, clamped to [1, 300]."""
    level = robust_level(packed)
    if level <= 0:
        return MAX_RATIO
    return float(np.clip(target_level / level, MIN_RATIO, MAX_RATIO))
