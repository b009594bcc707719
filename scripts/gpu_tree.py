#!/usr/bin/env python3
"""Leave bundled checkpoints a GPU session does not read out of the tree that travels, and back:

    python scripts/gpu_tree.py leave-behind --cfa bayer   # before make_photo_pack.py and the call
    python scripts/gpu_tree.py restore                    # after the call, before any commit
    python scripts/gpu_tree.py status

The device machine takes the tracked files plus the untracked ones git does not ignore, 64 MiB in
all, and a width-32 network bundled here (44.4 MiB) would leave no room for the next session's
photos. A file that is untracked *and* ignored does not travel, so leave-behind takes the
checkpoints off the index (`git rm --cached`: the files stay on disk, untouched) and ignores them
in .git/info/exclude, between two marker lines; restore puts them back on the index from HEAD
and removes the lines. Only files identical to HEAD's are left behind, so restore loses nothing.
The session reads the manifest and the network it starts from, which
`scripts/train_on_gpu.sh --starting-network` names (its INIT_FROM for the CFA kind, the same
environment applying); every other bundled checkpoint stays here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
CHECKPOINTS = "darkdev/checkpoints"
BEGIN = "# gpu_tree.py: bundled checkpoints left behind (python scripts/gpu_tree.py restore)"
END = "# gpu_tree.py: end"


class TreeError(Exception):
    """The repository is not in a state the command can act on; the message says why."""


def git(repository: Path, *arguments: str) -> str:
    result = subprocess.run(
        ["git", *arguments], cwd=repository, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise TreeError(f"git {' '.join(arguments)}: {result.stderr.strip()}")
    return result.stdout


def exclude_file(repository: Path) -> Path:
    return repository / git(repository, "rev-parse", "--git-path", "info/exclude").strip()


def left_behind(repository: Path) -> list[str]:
    """The paths between the marker lines; empty when nothing is left behind."""
    exclude = exclude_file(repository)
    lines = exclude.read_text().splitlines() if exclude.is_file() else []
    if BEGIN not in lines:
        return []
    block = lines[lines.index(BEGIN) + 1 : lines.index(END)]
    return [line.removeprefix("/") for line in block]


def session_needs(cfa_kind: str, repository: Path = REPOSITORY) -> set[str]:
    """What scripts/train_on_gpu.sh reads of the bundled files for a CFA kind (its INIT_FROM,
    which the environment may set; empty: from scratch)."""
    script = REPOSITORY / "scripts" / "train_on_gpu.sh"
    result = subprocess.run(
        ["bash", str(script), "--starting-network"],
        env={**os.environ, "CFA": cfa_kind},
        capture_output=True,
        text=True,
        check=True,
    )
    starting = Path(result.stdout.strip())  # relative to the repository, or absolute
    if not str(starting) or str(starting) == ".":
        return set()
    if not starting.is_absolute():
        return {starting.as_posix()}
    try:
        return {starting.resolve().relative_to(repository.resolve()).as_posix()}
    except ValueError:  # a file outside the repository travels only if carried
        return set()


def leave_behind(repository: Path, keep: set[str]) -> list[str]:
    """Untracks and ignores every bundled checkpoint not in `keep`; returns their paths."""
    if left_behind(repository):
        raise TreeError("checkpoints are already left behind: run restore first")
    tracked = git(repository, "ls-files", "-z", "--", f"{CHECKPOINTS}/*.safetensors")
    paths = sorted(path for path in tracked.split("\0") if path and path not in keep)
    if not paths:
        return []
    changed = git(repository, "diff", "--name-only", "HEAD", "--", *paths).split()
    if changed:
        raise TreeError(f"{changed[0]}: differs from HEAD; commit it or restore it first")
    exclude = exclude_file(repository)
    exclude.parent.mkdir(parents=True, exist_ok=True)
    before = exclude.read_text() if exclude.is_file() else ""
    separator = "" if not before or before.endswith("\n") else "\n"
    block = "\n".join([BEGIN, *(f"/{path}" for path in paths), END])
    exclude.write_text(f"{before}{separator}{block}\n")
    try:
        git(repository, "rm", "--cached", "-q", "--", *paths)
    except TreeError:
        exclude.write_text(before)
        raise
    return paths


def restore(repository: Path) -> list[str]:
    """Puts the left-behind checkpoints back on the index from HEAD and drops the marker block."""
    paths = left_behind(repository)
    if not paths:
        return []
    missing = [path for path in paths if not (repository / path).is_file()]
    if missing:
        raise TreeError(f"{missing[0]}: left behind but no longer on disk (git checkout it)")
    git(repository, "reset", "-q", "--", *paths)
    exclude = exclude_file(repository)
    lines = exclude.read_text().splitlines()
    kept = lines[: lines.index(BEGIN)] + lines[lines.index(END) + 1 :]
    exclude.write_text("".join(f"{line}\n" for line in kept))
    return paths


def main(argv: list[str] | None = None, repository: Path = REPOSITORY) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    leave = commands.add_parser("leave-behind", help="before the device call")
    leave.add_argument("--cfa", choices=("bayer", "xtrans"), required=True)
    commands.add_parser("restore", help="after the device call")
    commands.add_parser("status")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "leave-behind":
            paths = leave_behind(repository, session_needs(arguments.cfa))
            verb = "left behind (untracked, ignored; restore after the call)"
        elif arguments.command == "restore":
            paths, verb = restore(repository), "back on the index"
        else:
            paths, verb = left_behind(repository), "left behind"
    except TreeError as error:
        print(f"gpu_tree.py: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"{verb}: {path}")
    if not paths:
        print("nothing left behind" if arguments.command != "leave-behind" else "nothing to leave")
    elif arguments.command != "restore":  # the index holds their removal: a commit would keep it
        print("commit nothing until: python scripts/gpu_tree.py restore")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
