"""Commands with argparse options of their own: calibrate, finetune, and train, evaluate,
publish, unpack-session and rescore, which hand their arguments to darkdev/training/ untouched."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
from pathlib import Path

import typer
from rich.console import Console

from darkdev.cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    _fail,
    _terminate_as_interrupt,
    app,
    discard_progress_if_stdout_closed,
    errors,
)
from darkdev.errors import DarkdevError, OneLineParser, ParameterError
from darkdev.terminal import print_table_or_blocks

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _hand_over(context: typer.Context, module_name: str, main_name: str) -> None:
    """Run darkdev.training.`module_name`'s `main_name` on the command's own arguments
    (imported only now: it loads torch) and exit with its code; errors in one line unless
    --debug."""
    arguments = list(context.args)
    with _one_line_errors("--debug" in arguments):
        module = importlib.import_module(f"darkdev.training.{module_name}")
        code = getattr(module, main_name)(arguments)
    raise typer.Exit(code)


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def train(context: typer.Context) -> None:
    """Train a network on synthetic pairs or SID (options: darkdev train --help)."""
    discard_progress_if_stdout_closed()
    _hand_over(context, "cli", "main")


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def evaluate(context: typer.Context) -> None:
    """PSNR/SSIM table of checkpoints and the classical baseline (options: darkdev evaluate --help)."""
    discard_progress_if_stdout_closed()
    _hand_over(context, "cli", "evaluate_main")


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def publish(context: typer.Context) -> None:
    """Publish a run's weights with a measured manifest entry (options: darkdev publish --help)."""
    _hand_over(context, "manifest_cli", "publish_main")


@app.command("unpack-session", context_settings=PASS_THROUGH, add_help_option=False)
def unpack_session(context: typer.Context) -> None:
    """A GPU session's output as a run folder to publish (darkdev unpack-session --help)."""
    _hand_over(context, "session_runs", "main")


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
def rescore(context: typer.Context) -> None:
    """Score a bundled checkpoint again on a validation folder (options: darkdev rescore --help)."""
    _hand_over(context, "manifest_cli", "rescore_main")


def _calibrate_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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


CALIBRATION_COLUMNS = (
    "ISO",
    "darks",
    "pairs",
    "black R G B G2",
    "read σ",
    "Tukey λ/scale",
    "fit",
    "row σ",
    "K",
)
CALIBRATION_CAPTION = (
    "DN of this camera after black; K in DN per electron; fit: better read-noise fit"
)


def _calibration_rows(document: dict) -> list[tuple[str, ...]]:
    """One row per ISO of the profile, in CALIBRATION_COLUMNS order."""

    def number(value, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}g}"

    rows: list[tuple[str, ...]] = []
    for entry in document["isos"]:
        errors_dn = entry["black_level_error_dn"]
        rows.append(
            (
                str(entry["iso"]),
                str(entry["dark_frames"]),
                str(entry["flat_pairs"]),
                "-" if errors_dn is None else " ".join(f"{v:+.1f}" for v in errors_dn.values()),
                number(entry["read_sigma_dn"]),
                "-"
                if entry["tukey_lambda"] is None
                else f"{entry['tukey_lambda']:+.2f} / {entry['tukey_scale_dn']:.3g}",
                {"gaussian": "Gauss", "tukey-lambda": "Tukey"}.get(
                    entry["read_noise_better_fit"], "-"
                ),
                number(entry["row_sigma_dn"]),
                number(entry["system_gain_dn_per_electron"]),
            )
        )
    return rows


def print_calibration_table(console: Console, document: dict) -> None:
    """The profile's ISOs as a table, or one block per ISO on a terminal too narrow for it."""
    camera = document["camera"]
    # Numbers are never cut; the four black levels and Tukey's two numbers wrap by word.
    print_table_or_blocks(
        console,
        f"{camera['make']} {camera['model']}",
        CALIBRATION_COLUMNS,
        _calibration_rows(document),
        caption=CALIBRATION_CAPTION,
        unbroken=frozenset(CALIBRATION_COLUMNS) - {"black R G B G2", "Tukey λ/scale"},
        block_heading=lambda row: f"ISO {row[0]}",
        right_aligned=frozenset(CALIBRATION_COLUMNS),
    )


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
    print_calibration_table(console, document)
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
    discard_progress_if_stdout_closed()
    raise typer.Exit(_calibrate(list(context.args)))


def _finetune_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    parser.add_argument(
        "--dead-leaves",
        type=int,
        default=None,
        help="dead-leaves images drawn beside the photos, as the bundled networks trained "
        "(default 40, drawn once into --mix-cache; 0: photos alone)",
    )
    parser.add_argument(
        "--mix-cache",
        default=None,
        help="photos + dead leaves, kept for later runs (default ~/.cache/darkdev/training-mixes)",
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

    from darkdev.training.evaluation import SPLIT_TITLES

    table = Table(
        title=f"{result.camera.name}: validation on {result.validation_crops} crops per split "
        "with its noise and colour",
        caption=f"bundled: {result.bundled_file}; tuned: {result.output.name}; after "
        f"{result.steps} steps, {result.training_minutes:.1f} minutes of training",
    )
    splits = list(result.after)
    table.add_column("network", no_wrap=True, min_width=len("classical"))
    for split in splits:
        table.add_column(f"PSNR {SPLIT_TITLES[split]}", justify="right")
        table.add_column(f"SSIM {SPLIT_TITLES[split]}", justify="right")
    for label, scores in (
        ("classical", result.classical),
        ("bundled", result.before),
        ("tuned", result.after),
    ):
        cells = []
        for split in splits:
            psnr_db, ssim_value = scores[split]
            cells += [f"{psnr_db:.2f}", f"{ssim_value:.4f}"]
        table.add_row(label, *cells)
    return table


def _finetune(arguments: list[str]) -> int:
    debug = "--debug" in arguments
    with _one_line_errors(debug):
        try:
            options = _finetune_parser().parse_args(arguments)
            from darkdev.training import finetune as tuning
            from darkdev.training.config import DEFAULT_PHOTOS

            settings = tuning.FinetuneOptions(
                profile=Path(options.profile),
                output=Path(options.output),
                minutes=options.minutes,
                work=Path(options.work) if options.work else None,
                resume=options.resume,
                iso=options.iso,
                overwrite=options.overwrite,
                photos=options.photos or DEFAULT_PHOTOS,
                photo_cache=options.photo_cache or tuning.DEFAULT_PHOTO_CACHE,
                dead_leaves=tuning.DEAD_LEAVES
                if options.dead_leaves is None
                else options.dead_leaves,
                mix_cache=options.mix_cache or tuning.DEFAULT_MIX_CACHE,
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
            result = tuning.finetune(settings, report=lambda line: print(line, flush=True))
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
    discard_progress_if_stdout_closed()
    raise typer.Exit(_finetune(list(context.args)))
