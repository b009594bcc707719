"""Evaluate checkpoints and the classical pipeline on the synthetic validation split.

    python -m darkdev.evaluate weights/lts-w16-bayer.safetensors [...] --cfa bayer \
        [--photos /work/cache/photos] [--count 16] [--out table.md]

Classical baseline: the noisy raw amplified linearly by the true ratio, then LibRaw's own
development (demosaic, camera white balance, sRGB gamma). Prints and saves a markdown table
like the paper's Tables 1-2 (model, parameters, PSNR, SSIM).

Each checkpoint sees the crops prepared by its own input convention (white-balanced or not,
from its metadata); --lam/--alpha feed RIMEF-amplified input instead of linear (the --hdr
question), and --highlight-rich keeps the half of the crops with the most bright target pixels.
"""

from __future__ import annotations

import argparse
import dataclasses
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


HIGHLIGHT_LEVEL = 0.8  # target brightness (max over R, G, B) counted as highlight


def highlight_fraction(image: np.ndarray) -> float:
    """Fraction of (H, W, 3) target pixels whose brightest channel exceeds HIGHLIGHT_LEVEL."""
    return float((image.max(axis=-1) > HIGHLIGHT_LEVEL).mean())


def highlight_rich(validation: data.ValidationSet) -> data.ValidationSet:
    """The half of the crops (at least one) with the largest highlight fraction, in order."""
    fractions = [highlight_fraction(target) for target in validation.targets]
    keep = sorted(np.argsort(fractions)[::-1][: max(1, len(fractions) // 2)].tolist())

    # Every per-crop list is subset the same way; kind and absent (None) lists stay as they are.
    return dataclasses.replace(
        validation,
        **{
            field.name: [getattr(validation, field.name)[i] for i in keep]
            for field in dataclasses.fields(validation)
            if isinstance(getattr(validation, field.name), list)
        },
    )


def validation_split(photos: str | Path | None, cfa_kind: str, count: int) -> data.ValidationSet:
    """Fixed crops of the held-out photos (the same ones every training run validates on)."""
    names = data.list_photo_names(photos)
    if names:  # load only the held-out photos
        held_out = data.load_photos(photos, names=data.split_names(names)[1])
    else:
        held_out = data.split_photos(data.load_photos(photos))[1]
    return data.build_validation_set(held_out, cfa_kind, count)


def evaluate(
    checkpoints: list[str | Path],
    cfa_kind: str,
    photos: str | Path | None = DEFAULT_PHOTOS,
    count: int = 16,
    validation: data.ValidationSet | None = None,
    threads: int = 2,
    lam: float = 0.0,
    alpha: float = 1.0,
) -> list[EvaluationRow]:
    """Rows for the classical pipeline and each checkpoint, on the same fixed validation crops."""
    import torch

    from darkdev.models import parameter_count
    from darkdev.train import predict
    from darkdev.weights import load_model

    if validation is None:
        validation = validation_split(photos, cfa_kind, count)
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
        inputs = validation.network_inputs(metadata["white_balance_input"], lam, alpha)
        outputs = [predict(model, packed, device) for packed in inputs]
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


def markdown_table(rows: list[EvaluationRow], cfa_kind: str, setting: str = "") -> str:
    lines = [
        f"Synthetic validation, {cfa_kind}: {rows[0].n_images} fixed crops from held-out photos "
        f"(PSNR dB / SSIM on sRGB in [0, 1], data range 1){setting}",
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
    parser.add_argument("--lam", type=float, default=0.0, help="RIMEF lambda of the input")
    parser.add_argument("--alpha", type=float, default=1.0, help="RIMEF alpha of the input")
    parser.add_argument(
        "--highlight-rich", action="store_true", help="keep the brighter half of the crops"
    )
    parser.add_argument("--out", default=None, help="markdown file to write")
    arguments = parser.parse_args(argv)
    validation = (
        data.load_validation_set(Path(arguments.validation_set))
        if arguments.validation_set
        else None
    )
    if validation is None:
        validation = validation_split(arguments.photos, arguments.cfa, arguments.count)
    if arguments.highlight_rich:
        validation = highlight_rich(validation)
    rows = evaluate(
        arguments.checkpoints,
        arguments.cfa,
        arguments.photos,
        arguments.count,
        validation,
        arguments.threads,
        arguments.lam,
        arguments.alpha,
    )
    setting = ""
    if arguments.lam > 0:
        setting += f"; networks fed RIMEF lambda {arguments.lam:g} alpha {arguments.alpha:g}"
    if arguments.highlight_rich:
        setting += "; highlight-rich half"
    table = markdown_table(rows, arguments.cfa, setting)
    print(table)
    if arguments.out:
        Path(arguments.out).write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
