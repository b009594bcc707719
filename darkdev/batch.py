"""Batches: which outputs to write for which inputs, sharding, and the develop loop.

Folders are walked in a stable order (relative path), sub-folders are mirrored in the output,
and a shard K/N takes every N-th file of that order, so N hosts split an archive with no
coordination and together write exactly what one unsharded run writes. The library never prints:
run_batch yields one JobResult per file and the caller reports.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from darkdev.develop import Developer
from darkdev.errors import DarkdevError, OutputError, ParameterError
from darkdev.files import write_atomic
from darkdev.raw import RAW_EXTENSIONS, RawFrame, decode, read_bytes
from darkdev.render import (
    EXTENSION_BY_FORMAT,
    FORMAT_BY_EXTENSION,
    ImageFormat,
    encode,
    format_for,
)

STREAM = "-"


@dataclass
class Job:
    source: str  # a path, or '-' for stdin
    relative: str  # stable sort key and the mirrored output path
    output: str | None  # a path, '-' for stdout, None when the job is refused in planning
    image_format: ImageFormat
    problem: str | None = None  # set when planning already knows the job cannot run


@dataclass
class JobResult:
    input: str
    output: str | None
    status: str  # 'done', 'skipped' or 'failed'
    ratio: float | None = None
    ratio_estimated: bool = False
    model: str | None = None
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    model_reason: str | None = None  # set when the classical pipeline stood in for a network
    stages_s: dict[str, float] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        """The --json line of this result."""
        return {
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "ratio": self.ratio,
            "ratio_estimated": self.ratio_estimated,
            "model": self.model,
            "model_reason": self.model_reason,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass
class Tally:
    """What a batch did so far: counts by status, seconds of the developed frames, and how many
    frames the classical pipeline developed for want of a network (by reason)."""

    counts: dict[str, int] = field(default_factory=lambda: {"done": 0, "skipped": 0, "failed": 0})
    seconds_done: float = 0.0
    fallbacks: dict[str, int] = field(default_factory=dict)

    def add(self, result: JobResult) -> None:
        self.counts[result.status] += 1
        if result.status == "done":
            self.seconds_done += result.seconds
        if result.model_reason:
            self.fallbacks[result.model_reason] = self.fallbacks.get(result.model_reason, 0) + 1

    def summary(self) -> str:
        done, skipped, failed = (self.counts[k] for k in ("done", "skipped", "failed"))
        per_frame = f", {self.seconds_done / done:.1f} s per frame" if done else ""
        return f"{done} done, {skipped} skipped, {failed} failed{per_frame}"

    def fallback_warnings(self, total: int) -> list[str]:
        return [
            f"{frames} of {total} frames developed with the classical pipeline, not a network: "
            f"{reason}"
            for reason, frames in self.fallbacks.items()
        ]


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


def collect_inputs(inputs: list[str], recursive: bool) -> list[tuple[str, str, bool]]:
    """(source, relative path, came from a folder) for each input; folders expanded in sorted order."""
    found: list[tuple[str, str, bool]] = []
    for item in inputs:
        if item == STREAM:
            found.append((STREAM, "stdin", False))
            continue
        path = Path(item)
        if path.is_dir() and not is_raw_name(path):
            pattern = "**/*" if recursive else "*"
            files = [p for p in path.glob(pattern) if p.is_file() and is_raw_name(p)]
            relatives = sorted(p.relative_to(path).as_posix() for p in files)
            found += [(str(path / relative), relative, True) for relative in relatives]
        else:
            # Files (or anything named like one, e.g. a folder called IMG.ARW) are tried as given.
            found.append((item, path.name, False))
    return found


def plan_jobs(
    inputs: list[str],
    output: str | None,
    image_format: str | None = None,
    suffix: str = "",
    recursive: bool = False,
    shard: tuple[int, int] | None = None,
) -> list[Job]:
    """Decide the output of every input; refuse collisions and outputs that would be an input."""
    sources = collect_inputs(inputs, recursive)
    single = len(sources) == 1 and not sources[0][2]
    to_stream = output == STREAM
    if to_stream and not single:
        raise ParameterError("-o - (stdout) takes exactly one input image")
    output_is_file = (
        output is not None
        and not to_stream
        and single
        and not Path(output).is_dir()
        and not output.endswith(("/", "\\"))
    )
    if (
        output not in (None, STREAM)
        and not single
        and not Path(output).is_dir()
        and Path(output).suffix.lower() in FORMAT_BY_EXTENSION
    ):
        raise ParameterError(f"{len(sources)} inputs need -o FOLDER, not the image file {output}")
    resolved_format = format_for(output if output_is_file and output else "x.png", image_format)
    extension = EXTENSION_BY_FORMAT[resolved_format]
    input_paths = {Path(source).resolve() for source, _, _ in sources if source != STREAM}

    def output_name(relative: str, keep_extension: bool) -> str:
        stem = relative if keep_extension else Path(relative).with_suffix("").as_posix()
        return stem + suffix + extension

    # Raws sharing a stem in one folder (IMG.ARW, IMG.RAF) keep their extension in the output
    # name; decided before sharding so every shard names files as an unsharded run would.
    stems: dict[str, int] = {}
    for _, relative, _ in sources:
        key = Path(relative).with_suffix("").as_posix().lower()
        stems[key] = stems.get(key, 0) + 1
    names = {
        relative: output_name(
            relative, stems[Path(relative).with_suffix("").as_posix().lower()] > 1
        )
        for _, relative, _ in sources
    }
    if shard is not None:
        index, count = shard
        sources = sorted(sources, key=lambda item: item[1])
        sources = [item for position, item in enumerate(sources) if position % count == index - 1]

    jobs: list[Job] = []
    claimed: dict[Path, str] = {}
    for source, relative, _ in sources:
        if to_stream:
            target = STREAM
        elif output_is_file and output is not None:
            target = output
        else:
            name = names[relative]
            if output is not None:
                target = str(Path(output) / name)
            elif source == STREAM:
                raise ParameterError("reading stdin needs -o FILE or -o -")
            else:
                target = str(Path(source).with_name(Path(name).name))
        job = Job(source, relative, target, resolved_format)
        if target != STREAM:
            resolved = Path(target).resolve()
            if resolved in input_paths:
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
    if output not in (None, STREAM) and (len(jobs) > 1 or Path(output).suffix == ""):
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


def _load(job: Job, stdin_reader) -> RawFrame:
    if job.source == STREAM:
        return decode(stdin_reader(), "<stdin>")
    return decode(read_bytes(job.source), job.source)


def run_batch(
    jobs: list[Job],
    developer: Developer,
    quality: int = 92,
    overwrite: bool = False,
    skip_existing: bool = False,
    stdout_writer=None,
    stdin_reader=None,
) -> Iterator[JobResult]:
    """Develop each job; decoding of the next file overlaps the network on the current one."""
    runnable: list[Job] = []
    for job in jobs:
        if job.problem is None and job.output not in (None, STREAM) and Path(job.output).exists():
            if skip_existing:
                yield JobResult(job.source, job.output, "skipped", error="output exists")
                continue
            if not overwrite:
                job.problem = "output exists (use --overwrite to replace it or --skip-existing)"
        if job.problem is not None:
            yield JobResult(job.source, job.output, "failed", error=job.problem)
            continue
        runnable.append(job)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="darkdev-decode") as pool:
        pending = pool.submit(_load, runnable[0], stdin_reader) if runnable else None
        for position, job in enumerate(runnable):
            start = time.perf_counter()
            current = pending
            pending = (
                pool.submit(_load, runnable[position + 1], stdin_reader)
                if position + 1 < len(runnable)
                else None
            )
            try:
                if current is None or job.output is None:
                    raise OutputError(f"{job.source}: internal error: job not planned")
                frame = current.result()
                decoded = time.perf_counter()
                result = developer.develop(frame)
                payload = encode(result.image, job.image_format, quality, frame.camera)
                written = time.perf_counter()
                if job.output == STREAM:
                    if stdout_writer is None:
                        raise OutputError("no stdout writer for -o -")
                    stdout_writer(payload)
                else:
                    write_atomic(job.output, payload)
                stages = {
                    "decode": decoded - start,
                    **result.seconds,
                    "render": written - decoded - sum(result.seconds.values()),
                    "write": time.perf_counter() - written,
                }
                yield JobResult(
                    job.source,
                    job.output,
                    "done",
                    result.ratio,
                    result.ratio_estimated,
                    result.model,
                    time.perf_counter() - start,
                    warnings=result.warnings,
                    model_reason=result.model_reason,
                    stages_s=stages,
                )
            except DarkdevError as error:
                yield JobResult(
                    job.source,
                    job.output,
                    "failed",
                    seconds=time.perf_counter() - start,
                    error=str(error),
                )
            except MemoryError:
                yield JobResult(
                    job.source,
                    job.output,
                    "failed",
                    error="out of memory; try a smaller --tile-size",
                )
