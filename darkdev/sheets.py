"""Pictures about developments, drawn and written: the `compare` contact sheet (classical,
darkdev and darkdev --hdr side by side) and the `rimef-plot` curves.

Drawn with Pillow, so no plotting library is needed at run time.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from darkdev.rimef import RimefParams, output_curve

BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def contact_sheet(panels: list[tuple[str, np.ndarray]], panel_width_px: int = 640) -> np.ndarray:
    """Label and place (H, W, 3) float images side by side -> (H', W', 3) uint8."""
    from PIL import Image, ImageDraw

    label_height = 36
    resized = []
    for label, image in panels:
        pixels = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
        height = round(pixels.height * panel_width_px / pixels.width)
        resized.append((label, pixels.resize((panel_width_px, height), Image.Resampling.LANCZOS)))
    sheet_height = max(p.height for _, p in resized) + label_height
    sheet = Image.new("RGB", (panel_width_px * len(resized), sheet_height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, (label, pixels) in enumerate(resized):
        sheet.paste(pixels, (index * panel_width_px, label_height))
        label, font = _fitted_label(draw, label, panel_width_px - 20)
        draw.text((index * panel_width_px + 10, 8), label, fill=TEXT, font=font)
    return np.asarray(sheet)


def _fitted_label(draw, label: str, width_px: int, sizes: tuple[int, ...] = (18, 15, 12)):
    """(label, font) that fits width_px: a smaller font first, then the label cut with '...'
    (a long checkpoint name must not run into the next panel's label)."""
    for size in sizes:
        font = _font(size)
        if draw.textlength(label, font=font) <= width_px:
            return label, font
    while len(label) > 1 and draw.textlength(label + "...", font=font) > width_px:
        label = label[:-1]
    return label + "...", font


def rimef_plot(params: RimefParams, width_px: int = 900, height_px: int = 520) -> np.ndarray:
    """Gain and output of RIMEF against the linear gain, log illumination axis -> uint8 image."""
    from PIL import Image, ImageDraw

    margin_left, margin_right, margin_top, margin_bottom = 70, 30, 50, 60
    illumination = np.logspace(-5, 0, 400)
    linear = RimefParams(ratio=params.ratio)
    gain, value = output_curve(illumination, params)
    linear_gain, linear_value = output_curve(illumination, linear)
    image = Image.new("RGB", (width_px, height_px), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    plot_width = (width_px - margin_left - margin_right) // 2 - 20
    plot_height = height_px - margin_top - margin_bottom
    panels = [
        (
            "gain M (log)",
            np.log10(gain),
            np.log10(linear_gain),
            (0, np.log10(max(params.ratio, 10)) * 1.05),
        ),
        ("output min(x*M, 1)", value, linear_value, (0, 1.05)),
    ]
    for index, (title, curve, reference, (low, high)) in enumerate(panels):
        left = margin_left + index * (plot_width + 60)
        top, bottom, right = margin_top, margin_top + plot_height, left + plot_width
        draw.rectangle((left, top, right, bottom), outline=(0, 0, 0))
        draw.text((left, top - 30), title, fill=(0, 0, 0), font=_font(16))
        top_label = f"{10**high:.0f}x" if index == 0 else "1"
        bottom_label = "1x" if index == 0 else "0"
        draw.text((left - 45, top - 6), top_label, fill=(0, 0, 0), font=_font(12))
        draw.text((left - 25, bottom - 12), bottom_label, fill=(0, 0, 0), font=_font(12))
        draw.text((left, bottom + 8), "1e-5", fill=(0, 0, 0), font=_font(12))
        draw.text((right - 10, bottom + 8), "1", fill=(0, 0, 0), font=_font(12))
        draw.text(
            (left + plot_width // 2 - 60, bottom + 28),
            "raw illumination T (log)",
            fill=(0, 0, 0),
            font=_font(12),
        )
        for values, colour in ((reference, (150, 150, 150)), (curve, (200, 40, 40))):
            xs = left + (np.log10(illumination) + 5) / 5 * plot_width
            ys = bottom - (np.clip(values, low, high) - low) / (high - low) * plot_height
            draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=colour, width=3)
    caption = (
        f"RIMEF ratio {params.ratio:g}, lambda {params.lam:g}, alpha {params.alpha:g}, "
        f"lower bound {params.lower_bound:g}   (red: RIMEF, grey: linear gain)"
    )
    draw.text((margin_left, height_px - 22), caption, fill=(0, 0, 0), font=_font(13))
    return np.asarray(image)


def write_comparison(
    raw_path: str | Path,
    output: str | Path,
    ratio: float | None = None,
    model: str = "auto",
    overwrite: bool = False,
    white_balance: str = "as-shot",
) -> None:
    """Develop a raw three ways (classical linear, darkdev, darkdev --hdr) into one sheet file
    (.jpg or .png, by extension), all with one white balance (develop's --white-balance)."""
    from darkdev.develop import CLASSICAL, Developer, DevelopOptions
    from darkdev.errors import OutputError, ParameterError
    from darkdev.files import write_atomic
    from darkdev.raw import read_raw
    from darkdev.render import encode_jpeg, encode_png, format_for

    output = Path(output)
    image_format = format_for(output, None)
    if image_format not in ("jpg", "png"):
        raise ParameterError(f"{output}: a contact sheet is .jpg or .png")
    if output.exists() and not overwrite:
        raise OutputError(f"{output}: exists (use --overwrite)")
    frame = read_raw(raw_path)
    look = functools.partial(DevelopOptions, ratio=ratio, white_balance=white_balance)
    panels = []
    for label, options in (
        ("classical (linear)", look(model=CLASSICAL)),
        ("darkdev", look(model=model)),
        ("darkdev --hdr", look(model=model, hdr=True)),
    ):
        result = Developer(options).develop(frame)
        panels.append((f"{label}: {result.model}, ratio {result.ratio:.1f}", result.image))
    sheet = contact_sheet(panels)
    write_atomic(output, encode_jpeg(sheet, 90) if image_format == "jpg" else encode_png(sheet))


def write_rimef_plot(output: str | Path, params: RimefParams) -> None:
    """The RIMEF curves of `params` as a PNG file."""
    from darkdev.files import write_atomic
    from darkdev.render import encode_png

    write_atomic(output, encode_png(rimef_plot(params)))
