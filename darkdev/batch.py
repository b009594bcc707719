"""Batches: the develop loop over planned jobs (darkdev.planning decides which outputs to write).

Decoding of the next file overlaps the network on the current one; existing outputs are skipped
or refused, and a full disk stops the batch. The library never prints: run_batch yields one
JobResult per file and the caller reports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from darkdev.develop import Developer
from darkdev.errors import DarkdevError, DiskFullError, OutputError, OutputExistsError
from darkdev.files import write_atomic
from darkdev.inputs import read_bytes
from darkdev.planning import STREAM, Job
from darkdev.raw import RawFrame, decode
from darkdev.render import encode


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
    white_balance: list[float] | None = None  # R, G, B gains the frame was developed with
    white_balance_source: str | None = None  # as shot, grey world, daylight, none or given
    stops_batch: bool = False  # a full disk: later files would fail the same way

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
            "warnings": list(self.warnings),
            "white_balance": self.white_balance,
            "white_balance_source": self.white_balance_source,
        }


def _load(job: Job, stdin_reader) -> RawFrame:
    if job.source == STREAM:
        if stdin_reader is None:
            raise OutputError("no stdin reader for -")
        return decode(stdin_reader(), "<stdin>")
    return decode(read_bytes(job.source), job.source)


def _precheck(job: Job, overwrite: bool, skip_existing: bool) -> JobResult | None:
    """The result of a job that need not run (refused in planning, or its output exists)."""
    if job.problem is None and job.output not in (None, STREAM) and os.path.lexists(job.output):
        if skip_existing:
            return JobResult(job.source, job.output, "skipped", error="output exists")
        if not overwrite:
            job.problem = "output exists (use --overwrite to replace it or --skip-existing)"
    if job.problem is not None:
        return JobResult(job.source, job.output, "failed", error=job.problem)
    return None


def _unfinished(job: Job, status: str, developed, start: float, error: str) -> JobResult:
    """A failed or skipped job, keeping the ratio and model when development got that far."""
    return JobResult(
        job.source,
        job.output,
        status,
        ratio=developed.ratio if developed is not None else None,
        ratio_estimated=developed.ratio_estimated if developed is not None else False,
        model=developed.model if developed is not None else None,
        seconds=time.perf_counter() - start,
        error=error,
    )


@dataclass(frozen=True)
class _Settings:
    """What every job of a batch is developed and written with."""

    quality: int
    overwrite: bool
    skip_existing: bool
    stdout_writer: Callable[[bytes], None] | None
    on_tile: Callable[[int, int], None] | None


def _develop_one(job: Job, frame_future, developer: Developer, settings: _Settings) -> JobResult:
    start = time.perf_counter()
    developed = None
    try:
        frame = frame_future.result()
        decoded = time.perf_counter()
        developed = developer.develop(frame, on_tile=settings.on_tile)
        payload = encode(developed.image, job.image_format, settings.quality, frame.camera)
        written = time.perf_counter()
        if job.output is None:
            raise OutputError(f"{job.source}: internal error: job not planned")
        if job.output == STREAM:
            if settings.stdout_writer is None:
                raise OutputError("no stdout writer for -o -")
            settings.stdout_writer(payload)
        else:
            write_atomic(job.output, payload, overwrite=settings.overwrite)
    except OutputExistsError as error:  # another run took the name since the check above
        if settings.skip_existing:
            return _unfinished(job, "skipped", developed, start, "output exists")
        return _unfinished(job, "failed", developed, start, str(error))
    except DarkdevError as error:
        result = _unfinished(job, "failed", developed, start, str(error))
        result.stops_batch = isinstance(error, DiskFullError)
        return result
    except MemoryError:
        return _unfinished(
            job, "failed", developed, start, "out of memory; try a smaller --tile-size"
        )
    stages = {
        "decode": decoded - start,
        **developed.seconds,
        "render": written - decoded - sum(developed.seconds.values()),
        "write": time.perf_counter() - written,
    }
    return JobResult(
        job.source,
        job.output,
        "done",
        developed.ratio,
        developed.ratio_estimated,
        developed.model,
        time.perf_counter() - start,
        warnings=developed.warnings,
        model_reason=developed.model_reason,
        stages_s=stages,
        white_balance=[round(gain, 4) for gain in developed.white_balance],
        white_balance_source=developed.white_balance_source,
    )


def run_batch(
    jobs: list[Job],
    developer: Developer,
    quality: int = 92,
    overwrite: bool = False,
    skip_existing: bool = False,
    stdout_writer=None,
    stdin_reader=None,
    on_start=None,
    on_tile=None,
) -> Iterator[JobResult]:
    """Develop each job; decoding of the next file overlaps the network on the current one.

    on_start(job) is called as a job starts developing, on_tile(done, total) as network tiles
    finish. A full disk stops the batch after the file that hit it (stops_batch is set).
    """
    settings = _Settings(quality, overwrite, skip_existing, stdout_writer, on_tile)
    runnable: list[Job] = []
    for job in jobs:
        early = _precheck(job, overwrite, skip_existing)
        if early is None:
            runnable.append(job)
        else:
            yield early

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="darkdev-decode") as pool:
        pending = pool.submit(_load, runnable[0], stdin_reader) if runnable else None
        for position, job in enumerate(runnable):
            current = pending
            pending = (
                pool.submit(_load, runnable[position + 1], stdin_reader)
                if position + 1 < len(runnable)
                else None
            )
            if on_start is not None:
                on_start(job)
            result = _develop_one(job, current, developer, settings)
            yield result
            if result.stops_batch:
                if pending is not None:
                    pending.cancel()
                return
