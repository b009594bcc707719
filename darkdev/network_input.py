"""What a network sees: the packed raw, optionally white-balanced, amplified by RIMEF.

One rule for `develop` (numpy, one frame) and training (numpy validation crops, torch batches on
the training device): a network must see in use exactly what it saw in training.

Packed raw arrives as darkdev decodes it: black subtracted, normalised, clipped at white but not
at black, so read noise leaves values below zero. A network trained on input clipped at black
(every network before `--below-black-input`) gets it clipped here, bit for bit as it trained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from darkdev import cfa, rimef

# The floor of a below-black network's amplified input: 0.3% of the A7S II noise it trains on
# at high ISO falls below it; heavier read noise (a Canon's) is cut here, not fed out of range.
BELOW_BLACK_FLOOR = -0.5


@dataclass(frozen=True)
class InputConvention:
    """How a network's input was prepared in training; it travels with the weights.

    white_balance: the packed raw was multiplied by the as-shot white balance gains.
    below_black: values below black were kept (amplified, floored at BELOW_BLACK_FLOOR) rather
    than clipped at zero, so the input's local means are unbiased in the dark.
    """

    white_balance: bool = False
    below_black: bool = False

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> InputConvention:
        """From a checkpoint's metadata or a run's config (absent keys: false)."""
        return cls(
            bool(metadata.get("white_balance_input", False)),
            bool(metadata.get("below_black_input", False)),
        )

    def describe(self) -> str:
        """A few words for catalogues and logs."""
        parts = ["white-balanced" if self.white_balance else "camera-balance"]
        parts.append("kept below black" if self.below_black else "clipped at black")
        return ", ".join(parts)


def network_input(
    packed,
    kind: cfa.CfaKind,
    gains: Sequence[float],
    convention: InputConvention,
    params: rimef.RimefParams,
):
    """(..., C, h, w) packed raw (<= 1, < 0 below black) -> float32 network input (numpy or torch).

    The input is in [0, 1] for a network trained clipped at black, in [BELOW_BLACK_FLOOR, 1]
    for one trained below black. gains: the file's as-shot camera white balance (R, G, B), used
    when the network was trained on white-balanced input.
    """
    if not isinstance(convention, InputConvention):
        raise TypeError(f"convention must be an InputConvention, got {convention!r}")
    if not convention.below_black:
        packed = rimef.at_least(packed, 0.0)
    if convention.white_balance:
        packed = cfa.white_balance(packed, kind, gains)
    amplified = rimef.amplify(packed, params)
    return rimef.at_least(amplified, BELOW_BLACK_FLOOR) if convention.below_black else amplified
