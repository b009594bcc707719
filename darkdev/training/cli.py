"""Command lines of training, evaluation and publishing (parse, call the library, report).

    python -m darkdev.train --model lts --cfa bayer --width 16 --crop 128 --batch 4 \\
        --max-minutes 40 --out runs/NAME [--resume]

Data parallel (DistributedDataParallel; gloo on CPU, nccl on CUDA), --batch is the whole batch:

    torchrun --standalone --nproc_per_node 2 -m darkdev.train --batch 8 ... --out runs/NAME

    python -m darkdev.evaluate weights/lts-w16-bayer.safetensors [...] --cfa bayer \\
        [--validation-set runs/NAME] [--photos DIR --count 16] [--out table.md]

Evaluation prints (and saves) a markdown table: the classical pipeline and each checkpoint on the
validation splits (all ISO, high ISO, and detail where the folder has it), PSNR and SSIM.

    darkdev publish runs/NAME --name FILE.safetensors [--weights PATH] [--validation-set DIR] \\
        [--colour auto|network|guided] [--not-default] [--cpu-12mp-seconds S] [--weights-dir DIR]

Publishing copies a finished run's weights into the checkpoints folder with a manifest entry
(training.publishing) and prints what it recorded.

    darkdev rescore NAME... --validation-set DIR [--weights-dir DIR]

Rescoring measures a bundled checkpoint again on a validation folder and replaces its entry's
scores (training.rescoring), keeping the old ones in the entry.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

import torch

from darkdev.ensemble import check_ensemble_size
from darkdev.errors import OneLineParser, ParameterError
from darkdev.files import write_atomic
from darkdev.training import evaluation
from darkdev.training.config import parse_args
from darkdev.training.loop import request_stop, train
from darkdev.training.publishing import publish
from darkdev.training.rescoring import rescore
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


def _publish_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="darkdev publish",
        description="Copy a finished training run's weights into the checkpoints folder and "
        "write their manifest entry, every number measured: the run's own validation at the "
        "published step, or scores on a validation folder (network and guided colour, the "
        "classical development), and the entry it replaces.",
    )
    parser.add_argument("run", metavar="RUN_DIR", help="the run's folder (with summary.json)")
    parser.add_argument("--name", required=True, metavar="FILE.safetensors", help="published name")
    parser.add_argument(
        "--weights",
        default=None,
        metavar="PATH",
        help="the run's best.safetensors (default) or a validated/step-NNNNNN.safetensors of it "
        "(--keep-validated-weights); relative paths may be relative to RUN_DIR",
    )
    parser.add_argument(
        "--validation-set",
        default=None,
        metavar="DIR",
        help="score on DIR's validation-CFA-all_iso.npz and -high_iso.npz (and -detail.npz if "
        "there; a run folder's, or a larger set) instead of recording the run's own validation",
    )
    parser.add_argument(
        "--colour",
        default=None,
        choices=["auto", "network", "guided"],
        help="what --colour auto develops with; auto (the default with --validation-set): the "
        "mode with the higher PSNR + SSIM in dB over the splits; else guided by default",
    )
    parser.add_argument(
        "--not-default", action="store_true", help="keep the CFA kind's current default entry"
    )
    parser.add_argument(
        "--cpu-12mp-seconds",
        type=float,
        default=None,
        metavar="S",
        help="measured 12 MP develop time on 2 CPU cores (benchmarks/bench_develop.py); "
        "without it, the replaced entry's when the network is the same",
    )
    parser.add_argument(
        "--weights-dir", default=None, metavar="DIR", help="default: the bundled checkpoints"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads for scoring")
    parser.add_argument("--debug", action="store_true", help="Show tracebacks.")
    return parser


def _split_scores(validation: dict, development: str) -> dict[str, tuple[float, float]]:
    """split -> (PSNR, SSIM) of a development in a manifest validation block, every split it has."""
    modes = validation.get("colour_modes", {})
    if development in modes:
        return {split: tuple(pair) for split, pair in modes[development].items()}
    prefix = "classical_" if development == "classical" else ""
    scores = {}
    for split in ALL_SPLITS:
        psnr_name, ssim_name = (f"{prefix}{name}{split_suffix(split)}" for name in ("psnr", "ssim"))
        if psnr_name in validation and ssim_name in validation:
            scores[split] = (validation[psnr_name], validation[ssim_name])
    return scores


def _cells(per_split: dict[str, tuple[float, float]]) -> str:
    return "   ".join(f"{psnr:.2f} / {ssim:.4f}" for psnr, ssim in per_split.values())


def _score_lines(validation: dict, developments: list[str]) -> list[str]:
    """PSNR / SSIM per split of each development in a manifest validation block."""
    scores = {name: _split_scores(validation, name) for name in developments}
    titles = ", ".join(evaluation.SPLIT_TITLES[split] for split in scores[developments[0]])
    lines = [f"PSNR dB / SSIM, {titles}:"]
    for name, per_split in scores.items():
        lines.append(f"  {name:<10} {_cells(per_split) or '-'}")
    return lines


def publish_main(argv: list[str] | None = None) -> int:
    """`darkdev publish`: parse, publish (training.publishing), print what was recorded."""
    arguments = _publish_parser().parse_args(argv)
    torch.set_num_threads(arguments.threads)
    colour = arguments.colour or ("auto" if arguments.validation_set else "guided")
    entry = publish(
        arguments.run,
        arguments.name,
        Path(arguments.weights_dir) if arguments.weights_dir else None,
        default=not arguments.not_default,
        cpu_12mp_seconds=arguments.cpu_12mp_seconds,
        colour=colour,
        weights_file=arguments.weights,
        validation_directory=arguments.validation_set,
        command="darkdev publish " + shlex.join(sys.argv[1:] if argv is None else argv),
    )
    training, validation = entry.training, entry.validation
    scored = arguments.validation_set or f"{arguments.run} (the run's own validation)"
    lines = [
        f"published {entry.file} (sha256 {entry.sha256[:12]}...): {training['published_weights']}"
        f" of {arguments.run}, step {training['published_step']}"
        + (f", default for {entry.cfa_kind}" if entry.default else ""),
    ]
    developments = ["network", "guided", "classical"]
    if "colour_modes" not in validation:
        developments.remove("guided")  # the run validates the network's own colour only
    table = _score_lines(validation, developments)
    lines.append(f"scored on {scored}; {table[0]}")
    lines.extend(table[1:])
    chosen = validation.get("colour_modes", {}).get(
        "chosen", f"{entry.colour} (as given; measured only with --validation-set)"
    )
    lines.append(f"colour: {chosen}")
    print("\n".join(lines))
    return 0


def _rescore_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="darkdev rescore",
        description="Score bundled checkpoints again on a validation folder (their colour mode, "
        "the other mode and the classical development) and replace their manifest entries' "
        "scores, keeping the old ones in each entry; the weights and what develop does are "
        "unchanged.",
    )
    parser.add_argument(
        "names", nargs="+", metavar="NAME", help="checkpoint names (`darkdev models`)"
    )
    parser.add_argument(
        "--validation-set",
        required=True,
        metavar="DIR",
        help="DIR's validation-CFA-all_iso.npz and -high_iso.npz (and -detail.npz if there)",
    )
    parser.add_argument(
        "--weights-dir", default=None, metavar="DIR", help="default: the bundled checkpoints"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads for scoring")
    parser.add_argument("--debug", action="store_true", help="Show tracebacks.")
    return parser


def rescore_main(argv: list[str] | None = None) -> int:
    """`darkdev rescore`: parse, rescore (training.rescoring), print the new and old scores."""
    arguments = _rescore_parser().parse_args(argv)
    torch.set_num_threads(arguments.threads)
    results = rescore(
        arguments.names,
        arguments.validation_set,
        Path(arguments.weights_dir) if arguments.weights_dir else None,
        command="darkdev rescore " + shlex.join(sys.argv[1:] if argv is None else argv),
    )
    lines = []
    for result in results:
        entry, replaced = result.entry, result.replaced
        developments = [entry.colour, *(d for d in ("network", "guided") if d != entry.colour)]
        table = _score_lines(entry.validation, [*developments, "classical"])
        lines.append(
            f"rescored {entry.file} (sha256 {entry.sha256[:12]}...) on "
            f"{arguments.validation_set}; {table[0]}"
        )
        lines.extend(table[1:])
        # The old block's own scores are of the colour mode it recorded (network when none).
        was_colour = replaced.get("colour", "network")
        old = _split_scores({k: v for k, v in replaced.items() if k != "colour_modes"}, "network")
        lines.append(
            f"  was ({was_colour}): {_cells(old) or '-'}, "
            f"on {replaced.get('set', 'an unrecorded set')}"
        )
    print("\n".join(lines))
    return 0
