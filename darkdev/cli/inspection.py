"""Commands that look rather than develop: models, info, compare, rimef-plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from darkdev.choices import ModelName
from darkdev.cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    WhiteBalanceOption,
    _fail,
    app,
    errors,
)
from darkdev.errors import DarkdevError
from darkdev.terminal import PlainHelpCommand, print_table_or_blocks


@app.command(cls=PlainHelpCommand)
def models(
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List bundled checkpoints with their CFA kind, size and validation scores."""
    from darkdev import manifest

    try:
        entries = manifest.read_manifest()
        manifest.weights_dir()  # a bad $DARKDEV_WEIGHTS_DIR is said once, here
    except DarkdevError as error:  # a configuration error, as develop reports it
        raise _fail(str(error), EXIT_USAGE) from None
    if json_output:
        print(json.dumps([entry.__dict__ for entry in entries], indent=2))
        return
    title = f"Bundled checkpoints ({manifest.weights_dir()})"
    rows = [manifest.catalogue_row(e, manifest.auto_devices(e)) for e in entries]
    # The name and numbers are never cut; the network column wraps by word, never inside one.
    print_table_or_blocks(
        Console(),
        title,
        manifest.CATALOGUE_COLUMNS,
        rows,
        caption=manifest.CATALOGUE_NOTE,
        unbroken=manifest.CATALOGUE_NUMBER_COLUMNS | {manifest.CATALOGUE_COLUMNS[0]},
    )
    if not entries:
        Console().print("No trained checkpoints are bundled: develop uses the classical pipeline.")


@app.command(cls=PlainHelpCommand)
def info(
    inputs: Annotated[list[Path], typer.Argument(metavar="RAW", help="Raw files.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per file on stdout.")
    ] = False,
) -> None:
    """Camera, exposure, CFA, levels, size, the ratio darkdev would choose, a brightness histogram."""
    from darkdev.info import describe, text_lines
    from darkdev.raw import read_raw

    failed = 0
    for path in inputs:
        try:
            facts = describe(read_raw(path))
        except DarkdevError as error:
            errors.print("error: " + str(error), soft_wrap=True, markup=False, style="red")
            failed += 1
            continue
        if json_output:
            print(json.dumps(facts), flush=True)
            continue
        console = Console()
        console.print(f"[bold]{facts['file']}[/]")
        for line in text_lines(facts):
            console.print(line, highlight=False, markup=False)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command(cls=PlainHelpCommand)
def compare(
    raw_path: Annotated[Path, typer.Argument(metavar="RAW", help="A raw file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Contact sheet (.jpg or .png).")],
    ratio: Annotated[
        float | None, typer.Option(help="Exposure ratio; estimated when omitted.")
    ] = None,
    model: Annotated[
        ModelName,
        typer.Option(
            help="Network for the darkdev panels (auto = bundled default).", case_sensitive=False
        ),
    ] = ModelName("auto"),
    white_balance: WhiteBalanceOption = "as-shot",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing sheet.")
    ] = False,
) -> None:
    """One sheet: classical (linear ratio), darkdev, and darkdev --hdr, side by side."""
    from darkdev.sheets import write_comparison
    from darkdev.white_balance import parse_white_balance

    try:
        parse_white_balance(white_balance)
    except DarkdevError as error:
        raise _fail(str(error)) from None  # a usage error, before the raw is read
    try:
        write_comparison(raw_path, output, ratio, model.value, overwrite, white_balance)
    except DarkdevError as error:
        raise _fail(str(error), EXIT_FAILED) from None
    errors.print(f"wrote {output}")


@app.command("rimef-plot", cls=PlainHelpCommand)
def rimef_plot(
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file.")],
    ratio: Annotated[float, typer.Option(help="Exposure ratio.")] = 250.0,
    lam: Annotated[float, typer.Option("--lam", help="RIMEF lambda.")] = 1.0,
    alpha: Annotated[float, typer.Option(help="RIMEF alpha.")] = 1.0,
    lower_bound: Annotated[float, typer.Option("--lower-bound", help="Smallest gain.")] = 1.0,
) -> None:
    """Plot RIMEF's gain and output curves against the linear gain."""
    from darkdev.rimef import RimefParams
    from darkdev.sheets import write_rimef_plot

    try:
        write_rimef_plot(output, RimefParams(ratio, lam, alpha, lower_bound))
    except DarkdevError as error:
        raise _fail(str(error)) from None
    errors.print(f"wrote {output}")
