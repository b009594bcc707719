"""The darkdev command line: parses, calls the library, reports.

Typer and rich live only here and in terminal.py (help formatting, progress display).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from darkdev.choices import ColourMode, Device, ModelName, OutputFormat
from darkdev.errors import DarkdevError, NoRawFilesError, ParameterError
from darkdev.report import printable
from darkdev.terminal import PlainHelpCommand, PlainHelpGroup

app = typer.Typer(
    name="darkdev",
    help="Develop night and extreme low-light raw photos (RMCN/DMCN networks + RIMEF).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=PlainHelpGroup,
)


def _reserve_closed_standard_fds() -> None:
    """A closed fd 0, 1 or 2 (`2>&-`) gets /dev/null, so no file opened later takes its number
    (LibRaw's messages would land in an image). sys.stdin and sys.stdout stay None, so a closed
    one is still refused; a closed stderr behaves as 2>/dev/null."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
            if descriptor == 2:
                sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


class _ClosedStdout(io.TextIOBase):
    """sys.stdout for a closed fd 1: printing fails (a table, --help) instead of vanishing."""

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "it is closed")

    def fileno(self) -> int:
        return 1  # /dev/null since _reserve_closed_standard_fds


def _stderr_copy():
    """Our own handle on stderr, so LibRaw's silenced fd 2 (raw.py) never swallows our reports."""
    try:
        return os.fdopen(os.dup(2), "w", buffering=1, errors="backslashreplace")
    except OSError:
        return sys.stderr


_reserve_closed_standard_fds()
errors = Console(file=_stderr_copy(), highlight=False)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    errors.print(f"[bold red]darkdev:[/] {escape(printable(message))}", soft_wrap=True)
    return typer.Exit(code)


def _terminate_as_interrupt(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


def _show_version(value: bool) -> None:
    if value:
        from darkdev import __version__

        print(f"darkdev {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def darkdev_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Develop night and extreme low-light raw photos (RMCN/DMCN networks + RIMEF)."""


@app.command(cls=PlainHelpCommand)
def develop(
    inputs: Annotated[
        list[str], typer.Argument(metavar="INPUT", help="Raw files, folders, or - for stdin.")
    ],
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="Output file, folder, or - for stdout.")
    ] = None,
    ratio: Annotated[
        float | None, typer.Option(help="Exposure ratio (amplification); estimated when omitted.")
    ] = None,
    hdr: Annotated[
        bool,
        typer.Option("--hdr", help="Compress highlights with RIMEF: sets --lam 1 --alpha 1."),
    ] = False,
    lam: Annotated[
        float | None,
        typer.Option("--lam", help="RIMEF lambda, 0 = linear as SID (default 0; 1 with --hdr)."),
    ] = None,
    alpha: Annotated[
        float | None, typer.Option(help="RIMEF alpha in (0, 1] (default 1; also 1 with --hdr).")
    ] = None,
    lower_bound: Annotated[
        float, typer.Option("--lower-bound", help="Smallest RIMEF gain (1 <= it <= --ratio).")
    ] = 1.0,
    model: Annotated[
        ModelName,
        typer.Option(
            help="auto (the best bundled network for the raw's sensor and this device), "
            "classical, or a name from `darkdev models` (any case).",
            case_sensitive=False,
        ),
    ] = ModelName("auto"),
    weights: Annotated[
        Path | None, typer.Option(help="Your own checkpoint (.safetensors or weights-only .pt).")
    ] = None,
    device: Annotated[
        Device, typer.Option(help="auto: CUDA, else Apple's GPU (mps), else the CPU.")
    ] = Device.auto,
    colour: Annotated[
        ColourMode,
        typer.Option(
            help="auto (what measured better for the checkpoint), guided (chroma from smoothed "
            "LibRaw) or network (the network's own colour)."
        ),
    ] = ColourMode.auto,
    image_format: Annotated[
        OutputFormat | None,
        typer.Option("--format", help="Output format (default: by extension, else png)."),
    ] = None,
    quality: Annotated[int, typer.Option(help="JPEG quality 1-100.")] = 92,
    suffix: Annotated[str, typer.Option(help="Appended to output file names (no / or ..).")] = "",
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")
    ] = False,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Skip files whose output exists.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs.")
    ] = False,
    shard: Annotated[
        str | None, typer.Option(help="K/N: develop only the K-th of N shares of the files.")
    ] = None,
    tile_size: Annotated[
        int, typer.Option("--tile-size", help="Network tile size in packed pixels.")
    ] = 256,
    tile_overlap: Annotated[
        int, typer.Option("--tile-overlap", help="Tile overlap in packed pixels.")
    ] = 32,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads, 1..4 per core (default: all cores).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON line per file on stdout.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    dark_frame: Annotated[
        Path | None,
        typer.Option(
            "--dark-frame", help="A dark raw (lens cap on, same ISO and shutter) to subtract."
        ),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help="Camera profile from `darkdev calibrate`: subtracts the master dark of the "
            "image's ISO, or corrects the black level where there is none.",
        ),
    ] = None,
) -> None:
    """Develop raw files to sRGB PNG, JPEG or 16-bit TIFF."""
    from darkdev.batch import (
        STREAM,
        make_output_folders,
        parse_shard,
        plan_jobs,
        run_batch,
    )
    from darkdev.develop import Developer, DevelopOptions
    from darkdev.files import write_stream
    from darkdev.inference import thread_count
    from darkdev.raw import read_stream
    from darkdev.render import check_quality
    from darkdev.report import Tally
    from darkdev.terminal import ProgressDisplay

    # A hang-up (closed terminal, ssh drop) ends the batch as cleanly as an interrupt does.
    for signal_number in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signal_number is not None:
            signal.signal(signal_number, _terminate_as_interrupt)
    if skip_existing and overwrite:
        raise _fail("--skip-existing and --overwrite contradict each other")
    notes: list[str] = []
    try:
        check_quality(quality)
        thread_total = thread_count(threads)
        options = DevelopOptions(
            ratio=ratio,
            hdr=hdr,
            lam=lam,
            alpha=alpha,
            lower_bound=lower_bound,
            model=model.value,
            weights_path=weights,
            device=device.value,
            tile_size_px=tile_size,
            tile_overlap_px=tile_overlap,
            colour=colour.value,
            dark_frame_path=dark_frame,
            profile_path=profile,
        )
        developer = Developer(options)  # loads a dark frame / profile once, refusing bad ones
        requested_format = image_format.value if image_format is not None else None
        jobs = plan_jobs(
            inputs, output, requested_format, suffix, recursive, parse_shard(shard), notes
        )
        from darkdev.inference import select_device

        # Refuse --device cuda/mps without that GPU before any file is read.
        select_device(device.value)
        make_output_folders(jobs, output)
    except NoRawFilesError as error:
        raise _fail(str(error), EXIT_FAILED) from None
    except DarkdevError as error:
        if debug:
            raise
        raise _fail(str(error)) from None
    except OSError as error:
        raise _fail(f"{output}: cannot create output folder ({error.strerror})") from None
    except KeyboardInterrupt:
        raise _fail("interrupted", EXIT_INTERRUPTED) from None
    for note in notes:
        if not quiet:
            errors.print(f"[yellow]note:[/] {escape(printable(note))}", soft_wrap=True)

    import torch

    torch.set_num_threads(thread_total)
    to_stdout = output == STREAM
    report_stream = sys.stderr if to_stdout else sys.stdout
    progress = ProgressDisplay(errors, not quiet and errors.is_terminal, len(jobs))
    results = run_batch(
        jobs,
        developer,
        quality,
        overwrite,
        skip_existing,
        stdout_writer=lambda payload: write_stream(getattr(sys.stdout, "buffer", None), payload),
        stdin_reader=lambda: read_stream(getattr(sys.stdin, "buffer", None)),
        on_start=progress.start_file,
        on_tile=progress.tile_done,
    )
    tally = Tally(len(jobs))
    json_stream = getattr(report_stream, "buffer", None) if json_lines else False
    interrupted = _report_all(results, tally, progress, json_stream, quiet or json_lines, debug)
    if not quiet and (len(jobs) > 1 or interrupted):
        errors.print(tally.summary(interrupted), soft_wrap=True, markup=False)
    if not quiet:
        for warning in tally.fallback_warnings():
            errors.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_FAILED if tally.counts["failed"] else EXIT_OK)


def _report_all(results, tally, progress, json_stream, only_errors: bool, debug: bool) -> bool:
    """Report each result as it comes; True when interrupted. json_stream False: no JSON."""
    from darkdev.files import write_stream

    try:
        with progress.display:
            for result in results:
                tally.add(result)
                progress.file_done()
                if json_stream is not False:
                    line = json.dumps(result.record()) + "\n"
                    write_stream(json_stream, line.encode())
                _report(result, only_errors, progress.display.console)
    except KeyboardInterrupt:
        return True
    except DarkdevError as error:  # the JSON lines cannot be written (a closed or full stdout)
        raise _fail(str(error), EXIT_FAILED) from None
    except Exception:
        if debug:
            raise
        raise _fail("internal error; rerun with --debug for a traceback", EXIT_FAILED) from None
    return False


def _report(result, only_errors: bool, console: Console) -> None:
    """One line for a file: errors always, the rest unless --quiet or --json."""
    from darkdev.report import done_line, failure_line

    if result.status == "failed":
        errors.print("error: " + failure_line(result), soft_wrap=True, markup=False, style="red")
        return
    if only_errors:
        return
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/] {escape(printable(warning))}", soft_wrap=True)
    if result.status == "skipped":
        console.print(
            f"skipped {printable(result.input)}: {result.error}", soft_wrap=True, markup=False
        )
    else:
        console.print(f"[green]done[/] {escape(done_line(result))}", soft_wrap=True)


@app.command(cls=PlainHelpCommand)
def models(
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List bundled checkpoints with their CFA kind, size and validation scores."""
    from darkdev import weights as weights_module

    try:
        entries = weights_module.read_manifest()
        weights_module.weights_dir()  # a bad $DARKDEV_WEIGHTS_DIR is said once, here
    except DarkdevError as error:  # a configuration error, as develop reports it
        raise _fail(str(error), EXIT_USAGE) from None
    if json_output:
        print(json.dumps([entry.__dict__ for entry in entries], indent=2))
        return
    from rich.table import Table

    table = Table(
        title=f"Bundled checkpoints ({weights_module.weights_dir()})",
        caption=weights_module.CATALOGUE_NOTE,
        caption_justify="left",
    )
    rows = [weights_module.catalogue_row(e, weights_module.auto_devices(e)) for e in entries]
    name_width = max((len(row[0]) for row in rows), default=0)
    for index, column in enumerate(weights_module.CATALOGUE_COLUMNS):
        # The name is what --model takes: never cut, however narrow the terminal.
        table.add_column(column, no_wrap=index == 0, min_width=name_width if index == 0 else None)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
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
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing sheet.")
    ] = False,
) -> None:
    """One sheet: classical (linear ratio), darkdev, and darkdev --hdr, side by side."""
    from darkdev.sheets import write_comparison

    try:
        write_comparison(raw_path, output, ratio, model.value, overwrite)
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


PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def train(context: typer.Context) -> None:
    """Train a network on synthetic pairs or SID (options: darkdev train --help)."""
    from darkdev.training.cli import main as train_main

    raise typer.Exit(train_main(list(context.args)))


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def evaluate(context: typer.Context) -> None:
    """PSNR/SSIM table of checkpoints and the classical baseline (options: darkdev evaluate --help)."""
    from darkdev.training.cli import evaluate_main

    raise typer.Exit(evaluate_main(list(context.args)))


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line, as every other darkdev refusal."""

    def error(self, message: str):
        raise ParameterError(f"{self.prog.removeprefix('darkdev ')}: {message}")


def _calibrate_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="darkdev calibrate",
        description="Profile your camera: per-ISO black-level error, read and row noise, "
        "system gain K and master darks, from dark frames and pairs of flat frames.",
    )
    parser.add_argument(
        "--dark",
        nargs="+",
        action="extend",
        required=True,
        metavar="RAW",
        help="Dark frames (lens cap on; the ISOs and shutter speeds of your night shots), "
        "2 or more per ISO; folders stand for their raws.",
    )
    parser.add_argument(
        "--flat",
        nargs="+",
        action="extend",
        default=[],
        metavar="RAW",
        help="Flat frames of an evenly lit, defocused surface, in pairs (the two shots of a "
        "pair one after the other), 2 or more brightness levels per ISO.",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PROFILE.json",
        help="The profile; its master darks go beside it as PROFILE.darks.npz.",
    )
    parser.add_argument(
        "--plot",
        action="store_true",
        help="Also write PROFILE.ptc.png (photon transfer) and PROFILE.noise.png (histograms).",
    )
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing profile.")
    parser.add_argument("--debug", action="store_true", help="Show tracebacks.")
    return parser


def _calibration_table(document: dict):
    from rich.table import Table

    camera = document["camera"]
    table = Table(
        title=f"{camera['make']} {camera['model']}",
        caption="DN of this camera after black; K in DN per electron; fit: better read-noise fit",
    )
    for column in (
        "ISO",
        "darks",
        "pairs",
        "black R G B G2",
        "read σ",
        "Tukey λ/scale",
        "fit",
        "row σ",
        "K",
    ):
        table.add_column(column, justify="right")

    def number(value, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}g}"

    for entry in document["isos"]:
        errors_dn = entry["black_level_error_dn"]
        table.add_row(
            str(entry["iso"]),
            str(entry["dark_frames"]),
            str(entry["flat_pairs"]),
            "-" if errors_dn is None else " ".join(f"{v:+.1f}" for v in errors_dn.values()),
            number(entry["read_sigma_dn"]),
            "-"
            if entry["tukey_lambda"] is None
            else f"{entry['tukey_lambda']:+.2f} / {entry['tukey_scale_dn']:.3g}",
            {"gaussian": "Gauss", "tukey-lambda": "Tukey"}.get(entry["read_noise_better_fit"], "-"),
            number(entry["row_sigma_dn"]),
            number(entry["system_gain_dn_per_electron"]),
        )
    return table


@contextlib.contextmanager
def _one_line_errors(debug: bool):
    """A command's refusals as one line: bad parameters exit 2, other darkdev errors exit 1."""
    try:
        yield
    except ParameterError as error:
        if debug:
            raise
        raise _fail(str(error)) from None
    except DarkdevError as error:
        if debug:
            raise
        raise _fail(str(error), EXIT_FAILED) from None


def _calibrate(arguments: list[str]) -> int:
    from darkdev.calibration.calibrate import calibrate as run_calibration
    from darkdev.calibration.plots import matplotlib_missing, write_plots
    from darkdev.calibration.profile import master_darks_path, write_profile

    debug = "--debug" in arguments
    with _one_line_errors(debug):
        options = _calibrate_parser().parse_args(arguments)
        output = Path(options.output)
        if output.suffix.lower() != ".json":
            raise ParameterError(f"-o {output}: the profile is a .json file")
        if not options.overwrite:
            for target in (output, master_darks_path(output)):
                if target.exists():
                    raise ParameterError(f"{target}: exists (use --overwrite to replace it)")
        plot_problem = matplotlib_missing() if options.plot else None
        if plot_problem:
            errors.print(f"[yellow]warning:[/] {plot_problem}", soft_wrap=True)
        with errors.status("calibrating") as status:
            result = run_calibration(
                options.dark, options.flat, lambda path: status.update(f"reading {path}")
            )
            status.update(f"writing {output}")
            document = write_profile(result, output, overwrite=options.overwrite)
            plots = write_plots(result, output) if options.plot and not plot_problem else []
    console = Console()
    console.width = max(console.width, 100)  # the table's nine columns need it, even in a pipe
    console.print(_calibration_table(document))
    gain_line = document["fits"]["log_k_vs_log_iso"]
    if gain_line:
        fixed = " (slope assumed: one ISO with flats)" if gain_line["slope_fixed"] else ""
        console.print(
            f"log K = {gain_line['slope']:.3f} log ISO {gain_line['bias']:+.3f}{fixed}",
            highlight=False,
        )
    else:
        console.print("no flats: no system gain K, so no noise model for other ISOs")
    written = [str(output)]
    if document["master_darks"]:
        written.append(str(master_darks_path(output)))
    errors.print("wrote " + ", ".join(written + [str(path) for path in plots]), soft_wrap=True)
    return EXIT_OK


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def calibrate(context: typer.Context) -> None:
    """Profile your camera from dark and flat frames (options: darkdev calibrate --help)."""
    raise typer.Exit(_calibrate(list(context.args)))


def _stdout_failed(error: OSError) -> None:
    """A full (/dev/full) or broken stdout is one line and exit 1, not a traceback."""
    if sys.stdout is not None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's own flush at exit goes here
        os.close(devnull)
    errors.print(f"darkdev: cannot write to standard output ({error.strerror or error})")
    sys.exit(EXIT_FAILED)


def _finetune_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="darkdev finetune",
        description="Continue the bundled network on synthetic pairs with your camera's noise "
        "and colour (a profile from `darkdev calibrate`); prints validation scores before and "
        "after, on pairs with your camera's noise.",
    )
    parser.add_argument("--profile", required=True, metavar="PROFILE.json")
    parser.add_argument("-o", "--output", required=True, metavar="WEIGHTS.safetensors")
    parser.add_argument("--minutes", type=float, default=30.0, help="training time (default 30)")
    parser.add_argument("--iso", type=float, default=None, help="tune for this ISO's noise only")
    parser.add_argument(
        "--work", default=None, help="run folder (last.pt, logs; default OUTPUT.finetune)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --work")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--photos", default=None, help="training photos (default: train's)")
    parser.add_argument(
        "--photo-cache", default=None, help="prepared photos (default ~/.cache/darkdev/photo-cache)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--debug", action="store_true", help="Show tracebacks.")
    for name in ("--max-steps", "--crop", "--batch", "--validation-packed-px"):
        parser.add_argument(name, type=int, default=None, help=argparse.SUPPRESS)  # tests
    parser.add_argument("--validation-count", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--validate-every", type=int, default=250, help=argparse.SUPPRESS)
    return parser


def _finetune_table(result):
    from rich.table import Table

    table = Table(
        title=f"{result.camera.name}: validation on {result.validation_crops} crops per split "
        "with its noise and colour",
        caption=f"after {result.steps} steps, {result.training_minutes:.1f} minutes of training",
    )
    for column in ("model", "PSNR all ISO", "SSIM all ISO", "PSNR high ISO", "SSIM high ISO"):
        table.add_column(column, justify="right")
    for label, scores in (
        ("classical", result.classical),
        (f"bundled {result.bundled_file}", result.before),
        (f"tuned {result.output.name}", result.after),
    ):
        cells = []
        for split in ("all_iso", "high_iso"):
            psnr_db, ssim_value = scores[split]
            cells += [f"{psnr_db:.2f}", f"{ssim_value:.4f}"]
        table.add_row(label, *cells)
    return table


def _finetune(arguments: list[str]) -> int:
    debug = "--debug" in arguments
    with _one_line_errors(debug):
        try:
            options = _finetune_parser().parse_args(arguments)
            from darkdev.training.config import DEFAULT_PHOTOS
            from darkdev.training.finetune import DEFAULT_PHOTO_CACHE, FinetuneOptions, finetune

            settings = FinetuneOptions(
                profile=Path(options.profile),
                output=Path(options.output),
                minutes=options.minutes,
                work=Path(options.work) if options.work else None,
                resume=options.resume,
                iso=options.iso,
                overwrite=options.overwrite,
                photos=options.photos or DEFAULT_PHOTOS,
                photo_cache=options.photo_cache or DEFAULT_PHOTO_CACHE,
                threads=options.threads,
                validation_count=options.validation_count,
                validate_every=options.validate_every,
                max_steps=options.max_steps,
                crop=options.crop,
                batch=options.batch,
                validation_packed_px=options.validation_packed_px,
                command="darkdev finetune " + " ".join(arguments),
            )
            signal.signal(signal.SIGTERM, _terminate_as_interrupt)
            result = finetune(settings, report=lambda line: print(line, flush=True))
        except KeyboardInterrupt:
            message = "interrupted: --resume continues from the last checkpoint"
            raise _fail(message, EXIT_INTERRUPTED) from None
    console = Console()
    console.width = max(console.width, 100)
    console.print(_finetune_table(result))
    errors.print(
        f"wrote {result.output} (sha256 {result.output_sha256[:12]}...); use it with "
        f"darkdev develop --weights {result.output}",
        soft_wrap=True,
    )
    return EXIT_OK


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def finetune(context: typer.Context) -> None:
    """Fine-tune the bundled network for your camera's profile (options: darkdev finetune --help)."""
    raise typer.Exit(_finetune(list(context.args)))


def main() -> None:
    if sys.stdout is None:  # fd 1 was closed (`>&-`); develop -o - still sees None via .buffer
        sys.stdout = _ClosedStdout()
    try:
        app()
    except ParameterError as error:
        errors.print(f"[bold red]darkdev:[/] {escape(printable(str(error)))}")
        sys.exit(EXIT_USAGE)
    except OSError as error:  # the commands catch their own file errors: this is stdout
        _stdout_failed(error)
    except SystemExit:
        try:
            if sys.stdout is not None:
                sys.stdout.flush()
        except OSError as error:
            _stdout_failed(error)
        raise


if __name__ == "__main__":
    main()
