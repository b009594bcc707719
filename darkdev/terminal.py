"""The CLI's terminal presentation: help without type tags, and develop's progress display.

Lives beside the cli package (Typer and rich are CLI concerns): the library only calls
on_start / on_tile.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from typer.core import TyperCommand, TyperGroup

from darkdev.report import printable


class _NoTypeTags:
    """Help without Typer's type tags on flags and arguments (`--hdr <bool>`, `<list[str]>`)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) or param.param_type_name == "argument":
                param.display_type_rich = lambda ctx: None
        return params


class PlainHelpCommand(_NoTypeTags, TyperCommand):
    def collect_usage_pieces(self, ctx) -> list[str]:
        """`darkdev develop [OPTIONS] INPUT...` rather than Typer's `{inputs}...`."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


class PlainHelpGroup(_NoTypeTags, TyperGroup):
    pass


class ProgressDisplay:
    """A files bar (batches only) naming the file being developed, and a bar over its tiles.

    Disabled (no output at all) when stderr is not a terminal or with --quiet.
    """

    def __init__(self, console: Console, enabled: bool, file_count: int) -> None:
        self.display = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=True,
        )
        self.batch = file_count > 1
        self.files = self.display.add_task("developing", total=file_count, visible=self.batch)
        self.tiles = self.display.add_task("tiles", total=None, visible=False)
        self.current = ""
        self.tiles_shown = False

    def start_file(self, job) -> None:
        self.current = printable(job.relative)  # the name, short enough for one line
        self.display.update(self.files, description=f"developing {self.current}")
        self.display.reset(self.tiles, total=None, visible=False)
        self.tiles_shown = False

    def tile_done(self, done: int, total: int) -> None:
        label = "  tiles" if self.batch else f"developing {self.current}: tiles"
        first = not self.tiles_shown
        self.display.update(
            self.tiles, completed=done, total=total, visible=True, description=label
        )
        self.tiles_shown = True
        if first:  # show the bar at once, not at the next timed refresh: a frame may be quick
            self.display.refresh()

    def file_done(self) -> None:
        self.display.advance(self.files)
        self.display.update(self.tiles, visible=False)
