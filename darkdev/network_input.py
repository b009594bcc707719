"""What a network sees: the packed raw, optionally white-balanced, amplified by RIMEF.

One rule for `develop` (numpy, one frame) and training (numpy validation crops, torch batches on
the training device): a network must see in use exactly what it saw in training.
"""

from __future__ import annotations

from collections.abc import Sequence

from darkdev import cfa, rimef


def network_input(
    packed,
    kind: cfa.CfaKind,
    gains: Sequence[float],
    white_balance_input: bool,
    params: rimef.RimefParams,
):
    """(..., C, h, w) packed raw in [0, 1] -> float32 network input in [0, 1] (numpy or torch).

    gains: the file's as-shot camera white balance (R, G, B), used when the checkpoint was
    trained on white-balanced input (its `white_balance_input` flag).
    """
    if white_balance_input:
        packed = cfa.white_balance(packed, kind, gains)
    return rimef.amplify(packed, params)
