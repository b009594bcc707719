"""The README's figures for the bundled networks are the manifest's (photo splits, dead leaves,
2 views, guided colour), so a new checkpoint that ships without its README figures updated
fails here instead of leaving a stale table."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "darkdev" / "checkpoints" / "manifest.json").read_text())
README = (ROOT / "README.md").read_text()
ENTRIES = MANIFEST["checkpoints"]
SPLITS = ("all_iso", "high_iso", "detail")


def table_row(checkpoint_name: str) -> list[str]:
    prefixes = (f"| **`{checkpoint_name}`**", f"| `{checkpoint_name}`")  # the default row is bold
    rows = [line for line in README.splitlines() if line.startswith(prefixes)]
    assert len(rows) == 1, f"README has {len(rows)} table rows for {checkpoint_name}"
    return [cell.strip().strip("*") for cell in rows[0].strip("|").split("|")]


def assert_shown(cell: str, psnr_db: float, ssim: float) -> None:
    """The README rounds to 0.01 dB and 0.001; the manifest's own figures are rounded to 4 places,
    so a tie there (0.0675) may have been either side of it before."""
    shown = [float(value) for value in cell.split(" / ")]
    assert abs(shown[0] - psnr_db) <= 0.005 + 5e-5 and abs(shown[1] - ssim) <= 0.0005 + 5e-5, (
        f"README shows {cell}, the manifest {psnr_db:.4f} / {ssim:.4f}"
    )


def scores(entry: dict, mode: str = "network") -> dict[str, tuple[float, float]]:
    return {split: tuple(entry["validation"]["colour_modes"][mode][split]) for split in SPLITS}


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry["file"] for entry in ENTRIES])
def test_table_row_matches_the_manifest(entry):
    from darkdev.models import build_model

    cells = table_row(entry["file"].removesuffix(".safetensors"))
    assert ("default" in cells[0]) == entry["default"]
    model = build_model(entry["architecture"], entry["cfa_kind"], **entry["arguments"])
    parameters_m = sum(parameter.numel() for parameter in model.parameters()) / 1e6
    assert cells[1].startswith(f"{parameters_m:.2f} M"), (cells[1], parameters_m)
    for split, cell in zip(SPLITS, cells[2:5], strict=True):
        assert_shown(cell, *scores(entry)[split])
    dead_leaves = entry["validation"]["dead_leaves"]["network"]
    for split, cell in zip(SPLITS[:2], cells[5:7], strict=True):
        assert_shown(cell, *dead_leaves[split])


@pytest.mark.parametrize("cfa_kind", ["bayer", "xtrans"])
def test_classical_rows_match_the_manifest(cfa_kind):
    validation = next(entry for entry in ENTRIES if entry["cfa_kind"] == cfa_kind)["validation"]
    label = "Bayer" if cfa_kind == "bayer" else "X-Trans"
    row = next(
        line for line in README.splitlines() if line.startswith("| classical") and label in line
    )
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    suffixes = {"all_iso": "", "high_iso": "_high_iso", "detail": "_detail"}
    for split, cell in zip(SPLITS, cells[2:5], strict=True):
        suffix = suffixes[split]
        assert_shown(
            cell, validation[f"classical_psnr{suffix}"], validation[f"classical_ssim{suffix}"]
        )
    dead_leaves = validation["dead_leaves"]["classical"]
    for split, cell in zip(SPLITS[:2], cells[5:7], strict=True):
        assert_shown(cell, *dead_leaves[split])


def test_guided_colour_range_is_the_defaults():
    """The README's 'guided colour scores A-B dB lower (SSIM C-D lower)' spans the defaults."""
    psnr_gaps, ssim_gaps = [], []
    for entry in (entry for entry in ENTRIES if entry["default"]):
        network, guided = scores(entry), scores(entry, "guided")
        psnr_gaps += [network[split][0] - guided[split][0] for split in SPLITS]
        ssim_gaps += [network[split][1] - guided[split][1] for split in SPLITS]
    stated = re.search(
        r"`--colour guided`\) scores ([\d.]+)-([\d.]+) dB lower on the\s+defaults "
        r"\(SSIM ([\d.]+)-([\d.]+) lower\)",
        README,
    )
    assert stated, "README no longer states the guided-colour range"
    expected = (
        f"{min(psnr_gaps):.1f}",
        f"{max(psnr_gaps):.1f}",
        f"{min(ssim_gaps):.3f}",
        f"{max(ssim_gaps):.3f}",
    )
    assert stated.groups() == expected


def default_entry(cfa_kind: str) -> dict:
    return next(entry for entry in ENTRIES if entry["default"] and entry["cfa_kind"] == cfa_kind)


def test_two_view_scores_are_the_defaults():
    """The README's 'with develop's 2 views ... the defaults score' figures and the ensemble
    gain it states under --ensemble are the manifest's network_2_views scores."""
    number = r"([\d.]+) / ([\d.]+)"
    stated = re.search(
        rf"the defaults score\s+{number}, {number}, detail {number} \(Bayer\) and\s+"
        rf"{number}, {number},\s+{number} \(X-Trans\)",
        README,
    )
    assert stated, "README no longer states the defaults' 2-view scores"
    cells = [f"{psnr} / {ssim}" for psnr, ssim in zip(*[iter(stated.groups())] * 2, strict=True)]
    expected = [
        pair
        for kind in ("bayer", "xtrans")
        for pair in scores(default_entry(kind), "network_2_views").values()
    ]
    for cell, (psnr_db, ssim) in zip(cells, expected, strict=True):
        assert_shown(cell, psnr_db, ssim)
    gains = [
        (views[0] - one[0], views[1] - one[1])
        for kind in ("bayer", "xtrans")
        for one, views in zip(
            scores(default_entry(kind)).values(),
            scores(default_entry(kind), "network_2_views").values(),
            strict=True,
        )
    ]
    gain = re.search(
        r"2 views give today's defaults \+([\d.]+) to \+([\d.]+) dB and \+([\d.]+) to\s+"
        r"\+([\d.]+) SSIM over one",
        README,
    )
    assert gain, "README no longer states the 2-view gain"
    psnr_gains, ssim_gains = zip(*gains, strict=True)
    assert gain.groups() == (
        f"{min(psnr_gains):.2f}",
        f"{max(psnr_gains):.2f}",
        f"{min(ssim_gains):.3f}",
        f"{max(ssim_gains):.3f}",
    )


@pytest.mark.parametrize(
    ("cfa_kind", "lead"), [("xtrans", r"X-Trans RMCN-3 records"), ("bayer", r"Bayer\s+one records")]
)
def test_lineage_sentence_is_the_defaults(cfa_kind, lead):
    """'Today's X-Trans RMCN-3 records N runs (...), S k steps, H h': the default's lineage."""
    stated = re.search(rf"{lead} (\d+) runs \([^)]*\), ([\d.]+) k\s+steps, ([\d.]+) h", README)
    assert stated, f"README no longer states the {cfa_kind} default's lineage"
    lineage = default_entry(cfa_kind)["training"]["lineage"]
    assert stated.groups() == (
        str(lineage["runs"]),
        f"{lineage['steps'] / 1000:.1f}",
        f"{lineage['wall_time_s'] / 3600:.1f}",
    )


def test_training_history_marks_the_defaults_as_shipped():
    """The training history's rows of what is shipped now (its tables' bold 'shipped' rows, not
    'shipped until') show the defaults' own figures: photo splits and dead leaves, one view."""
    history = (ROOT / "docs" / "training-history.md").read_text()
    current = set()
    for kind in ("bayer", "xtrans"):
        validation = default_entry(kind)["validation"]
        pairs = [
            *scores(default_entry(kind)).values(),
            *validation["dead_leaves"]["network"].values(),
        ]
        current |= {f"{psnr:.2f} / {ssim:.3f}" for psnr, ssim in pairs}
    rows = [
        line
        for line in history.splitlines()
        if line.startswith("| **") and "shipped" in line and "shipped until" not in line
    ]
    shown = [cell for row in rows for cell in re.findall(r"\*\*(\d+\.\d\d / \d\.\d{3})\*\*", row)]
    assert len(shown) >= 8, rows  # both defaults' rows in both tables
    assert set(shown) <= current, set(shown) - current
