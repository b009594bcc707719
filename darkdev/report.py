"""What the CLI says about a batch: one line per file, the summary, names safe to print.

Pure formatting (no printing, no rich), so the rules are tested without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # darkdev --help stays instant: batch pulls in numpy and rawpy
    from darkdev.batch import JobResult

STATUSES = ("done", "skipped", "failed")


def printable(text: str) -> str:
    """A name (or message) safe to print: bytes that are not UTF-8 are shown as \\xNN.

    File names that are not valid UTF-8 reach Python as lone surrogates (PEP 383); printing
    them as they are would raise UnicodeEncodeError after the image is already written.
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def format_ratio(ratio: float) -> str:
    """Four significant digits: never rounds a used ratio to a misleading 0.0."""
    return f"{ratio:.4g}"


def done_line(result: JobResult) -> str:
    how = "estimated" if result.ratio_estimated else "given"
    return printable(
        f"{result.input} -> {result.output}  ratio {format_ratio(result.ratio or 0)} ({how}), "
        f"{result.model}{f' ({result.model_reason})' if result.model_reason else ''}, "
        f"{result.seconds:.1f} s"
    )


def failure_line(result: JobResult) -> str:
    """One line naming the input and the problem."""
    message = result.error or "failed"
    # Standard input ("-") is named "<stdin>" by the decoder: one name is enough.
    names = (result.input, "<stdin>") if result.input == "-" else (result.input,)
    if not message.startswith(names):
        message = f"{result.input}: {message}"
    return printable(message)


@dataclass
class Tally:
    """Counts of a batch's results and the summary line the CLI prints."""

    total: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    seconds_done: float = 0.0
    stopped_by: str | None = None  # the error that stopped the batch early
    fallbacks: dict[str, int] = field(default_factory=dict)  # classical for want of a network

    def add(self, result: JobResult) -> None:
        self.counts[result.status] += 1
        if result.status == "done":
            self.seconds_done += result.seconds
        if result.stops_batch:
            self.stopped_by = result.error
        if result.model_reason:
            self.fallbacks[result.model_reason] = self.fallbacks.get(result.model_reason, 0) + 1

    def fallback_warnings(self) -> list[str]:
        """Said loudly at the end: frames the classical pipeline developed, and why."""
        return [
            f"{frames} of {self.total} frames developed with the classical pipeline, not a "
            f"network: {reason}"
            for reason, frames in self.fallbacks.items()
        ]

    def summary(self, interrupted: bool = False) -> str:
        done, skipped, failed = (self.counts[status] for status in STATUSES)
        line = f"{done} done, {skipped} skipped, {failed} failed"
        left = self.total - done - skipped - failed
        if left > 0:
            line += f", {left} not attempted"
        if done:
            line += f", {self.seconds_done / done:.1f} s per frame"
        if interrupted:
            return "interrupted: " + line
        if self.stopped_by is not None:
            return f"stopped early, the disk is full: {line}"
        return line
