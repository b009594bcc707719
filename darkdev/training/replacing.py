"""The entry a publication replaces: the record the new entry keeps of it (how it was made and
scored, and its scores on the new entry's validation crops), the speed carried over when the
network is the same, and the manifest with the new entry in its place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from darkdev import manifest
from darkdev.training.lineage import SCORE_NAMES, earlier_checkpoint, is_complete_record
from darkdev.training.publish_scores import rescore_previous

SPEED_KEY = "cpu_2_cores_12mp_s"


def replaced_record(
    previous: manifest.CheckpointEntry,
    sha256: str,
    directory: Path,
    sets: dict | None,
    set_name: str,
) -> dict[str, Any] | None:
    """The entry a publication replaces: its file, hash and scores as its manifest entry had
    them, how it was made (one level deep, with its lineage), and with a validation folder, its
    scores on those very crops, named by set_name (their own scores may later move to another
    set). The same weights published again keep what they replaced (None if nothing: an entry
    never records itself)."""
    if previous.sha256 == sha256:
        return previous.validation.get("previous")
    identity = {"file": previous.file, "sha256": previous.sha256}
    scores = previous.validation
    record: dict[str, Any] = {
        **identity,
        "colour": previous.colour,
        "validation": {n: scores[n] for n in (*SCORE_NAMES, "set") if n in scores},
    }
    if is_complete_record(previous.training):  # so a run started from it finds its lineage
        made = earlier_checkpoint(identity, previous.training, None)
        record.update({k: v for k, v in made.items() if k not in (*identity, "validation")})
    if sets is not None:
        record["this_set"] = rescore_previous(previous, directory, sets, set_name)
    return record


def kept_speed(
    previous: manifest.CheckpointEntry | None,
    entry: manifest.CheckpointEntry,
    seconds: float | None,
) -> dict[str, Any]:
    """The measured 12 MP time given; else the replaced entry's, when it is the same network
    (architecture, arguments, CFA kind) developing in the same colour mode (guided colour adds
    LibRaw's half-size development to the time), unchanged if they are the same weights; else
    none."""
    if seconds is not None:
        return {SPEED_KEY: seconds}
    if previous is None or not previous.speed:
        return {}
    same = (previous.architecture, previous.arguments, previous.cfa_kind, previous.colour)
    if same != (entry.architecture, entry.arguments, entry.cfa_kind, entry.colour):
        return {}
    if previous.sha256 == entry.sha256:  # the same weights published again: their own speed
        return dict(previous.speed)
    speed = dict(previous.speed)
    if "note" in previous.speed:  # the measurement's own note, carried along unchanged
        speed["measured"] = previous.speed.get("measured", previous.speed["note"])
    speed["note"] = (
        f"kept from the entry this one replaced (sha256 {previous.sha256[:12]}...): same "
        "architecture, arguments, CFA kind and colour mode, so the same speed; not measured again"
    )
    return speed


def with_entry(
    entries: list[manifest.CheckpointEntry], entry: manifest.CheckpointEntry
) -> list[manifest.CheckpointEntry]:
    """The manifest with the entry added, or in the place of the one of its file name; as the
    default, the only default of its CFA kind."""
    result = [entry if other.file == entry.file else other for other in entries]
    if all(other.file != entry.file for other in entries):
        result.append(entry)
    if entry.default:
        for other in result:
            if other is not entry and other.cfa_kind == entry.cfa_kind:
                other.default = False
    return result
