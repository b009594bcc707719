"""Geometric self-ensemble: the network run on flips and turns of the raw, its outputs averaged.

A denoiser's errors differ between mirrored views of one scene, so the mean of several views
has less of them (docs/training-history.md gives the measured gain). Each view is taken of the
mosaic, not of the packed image, and re-packed from its canonical phase (a flipped RGGB mosaic
is GBRG until its first row is skipped; X-Trans likewise), so the network always sees the CFA
it learnt. The first four views keep sensor rows as rows, so row noise stays row noise; the
last four turn rows into columns, a noise the networks never saw, and come last for that
reason.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from darkdev import cfa
from darkdev.errors import ParameterError, ShapeError

VIEWS = (
    "identity",
    "rotate_180",
    "flip_rows",
    "flip_columns",
    "transpose",
    "anti_transpose",
    "rotate_90",
    "rotate_270",
)
ENSEMBLE_SIZES = (1, 2, 4, 8)
# develop's default on CUDA, where a pass is cheap (+0.15 dB, +0.02 SSIM:
# docs/training-history.md).
GPU_ENSEMBLE_SIZE = 8
# develop's default on a CPU running the network in native bfloat16 (AMX, AVX512-BF16): the
# second view is most of the gain (+0.1 dB, +0.007 SSIM: docs/training-history.md); 12 MP in
# 8.5 s on 2 cores.
HALF_CPU_ENSEMBLE_SIZE = 2
# Pixels a view only filled by edge replication (outside its whole CFA periods) count this much,
# so they decide only where no view saw the pixel.
EDGE_WEIGHT = 1e-3
CANONICAL = {"bayer": cfa.BAYER_CANONICAL, "xtrans": cfa.XTRANS_CANONICAL}


def check_ensemble_size(size: int) -> None:
    if size not in ENSEMBLE_SIZES:
        raise ParameterError(
            f"--ensemble must be one of {', '.join(map(str, ENSEMBLE_SIZES))}, got {size}"
        )


def default_ensemble_size(device_type: str, runs_native_half: bool) -> int:
    """develop's views when --ensemble is not given: GPU_ENSEMBLE_SIZE on CUDA,
    HALF_CPU_ENSEMBLE_SIZE on a CPU computing the network in native bfloat16, else 1: a
    float32 CPU already spends about 10 s of the 20 s target on one view of 12 MP."""
    if device_type == "cuda":
        return GPU_ENSEMBLE_SIZE
    if device_type == "cpu" and runs_native_half:
        return HALF_CPU_ENSEMBLE_SIZE
    return 1


def view(name: str, image: np.ndarray) -> np.ndarray:
    """The (H, W, ...) image seen through one of VIEWS (a numpy view, no copy)."""
    if name == "identity":
        return image
    if name == "rotate_180":
        return image[::-1, ::-1]
    if name == "flip_rows":
        return image[::-1]
    if name == "flip_columns":
        return image[:, ::-1]
    if name == "transpose":
        return image.swapaxes(0, 1)
    if name == "anti_transpose":
        return image[::-1, ::-1].swapaxes(0, 1)
    if name == "rotate_90":
        return np.rot90(image, 1)
    if name == "rotate_270":
        return np.rot90(image, -1)
    raise ParameterError(f"unknown view {name!r}; choose one of {', '.join(VIEWS)}")


def unview(name: str, image: np.ndarray) -> np.ndarray:
    """The inverse of view(name, .): every view is its own inverse but the quarter turns."""
    inverse = {"rotate_90": "rotate_270", "rotate_270": "rotate_90"}.get(name, name)
    return view(inverse, image)


def ensemble_output(
    packed: np.ndarray,
    kind: cfa.CfaKind,
    size: int,
    run: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """(C, h, w) network input, packed from canonical phase -> (h*s, w*s, 3) float32: the mean
    of run() over the first `size` VIEWS of its mosaic.

    run: (C, h', w') packed input -> (h'*s, w'*s, 3) output (the network, tiled or not); views
    are re-packed from their own canonical phase, so h', w' may be a period smaller.
    """
    check_ensemble_size(size)
    if packed.ndim != 3 or packed.shape[0] != cfa.CHANNELS[kind]:
        raise ShapeError(
            f"packed {kind} input must be ({cfa.CHANNELS[kind]}, h, w), got {packed.shape}"
        )
    if size == 1:
        return run(packed)
    mosaic = cfa.unpack(packed, cfa.CfaLayout(kind, 0, 0))
    height, width = mosaic.shape
    # The mosaic is whole periods (unpack), so a two-period map shows each view's CFA phase.
    colours = np.tile(CANONICAL[kind], (2, 2))
    block = cfa.BLOCK_SIZE[kind]
    total = np.zeros((height, width, 3), dtype=np.float32)
    weight = np.zeros((height, width), dtype=np.float32)
    for name in VIEWS[:size]:
        layout = cfa.detect_layout(np.ascontiguousarray(view(name, colours)))
        viewed = cfa.pack(np.ascontiguousarray(view(name, mosaic)), layout)
        output = run(viewed)
        expected = (viewed.shape[1] * block, viewed.shape[2] * block, 3)
        if output.shape != expected:
            raise ShapeError(
                f"network output for view {name} must be {expected}, got {output.shape}"
            )
        del viewed  # freed before the sums grow: a 42 MP frame's copies weigh GiBs
        _add_view(view(name, total), view(name, weight), output, layout)
    total /= weight[..., None]
    return total


def _add_view(
    total: np.ndarray, weight: np.ndarray, output: np.ndarray, layout: cfa.CfaLayout
) -> None:
    """Add one view's (h, w, 3) output into the sums, both seen through that view (numpy views,
    written in place): its packed region at weight 1, the edge outside its whole periods at
    EDGE_WEIGHT, replicated as cfa.place_output pads, without a frame-sized padded copy."""
    top, left = layout.offset_rows, layout.offset_cols
    bottom, right = top + output.shape[0], left + output.shape[1]
    total[top:bottom, left:right] += output
    weight[top:bottom, left:right] += 1.0
    # Rows above and below take the nearest output row; whole-height columns left and right
    # the nearest output column (so corners take the corner pixels).
    total[:top, left:right] += EDGE_WEIGHT * output[:1]
    total[bottom:, left:right] += EDGE_WEIGHT * output[-1:]
    pad_rows = ((top, total.shape[0] - bottom), (0, 0), (0, 0))
    total[:, :left] += EDGE_WEIGHT * np.pad(output[:, :1], pad_rows, mode="edge")
    total[:, right:] += EDGE_WEIGHT * np.pad(output[:, -1:], pad_rows, mode="edge")
    for edge in (weight[:top, left:right], weight[bottom:, left:right]):
        edge += EDGE_WEIGHT
    for edge in (weight[:, :left], weight[:, right:]):
        edge += EDGE_WEIGHT
