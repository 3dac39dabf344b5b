"""The board: the selected puzzle's answer at the current segment.

Each task's board renderer (`hrm_cli.tui.renderers`) turns (puzzle, segment) into layouts:
lines of rich Text, one painter per zoom level, most legible first. `BoardView` picks the
most legible level that fits its viewport (or the one the user chose with `z`) and
scrolls when even the smallest does not fit. The marks cells carry are in
`hrm_cli.tui.paint`.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from hrm.datasets.tasks import Puzzle
from hrm_cli.tui.latent import latent_layouts, latent_legend
from hrm_cli.tui.paint import (
    BAD,
    CHANGED_BG,
    CONFIDENCE,
    GIVEN,
    WRONG,
    Layout,
    Lines,
    confidence_colour,
)
from hrm_cli.tui.renderers import renderer_for
from hrm_cli.tui.trace import Segment


def layouts(puzzle: Puzzle, segment: Segment | None, latent: bool = False) -> list[Layout]:
    """The task's layouts, most legible first; the last is the most compact. `latent`
    adds the heat map of the latent state beside each (`hrm_cli.tui.latent`)."""
    options = renderer_for(puzzle.task).layouts(puzzle, segment)
    return latent_layouts(options, puzzle, segment) if latent else options


class Legend:
    """Legend entries laid out in as few lines as the width allows, wrapping only between
    entries: a swatch always stays with its words ("▇ rule broken")."""

    GAP = "  "

    def __init__(self, items: list[Text]):
        self.items = items

    @property
    def plain(self) -> str:
        return self.GAP.join(item.plain for item in self.items)

    def lines(self, width: int) -> list[Text]:
        lines: list[Text] = []
        line = Text()
        for item in self.items:
            if line.cell_len and line.cell_len + len(self.GAP) + item.cell_len > width:
                lines.append(line)
                line = Text()
            if line.cell_len:
                line.append(self.GAP)
            line.append_text(item)
        return [*lines, line]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            line.no_wrap, line.overflow = True, "ellipsis"  # an entry wider than the pane
            yield line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max(item.cell_len for item in self.items)
        return Measurement(min(widest, options.max_width),
                           min(Text(self.plain).cell_len, options.max_width))


def legend(puzzle: Puzzle, latent: bool = False) -> Legend:
    """The board's marks for this task, explained: one line, or more when narrow."""
    items = renderer_for(puzzle.task).legend(puzzle)
    return Legend([*items, *latent_legend()] if latent else items)


# --------------------------------------------------------------------------- widget


class BoardView(ScrollableContainer, can_focus=True):
    """Scrollable board of one puzzle at one segment, re-laid out when resized.

    `zoom` None picks the first layout that fits; an index forces one (key `z`). `latent`
    shows the heat map of the latent state beside the answer (key `v`).
    """

    DEFAULT_CSS = """
    BoardView { overflow: auto auto; align: center middle; }
    BoardView > #board { width: auto; height: auto; }
    """

    zoom: reactive[int | None] = reactive(None)
    latent: reactive[bool] = reactive(False)

    def __init__(self, frame: Widget | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.frame: Widget = frame or self
        """The widget whose border shows the board's title and layout (this one or a pane
        around it)."""
        self.puzzle: Puzzle | None = None
        self.segment: Segment | None = None
        self.message: Text | None = None
        self.layout_name = ""

    def compose(self) -> ComposeResult:
        yield Static(id="board")

    def show(self, puzzle: Puzzle, segment: Segment | None, message: Text | None = None
             ) -> None:
        """Draw `segment` of `puzzle` (the bare input when None); `message` replaces it."""
        self.puzzle, self.segment, self.message = puzzle, segment, message
        self._draw()

    def cycle_zoom(self) -> str:
        """auto -> each layout -> auto; returns the new setting's name."""
        count = len(layouts(self.puzzle, None, self.latent)) if self.puzzle else 1
        self.zoom = 0 if self.zoom is None else (self.zoom + 1 if self.zoom + 1 < count else None)
        return "auto" if self.zoom is None else self.layout_name

    def watch_zoom(self) -> None:
        self._draw()

    def watch_latent(self) -> None:
        self.zoom = None  # the two views have different layouts
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if self.puzzle is None or not self.is_mounted:
            return
        board = self.query_one("#board", Static)
        if self.message is not None:
            board.update(self.message)
            return
        options = layouts(self.puzzle, self.segment, self.latent)
        if self.zoom is not None:
            self.layout_name, paint = options[min(self.zoom, len(options) - 1)]
            lines = paint()
        else:
            self.layout_name, lines = self._first_fitting(options)
        board.update(Text("\n").join(lines))
        self.frame.border_subtitle = (f"{self.layout_name} · "
                                      f"{'auto' if self.zoom is None else 'z'}")

    def _first_fitting(self, options: list[Layout]) -> tuple[str, Lines]:
        width, height = self.size.width, self.size.height
        for name, paint in options:
            lines = paint()
            if len(lines) <= height and max(line.cell_len for line in lines) <= width:
                return name, lines
        return name, lines  # the most compact one, scrolled


__all__ = ["BAD", "CHANGED_BG", "CONFIDENCE", "GIVEN", "WRONG", "BoardView", "Legend",
           "confidence_colour", "layouts", "legend"]

