"""What `darkdev publish --validation-set DIR` records: the checkpoint scored on a validation
folder's splits (network colour, guided colour, the classical development; network colour
through develop's views on a CPU too), the colour mode
it develops with, and the checkpoint it replaces scored on the same crops.

The scores are evaluation.score_colour_modes's (benchmarks/eval_colour.py prints the same);
--colour auto picks the mode with the higher PSNR + SSIM in dB over the splits
(state.selection_score's "psnr+ssim", the rule training's --select-by psnr+ssim keeps weights by).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from darkdev import weights
from darkdev.ensemble import HALF_CPU_ENSEMBLE_SIZE
from darkdev.errors import DarkdevError, ParameterError
from darkdev.manifest import VIEWS_MODE, CheckpointEntry
from darkdev.network_input import BELOW_BLACK_FLOOR, InputConvention
from darkdev.training.evaluation import (
    COLOUR_MODES,
    SPLIT_TITLES,
    DevelopmentScore,
    score_colour_modes,
    score_model,
)
from darkdev.training.state import selection_score
from darkdev.training.validation import (
    ALL_SPLITS,
    DETAIL_SPLIT,
    SPLITS,
    ValidationSet,
    load_validation_set,
    split_suffix,
    validation_set_path,
)

COLOUR_CHOICES = ("auto", *COLOUR_MODES)
COLOUR_RULE = "psnr+ssim"  # state.selection_score's rule --colour auto compares the modes by
Scores = dict[str, dict[str, DevelopmentScore]]  # split -> development -> means
DeadLeaves = tuple[Path, dict[str, ValidationSet]]  # a dead-leaves folder and its sets


def read_split_sets(
    directory: Path, cfa_kind: str, convention: InputConvention | None = None
) -> dict[str, ValidationSet]:
    """Both photo splits' sets of a CFA kind from a folder (and the detail set where it has one),
    each checked: present, readable, of that kind and split, made with LibRaw (the classical
    development scores and guides) and, given the network's input convention, able to feed it."""
    if not directory.is_dir():
        raise ParameterError(f"{directory}: no such validation folder")
    sets = {}
    for split in ALL_SPLITS:
        path = validation_set_path(directory, cfa_kind, split)
        if split == DETAIL_SPLIT and not path.is_file():
            continue  # optional: folders made before the detail set have none
        if not path.is_file():
            raise ParameterError(
                f"{path}: missing (a {cfa_kind} checkpoint is scored on both splits: "
                f"validation-{cfa_kind}-{'/'.join(SPLITS)}.npz)"
            )
        try:
            validation = load_validation_set(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise ParameterError(f"{path}: unreadable validation set ({error})") from error
        if (validation.kind, validation.split) != (cfa_kind, split):
            raise ParameterError(
                f"{path}: holds a {validation.kind} {validation.split} set, not {cfa_kind} {split}"
            )
        if validation.classical is None or len(validation) == 0:
            raise ParameterError(
                f"{path}: made without LibRaw (or empty): no classical development to score "
                "or to guide colour with"
            )
        if convention is not None:
            try:
                validation.check_input(convention)
            except ParameterError as error:
                raise ParameterError(f"{path}: {error}") from None
        sets[split] = validation
    return sets


def score_splits(
    model: torch.nn.Module, sets: dict[str, ValidationSet], convention: InputConvention
) -> Scores:
    return {
        split: score_colour_modes(model, validation, convention)
        for split, validation in sets.items()
    }


def mode_value(scores: Scores, mode: str) -> float:
    """What --colour auto compares: PSNR + SSIM in dB, mean over the splits."""
    return selection_score(
        COLOUR_RULE, {split: (s[mode].psnr, s[mode].ssim) for split, s in scores.items()}
    )


def choose_colour(scores: Scores, colour: str, how: str | None = None) -> tuple[str, str]:
    """(the colour mode, why): the asked one, or with auto the higher by mode_value (network on
    a tie: it needs no LibRaw guide). how: what the reason says chose it (default: --colour
    auto, or "asked for")."""
    if colour not in COLOUR_CHOICES:
        raise ParameterError(f"unknown colour {colour!r}; choose {', '.join(COLOUR_CHOICES)}")
    values = {mode: mode_value(scores, mode) for mode in COLOUR_MODES}
    chosen = max(COLOUR_MODES, key=lambda mode: values[mode]) if colour == "auto" else colour
    other = next(mode for mode in COLOUR_MODES if mode != chosen)
    differences = "; ".join(
        f"{SPLIT_TITLES[split]} PSNR {s[chosen].psnr - s[other].psnr:+.2f} dB, "
        f"SSIM {s[chosen].ssim - s[other].ssim:+.4f}"
        for split, s in scores.items()
    )
    how = how or ("--colour auto" if colour == "auto" else "asked for")
    return chosen, (
        f"{chosen} ({how}: PSNR + SSIM in dB, mean of the splits, {values[chosen]:.3f} "
        f"against {other}'s {values[other]:.3f}; against {other}: {differences})"
    )


def read_dead_leaves(
    directory: str | Path | None, cfa_kind: str, convention: InputConvention
) -> DeadLeaves | None:
    """A dead-leaves folder and its checked sets (read_split_sets), or None when not given."""
    if directory is None:
        return None
    return Path(directory), read_split_sets(Path(directory), cfa_kind, convention)


def views_pair(
    model: torch.nn.Module, validation: ValidationSet, convention: InputConvention
) -> list[float]:
    """Mean PSNR and SSIM of the network's own colour averaged over develop's CPU views
    (VIEWS_MODE's scores, in float32)."""
    cpu = torch.device("cpu")
    psnr, ssim = score_model(model, validation, cpu, convention, ensemble=HALF_CPU_ENSEMBLE_SIZE)
    return [round(psnr, 4), round(ssim, 4)]


def pair(score: DevelopmentScore) -> list[float]:
    return [round(score.psnr, 4), round(score.ssim, 4)]


def describe_set(directory: Path, sets: dict[str, ValidationSet]) -> str:
    counts = " + ".join(f"{len(v)} {SPLIT_TITLES[split]}" for split, v in sets.items())
    side_px = sets["all_iso"].targets[0].shape[0]
    return (
        f"synthetic, {counts} fixed {side_px} px crops: "
        f"{validation_set_path(directory, sets['all_iso'].kind, 'SPLIT')}"
    )


def scored_validation(
    model: torch.nn.Module,
    convention: InputConvention,
    sets: dict[str, ValidationSet],
    colour: str,
    directory: Path,
    command: str,
    how: str | None = None,
    dead_leaves: DeadLeaves | None = None,
) -> tuple[dict[str, Any], str]:
    """(the manifest entry's validation block, the chosen colour mode) from scoring the model
    on the sets. psnr/ssim are the chosen mode's (what develop's --colour auto gives), so is
    quality_psnr (their mean over both splits: what --model auto ranks by). how: choose_colour's.
    dead_leaves: a dead-leaves folder and its sets, scored too (dead_leaves_record)."""
    scores = score_splits(model, sets, convention)
    chosen, reason = choose_colour(scores, colour, how)
    record: dict[str, Any] = {}
    for split in scores:
        suffix = split_suffix(split)
        for name, value in zip(("psnr", "ssim"), pair(scores[split][chosen]), strict=True):
            record[f"{name}{suffix}"] = value
        classical = pair(scores[split]["classical"])
        record[f"classical_psnr{suffix}"], record[f"classical_ssim{suffix}"] = classical
    record["colour"] = chosen
    record["n_images"] = len(sets["all_iso"])
    record["set"] = describe_set(directory, sets)
    record["set_sha256"] = set_hashes(directory, sets)
    record["target"] = sets["all_iso"].target_name
    if convention.below_black:  # the floor its input had: scores depend on it
        record["input_floor"] = BELOW_BLACK_FLOOR
    record["quality_psnr"] = round((record["psnr"] + record["psnr_high_iso"]) / 2, 4)
    record["command"] = command
    modes: dict[str, Any] = {
        mode: {split: pair(s[mode]) for split, s in scores.items()} for mode in COLOUR_MODES
    }
    modes[VIEWS_MODE] = {split: views_pair(model, v, convention) for split, v in sets.items()}
    modes["mean_chroma"] = {
        name: [round(s[name].chroma, 4) for s in scores.values()]
        for name in ("target", "classical", *COLOUR_MODES)
    }
    modes["chosen"] = reason
    record["colour_modes"] = modes
    if dead_leaves is not None:
        record["dead_leaves"] = dead_leaves_record(model, convention, *dead_leaves)
    return record, chosen


def set_hashes(directory: Path, sets: dict[str, ValidationSet]) -> dict[str, str]:
    return {
        split: weights.sha256_of(validation_set_path(directory, v.kind, split))
        for split, v in sets.items()
    }


def dead_leaves_record(
    model: torch.nn.Module,
    convention: InputConvention,
    directory: Path,
    sets: dict[str, ValidationSet],
) -> dict[str, Any]:
    """Scores on a dead-leaves folder's splits (scripts/make_dead_leaves.py): finer texture
    than the photos hold, so what sharpness the photo splits cannot show. Network colour (one
    view), guided colour and the classical development, as on the photo splits."""
    scores = score_splits(model, sets, convention)
    return {
        "set": describe_set(directory, sets),
        "set_sha256": set_hashes(directory, sets),
        **{
            name: {split: pair(s[name]) for split, s in scores.items()}
            for name in (*COLOUR_MODES, "classical")
        },
    }


def rescore_previous(
    previous: CheckpointEntry, directory: Path, sets: dict[str, ValidationSet], set_name: str
) -> dict[str, Any] | str:
    """The replaced checkpoint on the same sets (named, since the same weights published again
    keep this record), in its colour mode; or why it was not scored."""
    kind = sets["all_iso"].kind
    if previous.cfa_kind != kind:
        return f"not scored: it is a {previous.cfa_kind} checkpoint, the sets are {kind}"
    try:
        model, meta = weights.load_checkpoint(directory / previous.file, previous.sha256, kind)
    except DarkdevError as error:
        return f"not scored: {error}"
    mode = previous.colour if previous.colour in COLOUR_MODES else "network"
    scores = score_splits(model, sets, meta.input_convention)
    splits = {split: pair(s[mode]) for split, s in scores.items()}
    return {"colour": mode, "set": set_name, **splits}
