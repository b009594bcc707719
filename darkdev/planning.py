"""Planning a batch: which output to write for which input, refused before anything is decoded.

Folders are walked in a stable order (relative path), sub-folders are mirrored in the output,
and a shard K/N takes every N-th file of that order, so N hosts split an archive with no
coordination and together write exactly what one unsharded run writes. Outputs that collide or
would overwrite an input (standard input and output included) are refused per job.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from darkdev.errors import NoRawFilesError, OutputError, ParameterError
from darkdev.raw import RAW_EXTENSIONS
from darkdev.render import EXTENSION_BY_FORMAT, FORMAT_BY_EXTENSION, ImageFormat, format_for

STREAM = "-"


@dataclass
class Job:
    source: str  # a path, or '-' for stdin
    relative: str  # stable sort key and the mirrored output path
    output: str | None  # a path, '-' for stdout, None when the job is refused in planning
    image_format: ImageFormat
    problem: str | None = None  # set when planning already knows the job cannot run


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'K/N' with 1 <= K <= N -> (K, N)."""
    if text is None:
        return None
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError as error:
        raise ParameterError(f"--shard must look like K/N (e.g. 3/8), got {text!r}") from error
    if not 1 <= index <= count:
        raise ParameterError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
    return index, count


def is_raw_name(path: Path) -> bool:
    return path.suffix.lower() in RAW_EXTENSIONS


def looked_for() -> str:
    """The raw extensions darkdev looks for, for the 'no raw files found' message."""
    return ", ".join(sorted(RAW_EXTENSIONS)) + " (any case)"


def collect_inputs(
    inputs: list[str], recursive: bool, notes: list[str] | None = None
) -> list[tuple[str, str, bool]]:
    """(source, relative path, came from a folder) for each input; folders expanded in sorted order.

    A folder holding no raw file adds a line to notes, when given.
    """
    found: list[tuple[str, str, bool]] = []
    for item in inputs:
        if item == STREAM:
            found.append((STREAM, "stdin", False))
            continue
        path = Path(item)
        if path.is_dir() and not is_raw_name(path):
            pattern = "**/*" if recursive else "*"
            # Anything named like a raw but a folder is a candidate: a FIFO, device or symlink
            # loop called IMG.ARW is refused with a line of its own, not silently skipped.
            files = [p for p in path.glob(pattern) if is_raw_name(p) and not p.is_dir()]
            relatives = sorted(p.relative_to(path).as_posix() for p in files)
            found += [(str(path / relative), relative, True) for relative in relatives]
            if not files and notes is not None:
                hint = "" if recursive else "; -r also looks in sub-folders"
                notes.append(f"no raw files found in {item} (looked for {looked_for()}{hint})")
        else:
            # Files (or anything named like one, e.g. a folder called IMG.ARW) are tried as given.
            found.append((item, path.name, False))
    return found


def check_suffix(suffix: str) -> None:
    """A suffix is part of a file name: a separator or '..' would write outside -o."""
    separators = {"/", "\\", os.sep, os.altsep or "/"}
    if any(mark in suffix for mark in separators) or ".." in suffix or "\0" in suffix:
        raise ParameterError(
            f"--suffix {suffix!r} must be part of a file name: no '/', '\\' or '..'"
        )


def _identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, None when it does not exist or cannot be read."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return status.st_dev, status.st_ino


def _stream_identity(descriptor: int) -> tuple[int, int] | None:
    """(device, inode) of what a standard stream is redirected from/to, if a regular file."""
    try:
        status = os.fstat(descriptor)
    except OSError:
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None


def _resolved(path: str | Path) -> Path:
    """Absolute, symlink-free path; a symlink loop falls back to the absolute path."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python < 3.13 on a symlink loop
        return Path(os.path.abspath(path))


def _output_names(sources: list[tuple[str, str, bool]], suffix: str, extension: str) -> dict:
    """Output name (relative) of each source.

    Raws sharing a stem in one folder (IMG.ARW, IMG.RAF) keep their extension in the output
    name; decided before sharding so every shard names files as an unsharded run would.
    """
    stems: dict[str, int] = {}
    for _, relative, _ in sources:
        key = Path(relative).with_suffix("").as_posix().lower()
        stems[key] = stems.get(key, 0) + 1
    names = {}
    for _, relative, _ in sources:
        stem = Path(relative).with_suffix("").as_posix()
        names[relative] = (relative if stems[stem.lower()] > 1 else stem) + suffix + extension
    return names


def _take_shard(sources: list, shard: tuple[int, int] | None, notes: list[str] | None) -> list:
    if shard is None:
        return sources
    index, count = shard
    ordered = sorted(sources, key=lambda item: item[1])
    taken = [item for position, item in enumerate(ordered) if position % count == index - 1]
    if not taken and notes is not None:
        notes.append(f"shard {index}/{count} has no files ({len(sources)} files in all)")
    return taken


def _input_identities(sources: list[tuple[str, str, bool]]) -> set[tuple[int, int]]:
    """(device, inode) of every input file, standard input included when it is a file."""
    identities = {_identity(source) for source, _, _ in sources if source != STREAM}
    if any(source == STREAM for source, _, _ in sources):
        # `darkdev develop - -o photo.dng < photo.dng`: the output path names no input,
        # but it is the very file standard input reads.
        identities.add(_stream_identity(0))
    identities.discard(None)
    return identities  # type: ignore[return-value]


def plan_jobs(
    inputs: list[str],
    output: str | None,
    image_format: str | None = None,
    suffix: str = "",
    recursive: bool = False,
    shard: tuple[int, int] | None = None,
    notes: list[str] | None = None,
) -> list[Job]:
    """Decide the output of every input; refuse collisions and outputs that would be an input.

    notes, when given, receives lines worth telling the user (empty folders, an empty shard).
    """
    check_suffix(suffix)
    sources = collect_inputs(inputs, recursive, notes)
    if not sources:
        hint = "" if recursive else "; -r also looks in sub-folders"
        raise NoRawFilesError(
            f"no raw files found in {', '.join(inputs)} (looked for {looked_for()}{hint})"
        )
    single = len(sources) == 1 and not sources[0][2]
    to_stream = output == STREAM
    if to_stream and not single:
        raise ParameterError("-o - (stdout) takes exactly one input image")
    names_a_folder = output is not None and (Path(output).is_dir() or output.endswith(("/", "\\")))
    output_is_file = output is not None and not to_stream and single and not names_a_folder
    if (
        output not in (None, STREAM)
        and not single
        and not Path(output).is_dir()
        and Path(output).suffix.lower() in FORMAT_BY_EXTENSION
    ):
        raise ParameterError(f"{len(sources)} inputs need -o FOLDER, not the image file {output}")
    if output_is_file:
        resolved_format = format_for(str(output), image_format)
    else:
        resolved_format = format_for("", image_format or "png")
    names = _output_names(sources, suffix, EXTENSION_BY_FORMAT[resolved_format])
    input_paths = {_resolved(source) for source, _, _ in sources if source != STREAM}
    input_identities = _input_identities(sources)
    if to_stream and _stream_identity(1) in input_identities:
        raise ParameterError("standard output is an input file; refusing to overwrite it")
    sources = _take_shard(sources, shard, notes)

    jobs: list[Job] = []
    claimed: dict[Path, str] = {}
    for source, relative, _ in sources:
        if to_stream:
            target = STREAM
        elif output_is_file:
            target = str(output)
        elif output is not None:
            target = str(Path(output) / names[relative])
        elif source == STREAM:
            raise ParameterError("reading stdin needs -o FILE or -o -")
        else:
            target = str(Path(source).with_name(Path(names[relative]).name))
        job = Job(source, relative, target, resolved_format)
        if target != STREAM:
            resolved = _resolved(target)
            if resolved in input_paths or _identity(target) in input_identities:
                job.problem = "output would overwrite an input file; refusing"
            elif resolved in claimed:
                job.problem = f"output {target} is also the output of {claimed[resolved]}"
            else:
                claimed[resolved] = source
        jobs.append(job)
    return jobs


def make_output_folders(jobs: list[Job], output: str | None) -> None:
    """Create -o FOLDER (several inputs, or a name without extension) and the mirrored
    sub-folders the planned jobs write into."""
    folders = []
    # `-o night --format jpg` with one input names the image itself: no folder of that name.
    names_an_image = any(job.output == output for job in jobs)
    if (
        output not in (None, STREAM)
        and not names_an_image
        and (len(jobs) > 1 or Path(output).suffix == "")
    ):
        folders.append(Path(output))
    folders += [
        Path(job.output).parent
        for job in jobs
        if job.output not in (None, STREAM) and job.problem is None
    ]
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(
                f"{folder}: cannot create output folder ({error.strerror or error})"
            ) from error
