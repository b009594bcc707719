"""The darkdev command line: parses, calls the library, reports. Typer and rich live only here."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from darkdev.errors import DarkdevError, ParameterError

app = typer.Typer(
    name="darkdev",
    help="Develop night and extreme low-light raw photos (RMCN/DMCN networks + RIMEF).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _stderr_copy():
    """Our own handle on stderr, so LibRaw's silenced fd 2 (raw.py) never swallows our reports."""
    try:
        return os.fdopen(os.dup(2), "w", buffering=1)
    except OSError:
        return sys.stderr


errors = Console(file=_stderr_copy(), highlight=False)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    errors.print(f"[bold red]darkdev:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def _terminate_as_interrupt(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


@app.command()
def develop(
    inputs: Annotated[list[str], typer.Argument(help="Raw files, folders, or - for stdin.")],
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="Output file, folder, or - for stdout.")
    ] = None,
    ratio: Annotated[
        float | None, typer.Option(help="Exposure ratio (amplification); estimated when omitted.")
    ] = None,
    hdr: Annotated[
        bool, typer.Option("--hdr", help="Compress highlights with RIMEF instead of clipping.")
    ] = False,
    lam: Annotated[
        float | None, typer.Option("--lam", help="RIMEF lambda (0 = linear, as SID).")
    ] = None,
    alpha: Annotated[float | None, typer.Option(help="RIMEF alpha in (0, 1].")] = None,
    lower_bound: Annotated[
        float, typer.Option("--lower-bound", help="Smallest RIMEF gain (>= 1).")
    ] = 1.0,
    model: Annotated[
        str, typer.Option(help="auto (bundled default), classical, or a bundled model name.")
    ] = "auto",
    weights: Annotated[
        Path | None, typer.Option(help="Your own checkpoint (.safetensors or weights-only .pt).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    colour: Annotated[
        str, typer.Option(help="guided (chroma from smoothed LibRaw) or network.")
    ] = "guided",
    image_format: Annotated[
        str | None,
        typer.Option("--format", help="png, png16 or jpg (default: by extension, else png)."),
    ] = None,
    quality: Annotated[int, typer.Option(help="JPEG quality 1-100.")] = 92,
    suffix: Annotated[str, typer.Option(help="Appended to output file names.")] = "",
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
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: all cores).")] = None,
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
    """Develop raw files to sRGB PNG or JPEG."""
    from darkdev.batch import STREAM, parse_shard, plan_jobs, run_batch
    from darkdev.develop import Developer, DevelopOptions

    if skip_existing and overwrite:
        raise _fail("--skip-existing and --overwrite contradict each other")
    if not 1 <= quality <= 100:
        raise _fail(f"--quality must be 1..100, got {quality}")
    if threads is not None and threads < 1:
        raise _fail(f"--threads must be >= 1, got {threads}")
    try:
        options = DevelopOptions(
            ratio=ratio,
            hdr=hdr,
            lam=lam,
            alpha=alpha,
            lower_bound=lower_bound,
            model=model,
            weights_path=weights,
            device=device,
            tile_size_px=tile_size,
            tile_overlap_px=tile_overlap,
            colour=colour,
            dark_frame_path=dark_frame,
            profile_path=profile,
        )
        developer = Developer(options)  # loads a dark frame / profile once, refusing bad ones
        jobs = plan_jobs(inputs, output, image_format, suffix, recursive, parse_shard(shard))
        from darkdev.inference import select_device

        select_device(device)  # refuse --device cuda without a GPU before any file is read
        if output not in (None, STREAM) and (len(jobs) > 1 or Path(output).suffix == ""):
            Path(output).mkdir(parents=True, exist_ok=True)
        for job in jobs:
            if job.output not in (None, STREAM) and job.problem is None:
                Path(job.output).parent.mkdir(parents=True, exist_ok=True)
    except DarkdevError as error:
        if debug:
            raise
        raise _fail(str(error)) from None
    except OSError as error:
        raise _fail(f"{output}: cannot create output folder ({error.strerror})") from None

    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    to_stdout = output == STREAM
    report_stream = sys.stderr if to_stdout else sys.stdout

    def emit_json(result) -> None:
        record = {
            "input": result.input,
            "output": result.output,
            "status": result.status,
            "ratio": result.ratio,
            "ratio_estimated": result.ratio_estimated,
            "model": result.model,
            "seconds": round(result.seconds, 3),
            "error": result.error,
        }
        print(json.dumps(record), file=report_stream, flush=True)

    counts = {"done": 0, "skipped": 0, "failed": 0}
    seconds_done = 0.0
    results = run_batch(
        jobs,
        developer,
        quality,
        overwrite,
        skip_existing,
        stdout_writer=lambda payload: (sys.stdout.buffer.write(payload), sys.stdout.buffer.flush()),
        stdin_reader=lambda: sys.stdin.buffer.read(),
    )
    show_progress = not quiet and not json_lines and len(jobs) > 1
    interrupted = False
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]developing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=errors,
        disable=not show_progress,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task("", total=len(jobs))
            for result in results:
                counts[result.status] += 1
                progress.update(task, advance=1, description=Path(result.input).name)
                if result.status == "done":
                    seconds_done += result.seconds
                if json_lines:
                    emit_json(result)
                if result.status == "failed":
                    message = result.error or "failed"
                    if not message.startswith(result.input):
                        message = f"{result.input}: {message}"
                    errors.print("error: " + message, soft_wrap=True, markup=False, style="red")
                    continue
                if quiet or json_lines:
                    continue
                for warning in result.warnings:
                    errors.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
                if result.status == "skipped":
                    progress.console.print(
                        f"skipped {result.input}: {result.error}", soft_wrap=True
                    )
                    continue
                how = "estimated" if result.ratio_estimated else "given"
                progress.console.print(
                    f"[green]done[/] {result.input} -> {result.output}  "
                    f"ratio {result.ratio:.1f} ({how}), {result.model}, {result.seconds:.1f} s",
                    soft_wrap=True,
                )
    except KeyboardInterrupt:
        interrupted = True
    except Exception:
        if debug:
            raise
        raise _fail("internal error; rerun with --debug for a traceback", EXIT_FAILED) from None
    if not quiet and (len(jobs) > 1 or interrupted):
        per_frame = f", {seconds_done / counts['done']:.1f} s per frame" if counts["done"] else ""
        errors.print(
            f"{'interrupted: ' if interrupted else ''}{counts['done']} done, {counts['skipped']} "
            f"skipped, {counts['failed']} failed{per_frame}"
        )
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_FAILED if counts["failed"] else EXIT_OK)


@app.command()
def models(
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List bundled checkpoints with their CFA kind, size and validation scores."""
    from darkdev import weights as weights_module

    try:
        entries = weights_module.read_manifest()
    except DarkdevError as error:
        raise _fail(str(error), EXIT_FAILED) from None
    if json_output:
        print(json.dumps([entry.__dict__ for entry in entries], indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Bundled checkpoints ({weights_module.weights_dir()})")
    for column in (
        "file",
        "architecture",
        "CFA",
        "size",
        "val PSNR",
        "val SSIM",
        "classical PSNR",
        "default",
    ):
        table.add_column(column)
    for entry in entries:
        scores = entry.validation
        table.add_row(
            entry.file,
            f"{entry.architecture} {entry.arguments}",
            entry.cfa_kind,
            f"{entry.size_bytes / 1e6:.1f} MB",
            f"{scores.get('psnr', float('nan')):.2f}",
            f"{scores.get('ssim', float('nan')):.3f}",
            f"{scores.get('classical_psnr', float('nan')):.2f}",
            "yes" if entry.default else "",
        )
    Console().print(table)
    if not entries:
        Console().print("No trained checkpoints are bundled: develop uses the classical pipeline.")


@app.command()
def info(
    inputs: Annotated[list[Path], typer.Argument(help="Raw files.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per file on stdout.")
    ] = False,
) -> None:
    """Camera, exposure, CFA, levels, size, the ratio darkdev would choose, a brightness histogram."""
    from darkdev.info import describe
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
                "mean level",
                f"{facts['mean_level']:.5f} of white ({facts['clipped_share']:.2%} clipped)",
            ),
            ("ratio darkdev would choose", facts["estimated_ratio"]),
        ]
        for name, value in rows:
            console.print(f"  {name:27s} {value}", highlight=False)
        console.print("  histogram (stops below white):")
        for entry in facts["histogram"]:
            bar = "#" * round(entry["share"] * 50)
            console.print(
                f"    {str(entry['stops_below_white']):>3s} {entry['share']:6.1%} {bar}",
                highlight=False,
            )
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command()
def compare(
    raw_path: Annotated[Path, typer.Argument(help="A raw file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Contact sheet (.jpg or .png).")],
    ratio: Annotated[
        float | None, typer.Option(help="Exposure ratio; estimated when omitted.")
    ] = None,
    model: Annotated[
        str, typer.Option(help="Network for the darkdev panels (auto = bundled default).")
    ] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing sheet.")
    ] = False,
) -> None:
    """One sheet: classical (linear ratio), darkdev, and darkdev --hdr, side by side."""
    from darkdev.develop import CLASSICAL, Developer, DevelopOptions
    from darkdev.raw import read_raw
    from darkdev.render import encode_jpeg, encode_png, write_atomic
    from darkdev.sheets import contact_sheet

    if output.exists() and not overwrite:
        raise _fail(f"{output}: exists (use --overwrite)", EXIT_FAILED)
    try:
        frame = read_raw(raw_path)
        panels = []
        for label, options in (
            ("classical (linear)", DevelopOptions(ratio=ratio, model=CLASSICAL)),
            ("darkdev", DevelopOptions(ratio=ratio, model=model)),
            ("darkdev --hdr", DevelopOptions(ratio=ratio, model=model, hdr=True)),
        ):
            result = Developer(options).develop(frame)
            panels.append((f"{label}: {result.model}, ratio {result.ratio:.1f}", result.image))
        sheet = contact_sheet(panels)
        payload = (
            encode_jpeg(sheet, 90)
            if output.suffix.lower() in (".jpg", ".jpeg")
            else encode_png(sheet)
        )
        write_atomic(output, payload)
    except DarkdevError as error:
        raise _fail(str(error), EXIT_FAILED) from None
    errors.print(f"wrote {output}")


@app.command("rimef-plot")
def rimef_plot(
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file.")],
    ratio: Annotated[float, typer.Option(help="Exposure ratio.")] = 250.0,
    lam: Annotated[float, typer.Option("--lam", help="RIMEF lambda.")] = 1.0,
    alpha: Annotated[float, typer.Option(help="RIMEF alpha.")] = 1.0,
    lower_bound: Annotated[float, typer.Option("--lower-bound", help="Smallest gain.")] = 1.0,
) -> None:
    """Plot RIMEF's gain and output curves against the linear gain."""
    from darkdev.render import encode_png, write_atomic
    from darkdev.rimef import RimefParams
    from darkdev.sheets import rimef_plot as draw

    try:
        params = RimefParams(ratio=ratio, lam=lam, alpha=alpha, lower_bound=lower_bound)
        write_atomic(output, encode_png(draw(params)))
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

    def error(self, message: str):  # type: ignore[override]
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


def _calibrate(arguments: list[str]) -> int:
    from darkdev.calibration.calibrate import calibrate as run_calibration
    from darkdev.calibration.plots import matplotlib_missing, write_plots
    from darkdev.calibration.profile import master_darks_path, write_profile

    debug = "--debug" in arguments
    try:
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
    except ParameterError as error:
        if debug:
            raise
        raise _fail(str(error)) from None
    except DarkdevError as error:
        if debug:
            raise
        raise _fail(str(error), EXIT_FAILED) from None
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
    except ParameterError as error:
        if debug:
            raise
        raise _fail(str(error)) from None
    except DarkdevError as error:
        if debug:
            raise
        raise _fail(str(error), EXIT_FAILED) from None
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
    try:
        app()
    except ParameterError as error:
        errors.print(f"[bold red]darkdev:[/] {error}")
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
