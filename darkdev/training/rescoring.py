"""Rescoring a bundled checkpoint: its manifest entry's validation block measured again on a
validation folder (`darkdev rescore`), so that checkpoints published at different times are
listed on the same crops, the detail split included.

The weights, their hash and the colour mode develop uses are left as they are: rescoring
measures, it never changes what `develop` does. The scores it replaces stay in the entry under
`rescored_from`, with the set they were made on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from darkdev import manifest, weights
from darkdev.errors import ParameterError
from darkdev.training.lineage import SCORE_NAMES
from darkdev.training.publish_scores import read_split_sets, scored_validation

RESCORED_KEY = "rescored_from"


def find_bundled(name: str, directory: Path) -> tuple[list[manifest.CheckpointEntry], int]:
    """The manifest's entries and the index of the one named by its file name or stem (any
    case; an architecture name is ambiguous across CFA kinds, so it is not accepted here)."""
    entries = manifest.read_manifest(directory)
    wanted = name.lower()
    for index, entry in enumerate(entries):
        if wanted in (entry.file.lower(), Path(entry.file).stem.lower()):
            return entries, index
    known = ", ".join(Path(e.file).stem for e in entries) or "none"
    raise ParameterError(f"no checkpoint named {name!r} in {directory} (bundled: {known})")


def _replaced_scores(validation: dict[str, Any]) -> dict[str, Any]:
    """What the entry said before: its scores, colour and set, and any earlier rescore's record
    (so a chain of rescores nests, newest outside)."""
    record: dict[str, Any] = {n: validation[n] for n in SCORE_NAMES if n in validation}
    for key in ("colour", "set", "command", RESCORED_KEY):
        if key in validation:
            record[key] = validation[key]
    return record


def rescore(
    name: str,
    validation_directory: str | Path,
    weights_directory: Path | None = None,
    command: str | None = None,
) -> tuple[manifest.CheckpointEntry, dict[str, Any]]:
    """Score a bundled checkpoint on a validation folder's splits (its CFA kind's all ISO and
    high ISO sets, and detail where the folder has one) in its own colour mode and replace its
    manifest entry's validation block; returns (the new entry, the scores it replaced).

    The checkpoint is verified by its SHA-256 before it is scored, and the manifest is
    replaced atomically: a failure leaves the old entry as it was.
    """
    directory = Path(weights_directory) if weights_directory else manifest.weights_dir()
    validation_directory = Path(validation_directory)
    entries, index = find_bundled(name, directory)
    entry = entries[index]
    sets = read_split_sets(validation_directory, entry.cfa_kind)
    model, meta = weights.load_entry(entry, directory)
    command = command or f"rescore({entry.file!r}, {str(validation_directory)!r})"
    validation, _ = scored_validation(
        model, meta.input_convention, sets, entry.colour, validation_directory, command
    )
    replaced = _replaced_scores(entry.validation)
    if "previous" in entry.validation:  # the entry this one replaced when it was published
        validation["previous"] = entry.validation["previous"]
    validation[RESCORED_KEY] = replaced
    entry.validation = validation
    manifest.write_manifest(entries, directory)
    return entry, replaced
