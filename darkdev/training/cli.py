"""Command lines of training and evaluation (parse, call the library, report).

    python -m darkdev.train --model lts --cfa bayer --width 16 --crop 128 --batch 4 \\
        --max-minutes 40 --out runs/NAME [--resume]

Data parallel (DistributedDataParallel; gloo on CPU, nccl on CUDA), --batch is the whole batch:

    torchrun --standalone --nproc_per_node 2 -m darkdev.train --batch 8 ... --out runs/NAME

    python -m darkdev.evaluate weights/lts-w16-bayer.safetensors [...] --cfa bayer \\
        [--validation-set runs/NAME] [--photos DIR --count 16] [--out table.md]

Evaluation prints (and saves) a markdown table: the classical pipeline and each checkpoint on the
validation splits (all ISO, high ISO, and detail where the folder has it), PSNR and SSIM.

Publishing and rescoring, which write manifest entries, have their command lines in
training.manifest_cli.
"""

from __future__ import annotations

import argparse
import signal
import sys

from darkdev.ensemble import check_ensemble_size
from darkdev.errors import OneLineParser, ParameterError
from darkdev.files import write_atomic
from darkdev.training import evaluation
from darkdev.training.config import parse_args
from darkdev.training.loop import request_stop, train
from darkdev.training.validation import ALL_SPLITS, SPLITS, VALIDATION_SEED, split_suffix
from darkdev.weights import resolve_checkpoint

EXIT_INTERRUPTED = 130  # as a shell reports a Ctrl-C


def _stop_after_this_step(signal_number: int, _frame) -> None:
    print(
        "stopping after this step (saving a checkpoint); press Ctrl-C again to stop at once",
        file=sys.stderr,
        flush=True,
    )
    request_stop()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: list[str] | None = None) -> int:
    """Training's command line (python -m darkdev.train, darkdev train)."""
    # Ctrl-C or kill PID: finish the step, save a checkpoint to --resume from, then stop;
    # a second one stops at once (SIGTERM unwinds like Ctrl-C, so data workers stop too).
    signal.signal(signal.SIGINT, _stop_after_this_step)
    signal.signal(signal.SIGTERM, _stop_after_this_step)
    config = parse_args(argv)
    summary = train(config)
    if summary.get("stopped_by") == "interrupted":
        print(
            f"interrupted at step {summary['steps']}: the checkpoint is saved; go on with the "
            "same command and --resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if "validation" not in summary:
        return 0  # a data-parallel rank other than 0, or a session stopped by --session-steps
    validation = summary["validation"]
    suffixes = {title: split_suffix(split) for split, title in evaluation.SPLIT_TITLES.items()}
    described = "; ".join(
        f"{title} {validation[f'psnr{suffix}']:.3f} dB / {validation[f'ssim{suffix}']:.4f} "
        f"(classical {validation[f'classical_psnr{suffix}']:.3f} / "
        f"{validation[f'classical_ssim{suffix}']:.4f})"
        for title, suffix in suffixes.items()
        if f"psnr{suffix}" in validation
    )
    print(
        f"done: {summary['steps']} steps, best (step {summary['best_step']}) PSNR/SSIM "
        f"{described}; weights {summary['export']['file']}"
    )
    return 0


def _evaluate_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="darkdev evaluate",
        description="PSNR/SSIM of checkpoints and the classical pipeline on the validation "
        "splits (all ISO, high ISO; detail: dead leaves coloured from them) of held-out photos.",
    )
    parser.add_argument(
        "checkpoints",
        nargs="*",
        help="checkpoints of one CFA kind: safetensors files, or bundled ones by name "
        "(`darkdev models`)",
    )
    parser.add_argument("--cfa", default="bayer", choices=["bayer", "xtrans"])
    parser.add_argument("--photos", default=None, help="default ~/.cache/darkdev/photos")
    parser.add_argument("--count", type=int, default=16, help="validation crops per split")
    parser.add_argument(
        "--seed",
        type=int,
        default=VALIDATION_SEED,
        help=f"with --photos: the crops' seed (default {VALIDATION_SEED}, the crops every "
        "training run validates on; another draws fresh ones of the same held-out photos)",
    )
    parser.add_argument(
        "--validation-set",
        action="append",
        default=None,
        help="a run folder (its validation-CFA-SPLIT.npz) or one npz; repeatable",
    )
    parser.add_argument(
        "--save-validation-set",
        default=None,
        metavar="DIR",
        help="with --photos: also write the sets built as DIR/validation-CFA-SPLIT.npz, to "
        "score on with --validation-set DIR later (runs/val79 is this of the 79 photos)",
    )
    parser.add_argument(
        "--no-detail-validation",
        action="store_true",
        help="with --photos: leave the detail split (dead leaves coloured from them) out",
    )
    parser.add_argument("--validation-packed-px", type=int, default=None, help="tests only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lam", type=float, default=0.0, help="RIMEF lambda of the input")
    parser.add_argument("--alpha", type=float, default=1.0, help="RIMEF alpha of the input")
    parser.add_argument(
        "--ensemble",
        type=int,
        default=1,
        help="average each network over this many flips and turns of the raw (1, 2, 4, 8)",
    )
    parser.add_argument(
        "--highlight-rich", action="store_true", help="keep the brighter half of the crops"
    )
    parser.add_argument("--out", default=None, help="markdown file to write")
    parser.add_argument(
        "--sheet",
        default=None,
        help="PNG or JPEG (by extension) of crops at 1:1 (input, classical, models, target)",
    )
    parser.add_argument("--sheet-split", default="high_iso", help="validation split of the sheet")
    parser.add_argument("--sheet-rows", type=int, default=3)
    parser.add_argument("--debug", action="store_true", help="Show tracebacks.")
    return parser


def evaluate_main(argv: list[str] | None = None) -> int:
    """Evaluation's command line (python -m darkdev.evaluate, darkdev evaluate)."""
    arguments = _evaluate_parser().parse_args(argv)
    check_ensemble_size(arguments.ensemble)  # before minutes of validation sets are built
    arguments.checkpoints = [
        resolve_checkpoint(name, arguments.cfa) for name in arguments.checkpoints
    ]
    sheet_format = _sheet_format(arguments.sheet)
    validations = _validation_sets(arguments)
    if arguments.sheet and arguments.sheet_split not in validations:
        raise ParameterError(f"--sheet-split {arguments.sheet_split!r}: no such validation split")
    if arguments.highlight_rich:
        validations = {s: evaluation.highlight_rich(v) for s, v in validations.items()}
    rows = evaluation.evaluate(
        arguments.checkpoints,
        validations,
        arguments.cfa,
        arguments.threads,
        arguments.lam,
        arguments.alpha,
        arguments.ensemble,
    )
    setting = ""
    if arguments.ensemble > 1:
        setting += f"; {arguments.ensemble}-view self-ensemble"
    if arguments.lam > 0:
        setting += f"; networks fed RIMEF lambda {arguments.lam:g} alpha {arguments.alpha:g}"
    if arguments.highlight_rich:
        setting += "; highlight-rich half"
    table = evaluation.markdown_table(rows, arguments.cfa, setting)
    print(table)
    if arguments.out:
        write_atomic(arguments.out, table.encode())
    if arguments.sheet:
        from darkdev.render import encode_jpeg, encode_png
        from darkdev.training.crop_sheet import crop_sheet

        sheet = crop_sheet(
            arguments.checkpoints, validations[arguments.sheet_split], arguments.sheet_rows
        )
        encoded = encode_jpeg(sheet, 90) if sheet_format == "jpg" else encode_png(sheet)
        write_atomic(arguments.sheet, encoded)
        print(f"crop sheet: {arguments.sheet}")
    return 0


def _sheet_format(sheet: str | None) -> str | None:
    """The --sheet file's format by its extension, refused before any scoring starts."""
    if sheet is None:
        return None
    from darkdev.render import format_for

    sheet_format = format_for(sheet, None)  # refuses unknown extensions
    if sheet_format not in ("png", "jpg"):
        raise ParameterError(f"--sheet {sheet}: write a .png or .jpg sheet")
    return sheet_format


def _validation_sets(arguments: argparse.Namespace) -> dict[str, evaluation.ValidationSet]:
    """The sets read from --validation-set, or built from --photos (and saved where asked)."""
    if arguments.validation_set:
        building = (arguments.save_validation_set, arguments.no_detail_validation)
        if any(building) or arguments.seed != VALIDATION_SEED:
            raise ParameterError(
                "--save-validation-set, --no-detail-validation and --seed go with --photos, "
                "not --validation-set"
            )
        return evaluation.read_validation_sets(arguments.validation_set, arguments.cfa)
    splits = tuple(SPLITS) if arguments.no_detail_validation else ALL_SPLITS
    if arguments.save_validation_set:  # refused before minutes of building, not after
        evaluation.check_free(arguments.save_validation_set, arguments.cfa, splits)
    validations = evaluation.held_out_validation_sets(
        arguments.photos, arguments.cfa, arguments.count, arguments.validation_packed_px,
        splits, arguments.seed,
    )  # fmt: skip
    if arguments.save_validation_set:  # before scoring: the sets outlive a failed run
        evaluation.save_validation_sets(validations, arguments.save_validation_set)
    return validations
