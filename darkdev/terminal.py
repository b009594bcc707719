"""The CLI's terminal presentation: help without type tags, and develop's progress display.

Lives beside the cli package (Typer and rich are CLI concerns): the library only calls
on_start / on_tile.
"""

from __future__ import annotations

from collections.abc import Callable

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


def print_table_or_blocks(
    console: Console,
    title: str,
    columns: tuple[str, ...],
    rows: list[tuple[str, ...]],
    *,
    caption: str = "",
    unbroken: frozenset[str] = frozenset(),
    block_heading: Callable[[tuple[str, ...]], str] | None = None,
    right_aligned: frozenset[str] = frozenset(),
) -> None:
    """A table whose `unbroken` cells are never cut (the others wrap by word, never inside one),
    or, on a terminal too narrow for that (rich would crop whole columns to "…"), one block per
    row: its heading (block_heading(row), default its first cell), then the other cells as label
    and value lines."""
    from rich.cells import cell_len
    from rich.padding import Padding
    from rich.table import Table

    minimum_widths = []
    for index, column in enumerate(columns):
        cells = [row[index] for row in rows]
        pieces = cells if column in unbroken else [word for cell in cells for word in cell.split()]
        minimum_widths.append(
            max([cell_len(piece) for piece in pieces] + [cell_len(w) for w in column.split()])
        )
    # Each cell has a space either side and a rule after it, and the first a rule before it.
    if sum(minimum_widths) + 3 * len(columns) + 1 <= console.width:
        table = Table(title=title, caption=caption or None, caption_justify="left")
        for column, width in zip(columns, minimum_widths, strict=True):
            table.add_column(
                column,
                no_wrap=column in unbroken,
                min_width=width,
                justify="right" if column in right_aligned else "left",
            )
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    console.print(title, style="italic", highlight=False)
    for row in rows:
        console.print(
            block_heading(row) if block_heading else row[0], style="bold", highlight=False
        )
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for label, value in zip(columns[1:], row[1:], strict=True):
            grid.add_row(label, value)
        console.print(Padding(grid, (0, 0, 0, 2)))
    if caption:
        console.print(caption, highlight=False)
