"""A picture of what the numbers mean: validation crops at 1:1 side by side.

Columns: the noisy input amplified by the true ratio (packed channels as colours, no denoising),
the classical development (linear ratio + LibRaw), each checkpoint, the target. Rows: the
validation set's first crops, a centre window of each, so sharpness is seen at full size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from darkdev import cfa
from darkdev.network_input import InputConvention
from darkdev.training import unprocessing
from darkdev.training.evaluation import predict
from darkdev.training.validation import ValidationSet


def amplified_input_preview(packed: np.ndarray, kind: str, gains, ratio: float) -> np.ndarray:
    """(C, h, w) noisy packed raw -> (h*s, w*s, 3) sRGB: the raw's own noise, amplified."""
    colours = cfa.channel_colours(kind)  # type: ignore[arg-type]
    packed = np.maximum(packed, 0.0)  # as a raw developer shows it: clipped at black
    camera = np.stack([packed[colours == colour].mean(axis=0) for colour in range(3)])
    developed = unprocessing.develop_camera_rgb(np.minimum(camera * ratio, 1.0), kind, gains)
    block = cfa.BLOCK_SIZE[kind]
    return np.repeat(np.repeat(developed.transpose(1, 2, 0), block, 0), block, 1)


def _centre(image: np.ndarray, side_px: int) -> np.ndarray:
    top = max(0, (image.shape[0] - side_px) // 2)
    left = max(0, (image.shape[1] - side_px) // 2)
    return image[top : top + side_px, left : left + side_px]


def crop_sheet(
    checkpoints: list[str | Path],
    validation: ValidationSet,
    rows: int = 3,
    window_px: int = 192,
    panel_width_px: int = 288,
) -> np.ndarray:
    """(H, W, 3) uint8 sheet: a row per crop, a column per development."""
    import torch

    from darkdev.sheets import contact_sheet
    from darkdev.weights import load_model

    networks = []
    for checkpoint in checkpoints:
        model, metadata = load_model(Path(checkpoint), expected_cfa_kind=validation.kind)
        inputs = validation.network_inputs(InputConvention.from_metadata(metadata))
        name, architecture = Path(checkpoint).stem, metadata["architecture"]
        label = name if name.startswith(architecture) else f"{architecture} {name}"
        networks.append((label, model, inputs))
    lines = []
    for index in range(min(rows, len(validation))):
        panels = [
            (
                f"input x{validation.ratios[index]:.0f}",
                amplified_input_preview(
                    validation.noisy_packed[index],
                    validation.kind,
                    validation.gains[index],
                    validation.ratios[index],
                ),
            )
        ]
        if validation.classical is not None:
            panels.append(("classical", validation.classical[index]))
        for label, model, inputs in networks:
            panels.append((label, predict(model, inputs[index], torch.device("cpu"))))
        panels.append(("target", validation.targets[index]))
        lines.append(
            contact_sheet(
                [(label, _centre(image, window_px)) for label, image in panels], panel_width_px
            )
        )
    return np.concatenate(lines, axis=0)
