"""The ARC board: input, prediction and expected output side by side, in the palette."""

from __future__ import annotations

import numpy as np
from rich.text import Text

from hrm.datasets import arc
from hrm.datasets.tasks import Puzzle
from hrm_cli.tui.paint import Layout, Lines, cell_confidence, half_blocks, side_by_side
from hrm_cli.tui.trace import Segment

ARC_SHADES = ((0.9, "█"), (0.7, "▓"), (0.5, "▒"), (0.0, "░"))  # ARC confidence: ink density
ARC_BG = "#303030"



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
                p = cell_confidence(segment, r, c)
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


class ArcBoard:
    def layouts(self, puzzle: Puzzle, segment: Segment | None) -> list[Layout]:
        return [("4 chars/cell", lambda: arc_lines(puzzle, segment, 4)),
                ("2 chars/cell", lambda: arc_lines(puzzle, segment, 2)),
                ("1 char/cell", lambda: arc_lines(puzzle, segment, 1)),
                ("2 cells/char", lambda: arc_lines(puzzle, segment, None))]

    def legend(self, puzzle: Puzzle) -> list[Text]:
        shades = "".join(char for _, char in ARC_SHADES)
        items = [Text.assemble((shades, arc.PALETTE[1]), " confidence"),
                 Text.assemble(("•", "bold"), " changed")]
        if puzzle.expected is not None:
            items.append(Text.assemble(("╳", "bold"), " ≠ expected"))
        return items


BOARD = ArcBoard()
