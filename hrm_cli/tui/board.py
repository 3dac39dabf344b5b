"""The board: the selected puzzle's answer at the current segment.

Painters turn (puzzle, segment) into lines of rich Text, one function per task and zoom
level; `BoardView` picks the most legible level that fits its viewport (or the one the
user chose with `z`) and scrolls when even the smallest does not fit.

What the cells show (also in the legend and the help screen):
- givens bold; predicted cells coloured by confidence (max softmax probability);
- cells that changed since the previous segment on a blue background;
- cells that break a rule (sudoku conflicts, maze path breaks) white on red;
- cells that differ from the answer the input carried underlined (ARC: crossed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from hrm.datasets import arc, maze, sudoku
from hrm.datasets.tasks import Puzzle
from hrm_cli.tui.trace import Segment

# (lowest probability, colour), most confident first.
CONFIDENCE = ((0.9, "#5fd787"), (0.7, "#d7d75f"), (0.5, "#ffaf5f"), (0.0, "#ff5f5f"))
GIVEN = "bold #ffffff"
CHANGED_BG = "#1f4f8f"
BAD = "bold #ffffff on #c00000"
WRONG = "underline"
BOX_BG = "#262626"  # alternate sudoku boxes in the compact layout, which has no rules
ARC_SHADES = ((0.9, "█"), (0.7, "▓"), (0.5, "▒"), (0.0, "░"))  # ARC confidence: ink density
ARC_BG = "#303030"

Lines = list[Text]
Layout = tuple[str, Callable[[], Lines]]  # (name shown in the border, painter)


def confidence_colour(p: float) -> str:
    return next(colour for floor, colour in CONFIDENCE if p >= floor)


def _marks(segment: Segment | None, r: int, c: int, style: str) -> str:
    """Add the changed / wrong / rule-break marks of cell (r, c) to its base style."""
    if segment is None:
        return style
    if segment.bad is not None and segment.bad[r, c]:
        style = f"{style} {BAD}"
    elif segment.changed is not None and segment.changed[r, c]:
        style = f"{style} on {CHANGED_BG}"
    if segment.wrong is not None and segment.wrong[r, c]:
        style = f"{style} {WRONG}"
    return style


def _confidence(segment: Segment | None, r: int, c: int) -> float:
    if segment is None or segment.confidence is None:
        return 1.0
    return float(segment.confidence[r, c])


# --------------------------------------------------------------------------- sudoku


def sudoku_lines(puzzle: Puzzle, segment: Segment | None, size: str) -> Lines:
    """`wide`: spaced digits and box rules (as `hrm solve` prints); `large`: tiles of 5x3
    characters whose background carries the marks; `compact`: one character per cell,
    boxes told apart by shading (a 16x16 board in 16x16 characters)."""
    grid = puzzle.grid if segment is None or segment.answer is None else segment.answer
    n = grid.shape[0]
    box = math.isqrt(n)
    givens = puzzle.grid > 0
    cell_w, cell_h = (5, 3) if size == "large" else (1, 1)
    gap, bar = {"compact": ("", ""), "wide": (" ", " │ "), "large": ("  ", "  │  ")}[size]
    box_w = box * cell_w + (box - 1) * len(gap)
    joint = bar.replace(" ", "─").replace("│", "┼")
    rule = Text(joint.join("─" * box_w for _ in range(box)), style="dim")
    spacer = Text(bar.join(" " * box_w for _ in range(box)), style="dim")
    lines: Lines = []
    for r in range(n):
        if size != "compact" and r and r % box == 0:
            lines.append(rule)
        elif size == "large" and r:
            lines.append(spacer)  # tiles apart, as the gap between columns sets them
        rows = [Text() for _ in range(cell_h)]
        for c in range(n):
            if c:
                for row in rows:
                    row.append(bar if c % box == 0 else gap, style="dim")
            value = int(grid[r, c])
            if givens[r, c]:
                style = GIVEN
            elif value == 0 or segment is None:
                style = "dim"
            else:
                style = confidence_colour(_confidence(segment, r, c))
            if size == "large" or (size == "compact" and (r // box + c // box) % 2):
                style = f"{style} on {BOX_BG}"  # tiles; or every other box when compact
            style = _marks(segment, r, c, style)
            pad = Style.parse(style).background_style  # the block's background, no underline
            left = (cell_w - 1) // 2
            for i, row in enumerate(rows):
                if i == cell_h // 2:
                    row.append(" " * left, style=pad)
                    row.append(sudoku.cell_char(value), style=style)
                    row.append(" " * (cell_w - 1 - left), style=pad)
                else:
                    row.append(" " * cell_w, style=pad)
        lines.extend(rows)
    return lines


# --------------------------------------------------------------------------- maze

_MAZE_CELLS = {  # code -> (glyph, style); the glyph is repeated to the cell width
    maze.WALL: ("█", "#6c6c6c"),
    maze.OPEN: (" ", ""),
    maze.START: ("S", "bold #000000 on #5fd75f"),
    maze.GOAL: ("G", "bold #000000 on #5fafff"),
}
_MAZE_PIXELS = {maze.WALL: "#6c6c6c", maze.OPEN: "#000000", maze.START: "#5fd75f",
                maze.GOAL: "#5fafff"}


def _maze_grid(puzzle: Puzzle, segment: Segment | None) -> np.ndarray:
    return puzzle.grid if segment is None or segment.answer is None else segment.answer


def maze_lines(puzzle: Puzzle, segment: Segment | None, width: int) -> Lines:
    """`width` characters per cell. Path cells are dots coloured by confidence; an open
    cell the model nearly made path (under 50% sure it is open) gets a faint dot."""
    grid = _maze_grid(puzzle, segment)
    lines: Lines = []
    for r, row in enumerate(grid):
        line = Text()
        for c, value in enumerate(row):
            value = int(value)
            p = _confidence(segment, r, c)
            if value == maze.PATH:
                glyph, style = "•" * width, f"bold {confidence_colour(p)}"
            elif value == maze.OPEN and p < 0.5:
                glyph, style = "·" * width, confidence_colour(p)
            else:
                char, style = _MAZE_CELLS[value]
                # S and G keep one letter; a wide cell pads it, walls fill it.
                glyph = char * width if value in (maze.WALL, maze.OPEN) else char.ljust(width)
            line.append(glyph, style=_marks(segment, r, c, style))
        lines.append(line)
    return lines


def _maze_pixel(grid: np.ndarray, segment: Segment | None, r: int, c: int) -> str:
    if segment is not None and segment.bad is not None and segment.bad[r, c]:
        return "#c00000"
    value = int(grid[r, c])
    if value == maze.PATH:
        return confidence_colour(_confidence(segment, r, c))
    if segment is not None and segment.wrong is not None and segment.wrong[r, c]:
        return "#875faf"  # on the known path, not on the model's
    return _MAZE_PIXELS[value]


def maze_fit_lines(puzzle: Puzzle, segment: Segment | None) -> Lines:
    grid = _maze_grid(puzzle, segment)
    return half_blocks(grid.shape, lambda r, c: _maze_pixel(grid, segment, r, c))


def half_blocks(shape: tuple[int, int], colour: Callable[[int, int], str]) -> Lines:
    """Two cells per character ("▀": top cell in the foreground, bottom in the background),
    so a 30x30 maze fits in 30x15 characters of an 80x24 terminal."""
    h, w = shape
    lines: Lines = []
    for r in range(0, h, 2):
        line = Text()
        for c in range(w):
            bottom = f" on {colour(r + 1, c)}" if r + 1 < h else ""
            line.append("▀", style=f"{colour(r, c)}{bottom}")
        lines.append(line)
    return lines


# --------------------------------------------------------------------------- ARC


def _ink(colour: str) -> str:
    """Black or white, whichever reads on `colour`."""
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else "#ffffff"


def arc_grid_lines(grid: np.ndarray, width: int, segment: Segment | None = None) -> Lines:
    """An ARC grid in its palette, `width` characters per cell (4: two lines high, for small
    grids). With a segment: wrong cells crossed (╳), changed cells dotted (•), and lower
    confidence drawn with lighter shading (█ ▓ ▒ ░)."""
    lines: Lines = []
    for r, row in enumerate(grid):
        line = Text()
        for c, value in enumerate(row):
            colour = arc.PALETTE[int(value)]
            if segment is not None and segment.bad is not None and segment.bad[r, c]:
                line.append("╳" * width, style=f"bold {_ink(colour)} on {colour}")
            elif segment is not None and segment.changed is not None and segment.changed[r, c]:
                line.append("•" * width, style=f"bold {_ink(colour)} on {colour}")
            else:
                p = _confidence(segment, r, c)
                shade = next(char for floor, char in ARC_SHADES if p >= floor)
                line.append(shade * width, style=f"{colour} on {ARC_BG}")
        lines.extend([line] * max(1, width // 2))  # cells stay about square
    return lines


def arc_fit_lines(grid: np.ndarray) -> Lines:
    return half_blocks(grid.shape, lambda r, c: arc.PALETTE[int(grid[r, c])])


def arc_lines(puzzle: Puzzle, segment: Segment | None, width: int | None) -> Lines:
    """The test input, the prediction and the expected output side by side; `width` None
    draws half-height blocks (no marks)."""
    def grid_lines(grid: np.ndarray, seg: Segment | None = None) -> Lines:
        return arc_fit_lines(grid) if width is None else arc_grid_lines(grid, width, seg)

    blocks: list[tuple[str, Lines]] = [("input", grid_lines(puzzle.grid))]
    if segment is None:
        blocks.append(("prediction", [Text("(waiting)", style="dim")]))
    elif segment.answer is None:
        blocks.append(("prediction", [Text("(no grid)", style="bold red")]))
    else:
        blocks.append(("prediction", grid_lines(segment.answer, segment)))
    if puzzle.expected is not None:
        blocks.append(("expected", grid_lines(puzzle.expected)))
    return side_by_side(blocks)


def side_by_side(blocks: list[tuple[str, Lines]], gap: int = 2) -> Lines:
    """Blocks of lines next to each other, each under its caption."""
    widths = [max([len(caption), *(line.cell_len for line in lines)]) for caption, lines in blocks]
    height = max(len(lines) for _, lines in blocks)
    rows: Lines = [Text(), *(Text() for _ in range(height))]
    for b, ((caption, lines), w) in enumerate(zip(blocks, widths, strict=True)):
        pad = " " * gap if b else ""
        rows[0].append(pad + caption.ljust(w), style="dim")
        for i in range(height):
            cell = lines[i] if i < len(lines) else Text()
            rows[i + 1].append(pad)
            rows[i + 1].append_text(cell)
            rows[i + 1].append(" " * (w - cell.cell_len))
    return rows


# --------------------------------------------------------------------------- layouts


def layouts(puzzle: Puzzle, segment: Segment | None) -> list[Layout]:
    """The task's layouts, most legible first; the last is the most compact."""
    if puzzle.task == "sudoku":
        return [(size, partial(sudoku_lines, puzzle, segment, size))
                for size in ("large", "wide", "compact")]
    if puzzle.task == "maze":
        return [("2 chars/cell", lambda: maze_lines(puzzle, segment, 2)),
                ("1 char/cell", lambda: maze_lines(puzzle, segment, 1)),
                ("2 cells/char", lambda: maze_fit_lines(puzzle, segment))]
    return [("4 chars/cell", lambda: arc_lines(puzzle, segment, 4)),
            ("2 chars/cell", lambda: arc_lines(puzzle, segment, 2)),
            ("1 char/cell", lambda: arc_lines(puzzle, segment, 1)),
            ("2 cells/char", lambda: arc_lines(puzzle, segment, None))]


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


def legend(puzzle: Puzzle) -> Legend:
    """The board's marks for this task, explained: one line, or more when narrow."""
    confidence = Text.assemble(*((("■", colour) for _, colour in CONFIDENCE)),
                               " confidence high→low")
    changed = Text.assemble(("  ", f"on {CHANGED_BG}"), " changed")
    if puzzle.task == "arc":
        shades = "".join(char for _, char in ARC_SHADES)
        items = [Text.assemble((shades, arc.PALETTE[1]), " confidence"),
                 Text.assemble(("•", "bold"), " changed")]
        if puzzle.expected is not None:
            items.append(Text.assemble(("╳", "bold"), " ≠ expected"))
    elif puzzle.task == "sudoku":
        items = [Text.assemble(("5", GIVEN), " given"), confidence, changed,
                 Text.assemble(("  ", BAD), " rule broken")]
        if puzzle.expected is not None:
            items.append(Text.assemble(("5", WRONG), " ≠ known answer"))
    else:
        items = [Text.assemble(("•", "bold"), " path"), confidence, changed,
                 Text.assemble(("  ", BAD), " path broken")]
        if puzzle.expected is not None:
            items.append(Text.assemble(("  ", WRONG), " ≠ known path"))
    return Legend(items)


# --------------------------------------------------------------------------- widget


class BoardView(ScrollableContainer, can_focus=True):
    """Scrollable board of one puzzle at one segment, re-laid out when resized.

    `zoom` None picks the first layout that fits; an index forces one (key `z`).
    """

    DEFAULT_CSS = """
    BoardView { overflow: auto auto; align: center middle; }
    BoardView > #board { width: auto; height: auto; }
    """

    zoom: reactive[int | None] = reactive(None)

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
        count = len(layouts(self.puzzle, None)) if self.puzzle else 1
        self.zoom = 0 if self.zoom is None else (self.zoom + 1 if self.zoom + 1 < count else None)
        return "auto" if self.zoom is None else self.layout_name

    def watch_zoom(self) -> None:
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
        options = layouts(self.puzzle, self.segment)
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


__all__ = ["CONFIDENCE", "BoardView", "Legend", "confidence_colour", "layouts", "legend"]

