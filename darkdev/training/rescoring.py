"""Rescoring bundled checkpoints: their manifest entries' scores measured again on a validation
folder (`darkdev rescore`), so that checkpoints published at different times are listed on the
same crops, the detail split included.

The weights, their hash and the colour mode develop uses are left as they are: rescoring
measures, it never changes what `develop` does. What the scoring replaces (the scores, their
set and its hashes, the colour comparison) moves to the entry's `rescored_from` list, oldest
first, unless the rescore measured the same scores on the same sets; what describes the
weights themselves (a colour-response probe, the record of the entry a publication replaced)
stays where it is. `--model auto` ranks a CFA kind's checkpoints by
their scores, so a rescore that would leave them scored on different sets is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from darkdev import manifest, weights
from darkdev.errors import ParameterError, WeightsError
from darkdev.training.evaluation import COLOUR_MODES
from darkdev.training.publish_scores import (
    read_dead_leaves,
    read_split_sets,
    scored_validation,
)
from darkdev.training.validation import ALL_SPLITS, SPLITS, split_suffix, validation_set_path

RESCORED_KEY = "rescored_from"
KEPT_COLOUR = "kept: the mode the entry develops with"
# Scores of every split: a folder without a detail set must not leave the old detail scores.
SPLIT_SCORE_KEYS = frozenset(
    f"{prefix}{measure}{split_suffix(split)}"
    for split in ALL_SPLITS
    for prefix in ("", "classical_")
    for measure in ("psnr", "ssim")
)


@dataclass
class Rescored:
    """One rescored entry and the values the scoring replaced in it."""

    entry: manifest.CheckpointEntry
    replaced: dict[str, Any]


def find_bundled(entries: list[manifest.CheckpointEntry], name: str, directory: Path) -> int:
    """The index of the entry named by its file name or stem (any case; an architecture name
    is not accepted: it names one checkpoint per CFA kind)."""
    for index, entry in enumerate(entries):
        if name.lower() in (n.lower() for n in manifest.entry_names(entry)[:2]):
            return index
    known = ", ".join(Path(e.file).stem for e in entries) or "none"
    raise ParameterError(
        f"{directory / manifest.MANIFEST_NAME}: no checkpoint named {name!r} (bundled: {known})"
    )


def _check_colour(entry: manifest.CheckpointEntry, directory: Path) -> None:
    if entry.colour not in COLOUR_MODES:
        raise WeightsError(
            f"{directory / manifest.MANIFEST_NAME}: {entry.file} has colour {entry.colour!r}, "
            f"not one of {', '.join(COLOUR_MODES)}"
        )


def _ranked_hashes(entry: manifest.CheckpointEntry) -> tuple[str | None, ...] | None:
    """The hashes of the all ISO and high ISO sets an entry's ranking score was made on, or
    None for an entry that records none (scored before hashes were kept) or is not ranked."""
    recorded = entry.validation.get("set_sha256")
    if "quality_psnr" not in entry.validation or not recorded:
        return None
    return tuple(recorded.get(split) for split in SPLITS)


def _check_comparable(
    entries: list[manifest.CheckpointEntry], named: set[int], folder: Path
) -> None:
    """Refuse to rescore some of a CFA kind's checkpoints on other sets than the rest were."""
    for index in named:
        kind = entries[index].cfa_kind
        hashes = tuple(
            weights.sha256_of(validation_set_path(folder, kind, split)) for split in SPLITS
        )
        for other_index, other in enumerate(entries):
            if other_index in named or other.cfa_kind != kind:
                continue
            other_hashes = _ranked_hashes(other)
            if other_hashes is not None and other_hashes != hashes:
                raise ParameterError(
                    f"{folder}: its {kind} all ISO / high ISO sets are not those {other.file} "
                    "was scored on, and --model auto ranks a CFA kind's checkpoints on one set: "
                    f"rescore {Path(other.file).stem} with them"
                )


def _measured_again(replaced: dict[str, Any], scored: dict[str, Any]) -> bool:
    """Whether a rescore found what the entry held (same sets, same scores; a newly measured
    colour mode aside): then there is nothing to keep in rescored_from."""
    for key, value in replaced.items():
        if key == "command":
            continue
        if key == "colour_modes":  # "chosen" says how the mode was picked, not a measure
            if any(scored[key].get(m) != old for m, old in value.items() if m != "chosen"):
                return False
        elif scored.get(key) != value:
            return False
    return True


def _rescored_block(old: dict[str, Any], scored: dict[str, Any]) -> tuple[dict, dict]:
    """(the new validation block, what it replaced): every key the scoring writes and every
    split score moves to rescored_from, unless measured again unchanged; the rest stays."""
    stale = set(scored) | SPLIT_SCORE_KEYS
    replaced = {key: value for key, value in old.items() if key in stale}
    block = {key: value for key, value in old.items() if key not in stale | {RESCORED_KEY}}
    block.update(scored)
    history = old.get(RESCORED_KEY, [])
    if not _measured_again(replaced, scored):
        history = [*history, replaced]
    elif "chosen" in replaced.get("colour_modes", {}):  # the same scores: the same choice
        block["colour_modes"]["chosen"] = replaced["colour_modes"]["chosen"]
    if history:
        block[RESCORED_KEY] = history
    return block, replaced


def rescore(
    names: Sequence[str],
    validation_directory: str | Path,
    weights_directory: Path | None = None,
    command: str | None = None,
    dead_leaves_directory: str | Path | None = None,
) -> list[Rescored]:
    """Score bundled checkpoints on a validation folder's splits (each one's CFA kind's all ISO
    and high ISO sets, and detail where the folder has one) in their own colour mode, and
    replace their manifest entries' scores; with dead_leaves_directory, on its sets too.

    Every checkpoint is verified by its SHA-256 and every set checked before anything is
    scored; the manifest is replaced atomically once all are scored, so a failure leaves it as
    it was.
    """
    directory = Path(weights_directory) if weights_directory else manifest.weights_dir()
    folder = Path(validation_directory)
    entries = manifest.read_manifest(directory)
    named = sorted({find_bundled(entries, name, directory) for name in names})
    if not named:
        raise ParameterError("name at least one checkpoint to rescore")
    loaded = []
    for index in named:
        entry = entries[index]
        _check_colour(entry, directory)
        model, meta = weights.load_entry(entry, directory)
        sets = read_split_sets(folder, entry.cfa_kind, meta.input_convention)
        dead_leaves = read_dead_leaves(dead_leaves_directory, entry.cfa_kind, meta.input_convention)
        loaded.append((index, model, meta, sets, dead_leaves))
    _check_comparable(entries, set(named), folder)
    command = command or f"rescore({[entries[i].file for i in named]!r}, {str(folder)!r})"
    results = []
    for index, model, meta, sets, dead_leaves in loaded:
        entry = entries[index]
        scored, _ = scored_validation(
            model,
            meta.input_convention,
            sets,
            entry.colour,
            folder,
            command,
            KEPT_COLOUR,
            dead_leaves,
        )
        entry.validation, replaced = _rescored_block(entry.validation, scored)
        results.append(Rescored(entry, replaced))
    manifest.write_manifest(entries, directory)
    return results
