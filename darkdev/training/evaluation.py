"""Scores: a model or the classical pipeline on the fixed validation sets (PSNR, SSIM), and the
evaluation table of checkpoints (`darkdev evaluate`).

Classical baseline: the noisy raw amplified linearly by the true ratio, then LibRaw's own
development (demosaic, camera white balance, sRGB gamma). Each checkpoint sees the crops
prepared by its own input convention (white-balanced or not, from its metadata); lam/alpha feed
RIMEF-amplified input instead of linear (the --hdr question).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from darkdev import metrics
from darkdev.errors import OutputError, ParameterError, ShapeError, WeightsError
from darkdev.models import STRIDE
from darkdev.network_input import InputConvention
from darkdev.training import photos as photo_files
from darkdev.training.validation import (
    ALL_SPLITS,
    VALIDATION_SEED,
    ValidationSet,
    build_split,
    load_validation_set,
    save_validation_set,
    validation_set_path,
)

CLASSICAL_LABEL = "classical (linear ratio + LibRaw)"
HIGHLIGHT_LEVEL = 0.8  # target brightness (max over R, G, B) counted as highlight
SPLIT_TITLES = {"all_iso": "all ISO", "high_iso": "high ISO", "detail": "detail"}


def predict(model: torch.nn.Module, packed: np.ndarray, device: torch.device) -> np.ndarray:
    """(C, h, w) amplified packed raw -> (h*s, w*s, 3) float32 sRGB clipped to [0, 1]."""
    if packed.ndim != 3 or packed.shape[1] % STRIDE or packed.shape[2] % STRIDE:
        raise ShapeError(
            f"packed input must be (C, h, w) with sides multiple of {STRIDE}, got {packed.shape}"
        )
    with torch.no_grad():
        output = model(torch.from_numpy(np.ascontiguousarray(packed))[None].to(device))
    return output[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def score_images(targets: list[np.ndarray], outputs: list[np.ndarray]) -> tuple[float, float]:
    """Mean PSNR and SSIM of outputs against their targets."""
    psnrs = [metrics.psnr(t, o) for t, o in zip(targets, outputs, strict=True)]
    ssims = [metrics.ssim(t, o) for t, o in zip(targets, outputs, strict=True)]
    return float(np.mean(psnrs)), float(np.mean(ssims))


def score_model(
    model: torch.nn.Module,
    validation: ValidationSet,
    device: torch.device,
    convention: InputConvention = InputConvention(),
    lam: float = 0.0,
    alpha: float = 1.0,
    ensemble: int = 1,
) -> tuple[float, float]:
    """Mean PSNR and SSIM of a model over a validation set; ensemble: views averaged (ensemble.py)."""
    was_training = model.training
    model.eval()
    inputs = validation.network_inputs(convention, lam, alpha)
    if ensemble == 1:
        outputs = [predict(model, packed, device) for packed in inputs]
    else:
        from darkdev.cfa import BLOCK_SIZE
        from darkdev.ensemble import ensemble_output
        from darkdev.inference import run_network

        def run(view: np.ndarray) -> np.ndarray:  # a view's sides need not fit the stride
            return run_network(model, view, BLOCK_SIZE[validation.kind], device)

        kind = validation.kind
        outputs = [ensemble_output(p, kind, ensemble, run) for p in inputs]  # type: ignore[arg-type]
    model.train(was_training)
    return score_images(validation.targets, outputs)


@dataclass
class DevelopmentScore:
    """Means over a validation set's crops (psnr, ssim: nan for the targets themselves)."""

    psnr: float
    ssim: float
    chroma: float  # metrics.chroma: 0 for a grey image


COLOUR_MODES = ("network", "guided")  # what `darkdev develop --colour` chooses between


def score_colour_modes(
    model: torch.nn.Module,
    validation: ValidationSet,
    convention: InputConvention = InputConvention(),
    device: torch.device | None = None,
) -> dict[str, DevelopmentScore]:
    """The classical development, the network's own colour and guided colour (the network's
    luminance with the classical development's chroma, colour.guided_colour) on a validation
    set, with the targets' chroma: keys target, classical, network, guided.

    The network runs as score_model runs it (whole crops, float32), so its numbers are
    `darkdev evaluate`'s. The guide is the set's full-resolution classical development (develop
    uses LibRaw's half-size one of the same amplified raw).
    """
    from darkdev.colour import guided_colour

    if validation.classical is None:
        raise ParameterError(
            f"{validation.kind} {validation.split} validation set was made without LibRaw: "
            "no classical development to score or to guide colour with"
        )
    was_training = model.training
    model.eval()
    inputs = validation.network_inputs(convention)
    images: dict[str, list[np.ndarray]] = {name: [] for name in ("classical", *COLOUR_MODES)}
    for packed, classical in zip(inputs, validation.classical, strict=True):
        output = predict(model, packed, device or torch.device("cpu"))
        images["classical"].append(classical)
        images["network"].append(output)
        images["guided"].append(guided_colour(output, classical))
    model.train(was_training)
    targets = validation.targets
    scores = {"target": DevelopmentScore(math.nan, math.nan, _mean_chroma(targets))}
    for name, outputs in images.items():
        scores[name] = DevelopmentScore(*score_images(targets, outputs), _mean_chroma(outputs))
    return scores


def _mean_chroma(images: list[np.ndarray]) -> float:
    return float(np.mean([metrics.chroma(image) for image in images]))


def score_classical(validation: ValidationSet) -> tuple[float, float]:
    if validation.classical is None:
        return math.nan, math.nan  # made without LibRaw (the GPU machine)
    return score_images(validation.targets, validation.classical)


def highlight_fraction(image: np.ndarray) -> float:
    """Fraction of (H, W, 3) target pixels whose brightest channel exceeds HIGHLIGHT_LEVEL."""
    return float((image.max(axis=-1) > HIGHLIGHT_LEVEL).mean())


def highlight_rich(validation: ValidationSet) -> ValidationSet:
    """The half of the crops (at least one) with the largest highlight fraction, in order."""
    fractions = [highlight_fraction(target) for target in validation.targets]
    keep = sorted(np.argsort(fractions)[::-1][: max(1, len(fractions) // 2)].tolist())
    return validation.subset(keep)


def held_out_photos(photos: str | Path | None) -> list[photo_files.Photo]:
    """The held-out photos of a folder: the ones every training run validates on."""
    names = photo_files.list_photo_names(photos)
    return photo_files.load_photos(photos, names=photo_files.split_names(names)[1])


def held_out_validation_sets(
    photos: str | Path | None,
    cfa_kind: str,
    count: int,
    packed_px: int | None = None,
    splits: tuple[str, ...] = ALL_SPLITS,
    seed: int = VALIDATION_SEED,
) -> dict[str, ValidationSet]:
    """Each split's fixed crops of the held-out photos (the detail split's dead leaves
    coloured from them): the sets a training run of that photo folder builds; another seed
    draws other crops (and noise) of the same photos, e.g. to check a run's pick afresh."""
    held_out = held_out_photos(photos)
    return {
        split: build_split(held_out, cfa_kind, split, count, seed, packed_px=packed_px)
        for split in splits
    }


def check_free(directory: str | Path, cfa_kind: str, splits: tuple[str, ...]) -> None:
    """Refuse to replace a saved set (the scores recorded against it would lose their meaning)."""
    for split in splits:
        path = validation_set_path(Path(directory), cfa_kind, split)
        if path.exists():
            raise ParameterError(f"{path}: exists; keep it, or remove it to build it again")


def save_validation_sets(validations: dict[str, ValidationSet], directory: str | Path) -> None:
    """Write each split as DIRECTORY/validation-CFA-SPLIT.npz, for --validation-set later;
    never replaces one (check_free)."""
    kinds = {v.kind for v in validations.values()}
    for kind in kinds:
        check_free(directory, kind, tuple(s for s, v in validations.items() if v.kind == kind))
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = error.strerror or error
        raise OutputError(f"{directory}: cannot make the folder ({problem})") from error
    for split, validation in validations.items():
        save_validation_set(
            validation, validation_set_path(Path(directory), validation.kind, split)
        )


def read_validation_sets(paths: list[str | Path], cfa_kind: str) -> dict[str, ValidationSet]:
    """Saved validation sets by split: npz files, or run folders (their validation-CFA-SPLIT.npz)."""
    result: dict[str, ValidationSet] = {}
    for given in map(Path, paths):
        files = (
            [validation_set_path(given, cfa_kind, split) for split in ALL_SPLITS]
            if given.is_dir()
            else [given]
        )
        found = [f for f in files if f.is_file()]
        if not found:
            raise ParameterError(f"{given}: no validation set (validation-{cfa_kind}-SPLIT.npz)")
        for path in found:
            validation = load_validation_set(path)
            result[validation.split] = validation
    return result


@dataclass
class EvaluationRow:
    name: str
    parameters: int | None
    split: str
    psnr: float
    ssim: float
    n_images: int


def evaluate(
    checkpoints: list[str | Path],
    validations: dict[str, ValidationSet],
    cfa_kind: str,
    threads: int = 2,
    lam: float = 0.0,
    alpha: float = 1.0,
    ensemble: int = 1,
) -> list[EvaluationRow]:
    """Rows for the classical pipeline and each checkpoint, on every split's fixed crops."""
    from darkdev.models import parameter_count
    from darkdev.weights import load_model

    for validation in validations.values():
        if validation.kind != cfa_kind:
            raise ParameterError(f"validation set is {validation.kind}, asked for {cfa_kind}")
    # Every checkpoint is read and checked before minutes of scoring, not after.
    networks = [(checkpoint, *load_model(Path(checkpoint))) for checkpoint in checkpoints]
    conventions = {
        checkpoint: InputConvention.from_metadata(meta) for checkpoint, _, meta in networks
    }
    for checkpoint, _, metadata in networks:
        if metadata["cfa_kind"] != cfa_kind:
            raise WeightsError(
                f"{checkpoint}: checkpoint is for {metadata['cfa_kind']} sensors, "
                f"the validation set (--cfa) is {cfa_kind}"
            )
        for validation in validations.values():
            try:
                validation.check_input(conventions[checkpoint])
            except ParameterError as error:
                raise ParameterError(f"{checkpoint}: {error}") from None
    torch.set_num_threads(threads)
    rows = [
        EvaluationRow(CLASSICAL_LABEL, None, split, *score_classical(v), len(v))
        for split, v in validations.items()
    ]
    device = torch.device("cpu")
    for checkpoint, model, metadata in networks:
        label = f"{metadata['architecture']} {json.dumps(metadata['arguments'])} ({checkpoint})"
        for split, validation in validations.items():
            psnr_db, ssim_value = score_model(
                model, validation, device, conventions[checkpoint], lam, alpha, ensemble
            )
            rows.append(
                EvaluationRow(
                    label, parameter_count(model), split, psnr_db, ssim_value, len(validation)
                )
            )
    return rows


def _number(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def markdown_table(rows: list[EvaluationRow], cfa_kind: str, setting: str = "") -> str:
    """One line per model, PSNR and SSIM of each split side by side (like the paper's tables)."""
    splits = list(dict.fromkeys(row.split for row in rows))
    counts = {row.split: row.n_images for row in rows}
    described = ", ".join(f"{SPLIT_TITLES.get(s, s)} {counts[s]}" for s in splits)
    header = " | ".join(
        f"PSNR {SPLIT_TITLES.get(s, s)} | SSIM {SPLIT_TITLES.get(s, s)}" for s in splits
    )
    lines = [
        f"Synthetic validation, {cfa_kind}: fixed crops from held-out photos ({described}; "
        f"PSNR dB / SSIM on sRGB in [0, 1], data range 1){setting}",
        "",
        f"| model | params | {header} |",
        "|---|---|" + "---|---|" * len(splits),
    ]
    by_model: dict[str, dict[str, EvaluationRow]] = {}
    for row in rows:
        by_model.setdefault(row.name, {})[row.split] = row
    for name, per_split in by_model.items():
        parameters = next(iter(per_split.values())).parameters
        shown = "-" if parameters is None else f"{parameters / 1e6:.2f}M"
        cells = [
            f"{_number(per_split[s].psnr, 3)} | {_number(per_split[s].ssim, 4)}"
            if s in per_split
            else "- | -"
            for s in splits
        ]
        lines.append(f"| {name} | {shown} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"
