"""Evaluate checkpoints and the classical pipeline on the synthetic validation split.

    python -m darkdev.evaluate weights/lts-w16-bayer.safetensors [...] --cfa bayer \
        [--photos /work/cache/photos] [--count 16] [--out table.md]

Classical baseline: the noisy raw amplified linearly by the true ratio, then LibRaw's own
development (demosaic, camera white balance, sRGB gamma). Prints and saves a markdown table
like the paper's Tables 1-2 (model, parameters, PSNR, SSIM).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkdev import data, metrics
from darkdev.errors import ParameterError

DEFAULT_PHOTOS = "/work/cache/photos"


@dataclass
class EvaluationRow:
    name: str
    parameters: int | None
    psnr: float
    ssim: float
    n_images: int


def score_images(targets: list[np.ndarray], outputs: list[np.ndarray]) -> tuple[float, float]:
    psnrs = [metrics.psnr(t, o) for t, o in zip(targets, outputs, strict=True)]
    ssims = [metrics.ssim(t, o) for t, o in zip(targets, outputs, strict=True)]
    return float(np.mean(psnrs)), float(np.mean(ssims))


def evaluate(
    checkpoints: list[str | Path],
    cfa_kind: str,
    photos: str | Path | None = DEFAULT_PHOTOS,
    count: int = 16,
    validation: data.ValidationSet | None = None,
    threads: int = 2,
) -> list[EvaluationRow]:
    """Rows for the classical pipeline and each checkpoint, on the same fixed validation crops."""
    import torch

    from darkdev.models import parameter_count
    from darkdev.train import predict
    from darkdev.weights import load_model

    if validation is None:
        names = data.list_photo_names(photos)
        if names:  # load only the held-out photos
            held_out = data.load_photos(photos, names=data.split_names(names)[1])
        else:
            held_out = data.split_photos(data.load_photos(photos))[1]
        validation = data.build_validation_set(held_out, cfa_kind, count)
    if validation.kind != cfa_kind:
        raise ParameterError(f"validation set is {validation.kind}, asked for {cfa_kind}")
    torch.set_num_threads(threads)
    rows = [
        EvaluationRow(
            "classical (linear ratio + LibRaw)",
            None,
            *score_images(validation.targets, validation.classical),
            len(validation),
        )
    ]
    device = torch.device("cpu")
    for checkpoint in checkpoints:
        model, metadata = load_model(Path(checkpoint), expected_cfa_kind=cfa_kind)
        outputs = [predict(model, packed, device) for packed in validation.inputs]
        arguments = json.dumps(metadata["arguments"])
        label = f"{metadata['architecture']} {arguments} ({checkpoint})"
        rows.append(
            EvaluationRow(
                label,
                parameter_count(model),
                *score_images(validation.targets, outputs),
                len(validation),
            )
        )
    return rows


def markdown_table(rows: list[EvaluationRow], cfa_kind: str) -> str:
    lines = [
        f"Synthetic validation, {cfa_kind}: {rows[0].n_images} fixed crops from held-out photos "
        "(PSNR dB / SSIM on sRGB in [0, 1], data range 1)",
        "",
        "| model | params | PSNR | SSIM |",
        "|---|---|---|---|",
    ]
    for row in rows:
        parameters = "-" if row.parameters is None else f"{row.parameters / 1e6:.2f}M"
        lines.append(f"| {row.name} | {parameters} | {row.psnr:.3f} | {row.ssim:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m darkdev.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("checkpoints", nargs="*", help="safetensors checkpoints of one CFA kind")
    parser.add_argument("--cfa", default="bayer", choices=["bayer", "xtrans"])
    parser.add_argument("--photos", default=DEFAULT_PHOTOS)
    parser.add_argument("--count", type=int, default=16, help="validation crops")
    parser.add_argument("--validation-set", default=None, help="a run's validation-<cfa>.npz")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="markdown file to write")
    arguments = parser.parse_args(argv)
    validation = (
        data.load_validation_set(Path(arguments.validation_set))
        if arguments.validation_set
        else None
    )
    rows = evaluate(
        arguments.checkpoints,
        arguments.cfa,
        arguments.photos,
        arguments.count,
        validation,
        arguments.threads,
    )
    table = markdown_table(rows, arguments.cfa)
    print(table)
    if arguments.out:
        Path(arguments.out).write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
