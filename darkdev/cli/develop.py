"""`darkdev develop`: its options, and the per-file report lines of a batch."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from darkdev.choices import ColourMode, Device, ModelName, OutputFormat, Precision
from darkdev.cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    WhiteBalanceOption,
    _fail,
    _terminate_as_interrupt,
    app,
    errors,
)
from darkdev.errors import DarkdevError, NoRawFilesError
from darkdev.report import printable
from darkdev.terminal import PlainHelpCommand


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
    precision: Annotated[
        Precision,
        typer.Option(
            help="auto: half where the hardware computes it natively (float16 on CUDA, bfloat16 "
            "on CPUs with AMX or AVX512-BF16), else float32; full: float32 everywhere.",
        ),
    ] = Precision.auto,
    colour: Annotated[
        ColourMode,
        typer.Option(
            help="auto (what measured better for the checkpoint), guided (chroma from smoothed "
            "LibRaw) or network (the network's own colour)."
        ),
    ] = ColourMode.auto,
    white_balance: WhiteBalanceOption = "as-shot",
    ensemble: Annotated[
        int | None,
        typer.Option(
            help="Average the network over N flips and turns of the raw: 1, 2, 4 or 8 (N times "
            "the network time; sharper, less noise). Default: 8 on CUDA, 2 on a CPU computing "
            "bfloat16 natively (unless --precision full), 1 elsewhere.",
        ),
    ] = None,
    image_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            help="Output format (default: by -o's extension; png for a folder, - or no -o).",
        ),
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
    ] = 512,
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
    from darkdev.develop import Developer, DevelopOptions
    from darkdev.inference import thread_count
    from darkdev.planning import make_output_folders, parse_shard, plan_jobs
    from darkdev.render import check_quality

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
            precision=precision.value,
            tile_size_px=tile_size,
            tile_overlap_px=tile_overlap,
            colour=colour.value,
            ensemble=ensemble,
            white_balance=white_balance,
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
    _develop_all(
        jobs, developer, quality, overwrite, skip_existing, output, quiet, json_lines, debug
    )


def _develop_all(
    jobs,
    developer,
    quality: int,
    overwrite: bool,
    skip_existing: bool,
    output: str | None,
    quiet: bool,
    json_lines: bool,
    debug: bool,
) -> None:
    """Develop the planned jobs, reporting each as it ends; exits with the batch's code."""
    from darkdev.batch import run_batch
    from darkdev.files import write_stream
    from darkdev.inputs import read_stream
    from darkdev.planning import STREAM
    from darkdev.report import Tally
    from darkdev.terminal import ProgressDisplay

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
