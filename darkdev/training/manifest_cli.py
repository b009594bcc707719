"""Command lines that write checkpoint manifest entries (parse, call the library, report).

    darkdev publish runs/NAME --name FILE.safetensors [--weights PATH] [--validation-set DIR] \\
        [--dead-leaves-set DIR] [--colour auto|network|guided] [--not-default] \\
        [--cpu-12mp-seconds S] [--weights-dir DIR]

Publishing copies a finished run's weights into the checkpoints folder with a manifest entry
(training.publishing) and prints what it recorded.

    darkdev rescore NAME... --validation-set DIR [--dead-leaves-set DIR] [--weights-dir DIR]

Rescoring measures a bundled checkpoint again on a validation folder and replaces its entry's
scores (training.rescoring), keeping the old ones in the entry.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from darkdev.errors import OneLineParser
from darkdev.manifest import VIEWS_MODE
from darkdev.training import evaluation
from darkdev.training.publishing import publish
from darkdev.training.rescoring import rescore
from darkdev.training.validation import ALL_SPLITS, split_suffix


def _add_dead_leaves_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dead-leaves-set",
        default=None,
        metavar="DIR",
        help="score on DIR's dead-leaves validation-CFA-all_iso.npz and -high_iso.npz too "
        "(scripts/make_dead_leaves.py, then darkdev evaluate --save-validation-set)",
    )


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
    _add_dead_leaves_option(parser)
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


def _dead_leaves_lines(validation: dict) -> list[str]:
    """The dead-leaves scores a validation block holds, as _score_lines prints the photo splits'."""
    dead_leaves = validation["dead_leaves"]
    scores = {"colour_modes": dead_leaves}  # laid out as a block's colour_modes, classical beside
    table = _score_lines(scores, [*evaluation.COLOUR_MODES, "classical"])
    return [f"dead leaves, {dead_leaves['set']}; {table[0]}", *table[1:]]


def _cells(per_split: dict[str, tuple[float, float]]) -> str:
    return "   ".join(f"{psnr:.2f} / {ssim:.4f}" for psnr, ssim in per_split.values())


def _developments(validation: dict, first: str) -> list[str]:
    """The developments a validation block scored, `first` first and the classical one last."""
    modes = validation.get("colour_modes", {})
    scored = [first, *(mode for mode in (*evaluation.COLOUR_MODES, VIEWS_MODE) if mode in modes)]
    return [*dict.fromkeys(scored), "classical"]


def _score_lines(validation: dict, developments: list[str]) -> list[str]:
    """PSNR / SSIM per split of each development in a manifest validation block."""
    scores = {name: _split_scores(validation, name) for name in developments}
    titles = ", ".join(evaluation.SPLIT_TITLES[split] for split in scores[developments[0]])
    lines = [f"PSNR dB / SSIM, {titles}:"]
    for name, per_split in scores.items():
        lines.append(f"  {name:<15} {_cells(per_split) or '-'}")
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
        dead_leaves_directory=arguments.dead_leaves_set,
        command="darkdev publish " + shlex.join(sys.argv[1:] if argv is None else argv),
    )
    training, validation = entry.training, entry.validation
    scored = arguments.validation_set or f"{arguments.run} (the run's own validation)"
    lines = [
        f"published {entry.file} (sha256 {entry.sha256[:12]}...): {training['published_weights']}"
        f" of {arguments.run}, step {training['published_step']}"
        + (f", default for {entry.cfa_kind}" if entry.default else ""),
    ]
    # Without a validation folder the run validated the network's own colour only.
    table = _score_lines(validation, _developments(validation, "network"))
    lines.append(f"scored on {scored}; {table[0]}")
    lines.extend(table[1:])
    chosen = validation.get("colour_modes", {}).get(
        "chosen", f"{entry.colour} (as given; measured only with --validation-set)"
    )
    lines.extend(_dead_leaves_lines(validation) if arguments.dead_leaves_set else [])
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
    _add_dead_leaves_option(parser)
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
        dead_leaves_directory=arguments.dead_leaves_set,
        command="darkdev rescore " + shlex.join(sys.argv[1:] if argv is None else argv),
    )
    lines = []
    for result in results:
        entry, replaced = result.entry, result.replaced
        table = _score_lines(entry.validation, _developments(entry.validation, entry.colour))
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
        lines.extend(_dead_leaves_lines(entry.validation) if arguments.dead_leaves_set else [])
    print("\n".join(lines))
    return 0
