"""What darkdev knows about a raw before developing it (`darkdev info`). numpy only."""

from __future__ import annotations

from typing import Any

import numpy as np

from darkdev import cfa
from darkdev.exposure import estimate_ratio
from darkdev.raw import RawFrame

HISTOGRAM_STOPS = 8  # bins of one photographic stop each, below the white level


def brightness_histogram(packed: np.ndarray, stops: int = HISTOGRAM_STOPS) -> list[dict[str, Any]]:
    """Share of packed pixels per stop below clipping: [2^-1, 1], [2^-2, 2^-1), ... and the rest."""
    luminance = packed.mean(axis=0).ravel()
    edges = [2.0**-index for index in range(stops + 1)]
    bins: list[dict[str, Any]] = []
    for index in range(stops):
        upper, lower = edges[index], edges[index + 1]
        inside = (luminance <= upper) & (luminance > lower) if index else luminance > lower
        bins.append({"stops_below_white": index + 1, "share": float(inside.mean())})
    bins.append({"stops_below_white": f">{stops}", "share": float((luminance <= edges[-1]).mean())})
    return bins


def camera_name(make: str, model: str) -> str:
    """'Canon EOS Kiss X4', not 'Canon Canon EOS Kiss X4': many models already start with the make."""
    if make and model.lower().startswith(make.lower()):
        return model.strip()
    return f"{make} {model}".strip()


def describe(frame: RawFrame) -> dict[str, Any]:
    unclipped = cfa.pack(frame.mosaic, frame.layout)
    packed = np.maximum(unclipped, 0.0)  # levels as LibRaw reads them
    period = frame.layout.period
    pattern = frame.colour_map[:period, :period]
    letters = np.array(list("RGBG"))[pattern]
    camera = frame.camera
    gains = [round(g, 4) for g in frame.camera_whitebalance]
    return {
        "file": frame.source,
        "camera": camera_name(camera.make, camera.model),
        "lens": camera.lens or None,
        "exposure_time_s": camera.exposure_time_s,
        "iso": camera.iso,
        "f_number": camera.f_number,
        "datetime": camera.datetime_original or None,
        "cfa_kind": frame.layout.kind,
        "cfa_pattern": ["".join(row) for row in letters],
        "black_level_per_channel": list(frame.black_level_per_channel),
        "white_level": frame.white_level,
        "visible_size": [frame.width, frame.height],
        "orientation_flag": frame.flip,
        "white_balance": gains,
        "white_balance_source": frame.white_balance_source,
        "as_shot_white_balance": gains if frame.white_balance_source == "as shot" else None,
        "mean_level": float(packed.mean()),
        "clipped_share": float((packed >= 0.999).mean()),
        # Samples read noise took below black: how far into the noise floor the frame sits.
        "below_black_share": float((unclipped < 0).mean()),
        "estimated_ratio": round(estimate_ratio(packed), 2),
        "histogram": brightness_histogram(packed),
    }


def text_lines(facts: dict[str, Any]) -> list[str]:
    """describe()'s facts as the lines `darkdev info` prints under the file name."""
    exposure = facts["exposure_time_s"]
    rows = [
        ("camera", facts["camera"] or "unknown"),
        ("lens", facts["lens"] or "-"),
        ("exposure", f"{exposure:g} s" if exposure else "-"),
        ("ISO", facts["iso"] or "-"),
        ("CFA", f"{facts['cfa_kind']} " + "/".join(facts["cfa_pattern"])),
        ("black / white", f"{facts['black_level_per_channel']} / {facts['white_level']}"),
        ("visible size", "x".join(map(str, facts["visible_size"]))),
        (
            "white balance (R G B)",
            " ".join(f"{gain:.3f}" for gain in facts["white_balance"])
            + f" ({facts['white_balance_source']})",
        ),
        (
            "mean level",
            f"{facts['mean_level']:.5f} of white ({facts['clipped_share']:.2%} clipped, "
            f"{facts['below_black_share']:.1%} below black)",
        ),
        ("ratio darkdev would choose", facts["estimated_ratio"]),
    ]
    lines = [f"  {name:27s} {value}" for name, value in rows]
    lines.append("  histogram (stops below white):")
    for entry in facts["histogram"]:
        bar = "#" * round(entry["share"] * 50)
        lines.append(f"    {str(entry['stops_below_white']):>3s} {entry['share']:6.1%} {bar}")
    return lines
