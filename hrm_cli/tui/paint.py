"""What every board painter shares: the cell marks and colours, confidence, and ways to
lay grids out (half blocks, blocks side by side).

What the cells show (also in the legend and the help screen):
- givens bold; predicted cells coloured by confidence (max softmax probability);
- cells that changed since the previous segment on a blue background;
- cells that break a rule (sudoku conflicts, maze path breaks) white on red;
- cells that differ from the answer the input carried underlined (ARC: crossed).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from hrm_cli.tui.trace import Segment

# (lowest probability, colour), most confident first.
CONFIDENCE = ((0.9, "#5fd787"), (0.7, "#d7d75f"), (0.5, "#ffaf5f"), (0.0, "#ff5f5f"))
GIVEN = "bold #ffffff"
CHANGED_BG = "#1f4f8f"
BAD = "bold #ffffff on #c00000"
WRONG = "underline"

Lines = list[Text]
Layout = tuple[str, Callable[[], Lines]]  # (name shown in the border, painter)


def confidence_colour(p: float) -> str:
    return next(colour for floor, colour in CONFIDENCE if p >= floor)


def marks(segment: Segment | None, r: int, c: int, style: str) -> str:
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


def cell_confidence(segment: Segment | None, r: int, c: int) -> float:
    if segment is None or segment.confidence is None:
        return 1.0
    return float(segment.confidence[r, c])


def confidence_item() -> Text:
    """The legend entry of the confidence colours."""
    return Text.assemble(*((("■", colour) for _, colour in CONFIDENCE)), " confidence high→low")


def changed_item() -> Text:
    """The legend entry of a changed cell."""
    return Text.assemble(("  ", f"on {CHANGED_BG}"), " changed")


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
