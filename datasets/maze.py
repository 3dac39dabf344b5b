"""Mazes: parse, render, encode, decode, verify and augment grids of `# SGo` cells.

Characters: `#` wall, ` ` open, `S` start, `G` goal, `o` path. Tokens follow the original
release: 0 = pad, then `# SGo` -> 1..5. A puzzle is the maze without `o`; its answer marks
one shortest S-G path with `o`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from hrm.datasets.dihedral import dihedral_transform, inverse_dihedral_transform
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.textio import (
    describe_char,
    iter_csv_records,
    looks_binary,
    parse_all,
    prepend,
)

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = range(5)  # cell codes = index in CHARSET
MAX_SIZE = 64  # the largest maze read; fixed-size models take up to their canvas
CANVAS = 30


@dataclass
class MazePuzzle:
    """A maze as read from user input (cell codes 0..4); `solution` when it carried one."""

    grid: np.ndarray
    solution: np.ndarray | None = None
    source: str = "<input>"
    line: int | None = None
    rating: int | None = None
    layout: str = "grid"  # "grid" (one row per line) or "line" (one maze per line)
    extra: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.grid.shape[0]), int(self.grid.shape[1]))

    @property
    def location(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"


# --------------------------------------------------------------------------- parsing

_CHAR_TO_CODE = {ch: code for code, ch in enumerate(CHARSET)}


def _to_codes(
    rows: list[str], source: str, line: int, allow_path: bool, one_line: bool = False
) -> np.ndarray:
    codes = np.empty((len(rows), len(rows[0])), dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            code = _CHAR_TO_CODE.get(ch)
            if code is None or (code == PATH and not allow_path):
                shown = describe_char(ch)
                allowed = "'#', ' ', 'S', 'G'" + (", 'o'" if allow_path else "")
                where = f"position {r * len(row) + c + 1}" if one_line else f"column {c + 1}"
                raise PuzzleParseError(
                    f"{shown} at {where} is not a maze cell (allowed: {allowed})",
                    source,
                    line if one_line else line + r,
                )
            codes[r, c] = code
    return codes


def _check_maze(grid: np.ndarray, source: str, line: int | None) -> None:
    h, w = grid.shape
    if h > MAX_SIZE or w > MAX_SIZE:
        raise PuzzleParseError(f"maze is {h}x{w}, larger than {MAX_SIZE}x{MAX_SIZE}", source, line)
    for code, name in ((START, "S (start)"), (GOAL, "G (goal)")):
        found = np.argwhere(grid == code)
        if len(found) != 1:
            at = ", ".join(f"row {r + 1} column {c + 1}" for r, c in found[:3])
            where = f" ({at}{', ...' if len(found) > 3 else ''})" if len(found) else ""
            raise PuzzleParseError(
                f"a maze needs exactly one {name}, found {len(found)}{where}", source, line
            )


def _even_rows(rows: list[str], source: str, line: int) -> list[str]:
    """Rows of one length. Editors strip trailing spaces, which are open cells, so the short
    rows of a maze that pads out to a square get them back; other ragged rows are an error,
    because nothing says how wide they were meant to be."""
    width = max(len(r) for r in rows)
    if all(len(r) == width for r in rows):
        return rows
    if len(rows) == width:
        return [r.ljust(width) for r in rows]
    lengths = [len(r) for r in rows]
    usual = max(lengths, key=lengths.count)
    odd = next(i for i, n in enumerate(lengths) if n != usual)
    raise PuzzleParseError(
        f"row {odd + 1} has {lengths[odd]} cells where the maze's rows have {usual} "
        "(rows of a maze that is not square must be the same length)",
        source,
        line + odd,
    )


def _puzzle_from_rows(rows: list[str], source: str, line: int, layout: str) -> MazePuzzle:
    rows = _even_rows(rows, source, line)
    codes = _to_codes(rows, source, line, allow_path=True, one_line=layout == "line")
    _check_maze(codes, source, line)
    puzzle = MazePuzzle(
        np.where(codes == PATH, OPEN, codes).astype(np.uint8),
        source=source,
        line=line,
        layout=layout,
    )
    if np.any(codes == PATH):
        puzzle.solution = codes
        if not verify(puzzle.grid, codes):
            raise PuzzleParseError(
                "the path marked with 'o' is not a shortest path from S to G", source, line
            )
    return puzzle


def _one_line_rows(text: str, source: str, line: int) -> list[str]:
    side = math.isqrt(len(text))
    if side * side != len(text) or side == 0:
        raise PuzzleParseError(
            f"a one-line maze must have a square number of cells, found {len(text)}", source, line
        )
    return [text[i : i + side] for i in range(0, len(text), side)]


def _parse_csv(
    lines: Iterable[tuple[int, str]], source: str
) -> Iterator[MazePuzzle | PuzzleParseError]:
    return iter_csv_records(lines, source, _maze_from_record)


def _record_rows(text: str, width: str, source: str, line: int) -> list[str]:
    """A CSV maze's rows: `width` cells each when the record gives one (any shape), else
    a square."""
    if not width:
        return _one_line_rows(text, source, line)
    if not width.isdigit() or int(width) == 0:
        raise PuzzleParseError(f"width {width!r} is not a positive whole number", source, line)
    cols = int(width)
    if len(text) % cols:
        raise PuzzleParseError(
            f"{len(text)} cells do not make whole rows of width {cols}", source, line
        )
    return [text[i : i + cols] for i in range(0, len(text), cols)]


def _maze_from_record(record: dict[str, str], source: str, line: int) -> MazePuzzle:
    question = record.get("question", "")
    # Optional columns: `width` (rows are that long) or `side` (a square, checked).
    width = (record.get("width") or record.get("side") or "").strip()
    rows = _record_rows(question, width, source, line)
    if record.get("side") and not record.get("width") and len(rows) != len(rows[0]):
        raise PuzzleParseError(
            f"side {width} does not fit {len(question)} cells ({len(rows)} rows)", source, line
        )
    puzzle = _puzzle_from_rows(rows, source, line, "line")
    answer = record.get("answer") or ""
    if answer:
        if len(answer) != len(question):
            raise PuzzleParseError("answer and question differ in length", source, line)
        rows = _record_rows(answer, width, source, line)
        codes = _to_codes(rows, source, line, allow_path=True, one_line=True)
        if not verify(puzzle.grid, codes):
            raise PuzzleParseError("the answer is not a shortest path from S to G", source, line)
        puzzle.solution = codes
    if (record.get("rating") or "").strip().isdigit():
        puzzle.rating = int(record["rating"])
    return puzzle


def _parse_blocks(
    lines: Iterable[tuple[int, str]], source: str
) -> Iterator[MazePuzzle | PuzzleParseError]:
    """Grids separated by empty lines; a block of square-length lines that each hold one S
    and one G is read as one maze per line. A line of spaces is a row of open cells, not a
    separator."""
    block: list[str] = []
    start = 0

    def flush() -> Iterator[MazePuzzle | PuzzleParseError]:
        if _is_one_per_line(block):
            for offset, text in enumerate(block):
                try:
                    yield _puzzle_from_rows(
                        _one_line_rows(text, source, start + offset),
                        source,
                        start + offset,
                        "line",
                    )
                except PuzzleParseError as exc:
                    yield exc
        else:
            try:
                yield _puzzle_from_rows(block, source, start, "grid")
            except PuzzleParseError as exc:
                yield exc

    for number, text in lines:
        if not text:
            if block:
                yield from flush()
                block = []
            continue
        if not block and _is_long_one_line_maze(text):
            # This line is a whole maze: answer it now instead of waiting for the block to
            # end (a pipe keeps streaming).
            try:
                yield _puzzle_from_rows(
                    _one_line_rows(text, source, number), source, number, "line"
                )
            except PuzzleParseError as exc:
                yield exc
            continue
        if not block:
            start = number
        block.append(text)
    if block:
        yield from flush()


def _is_long_one_line_maze(text: str) -> bool:
    side = math.isqrt(len(text))
    if side * side != len(text) or len(text) <= CANVAS:
        return False
    # Grid rows are at most MAX_SIZE wide: a longer line is a whole maze; a row of 36, 49
    # or 64 cells is one only if it holds the one S and the one G a maze has.
    return len(text) > MAX_SIZE or (text.count("S") == 1 and text.count("G") == 1)


def _is_one_per_line(block: list[str]) -> bool:
    if len(block) == 1:
        return True

    def one_maze(text: str) -> bool:
        side = math.isqrt(len(text))
        return (
            side > 1 and side * side == len(text) and text.count("S") == 1 and text.count("G") == 1
        )

    return len(block) != len(block[0]) and all(one_maze(t) for t in block)


def iter_puzzles(
    lines: Iterable[str], source: str = "<input>"
) -> Iterator[MazePuzzle | PuzzleParseError]:
    """Read mazes lazily; bad ones come out as error objects.

    Formats: grids of `# SG` rows separated by blank lines (an `o` path is read as the
    answer), one maze per line (n*n characters; leading and trailing spaces are open
    cells), and the published CSV (`source,question,answer,rating`, with an optional
    `width` column for mazes that are not square, or `side`).
    """
    numbered = ((n, t.rstrip("\r\n")) for n, t in enumerate(lines, start=1))
    for number, text in numbered:
        if not text:
            continue
        if looks_binary(text):
            yield PuzzleParseError("binary data, not a text maze file", source, number)
            return
        rest = prepend((number, text), numbered)
        if text.lower().startswith(("source,", "question,")):
            yield from _parse_csv(rest, source)
        else:
            yield from _parse_blocks(rest, source)
        return
    yield PuzzleParseError("no maze found (the input is empty)", source)


def parse(text: str | bytes, source: str = "<input>") -> list[MazePuzzle]:
    """Parse a whole text; raise PuzzleParseError at the first bad maze."""
    return parse_all(text, source, iter_puzzles)


# --------------------------------------------------------------------------- rendering


def format_line(grid: np.ndarray) -> str:
    return "".join(CHARSET[v] for v in grid.reshape(-1))


def format_grid(grid: np.ndarray) -> str:
    return "\n".join("".join(CHARSET[v] for v in row) for row in grid)


_RICH_CELLS = {
    WALL: ("██", "grey50"),
    OPEN: ("  ", ""),
    START: ("S ", "bold black on green"),
    GOAL: ("G ", "bold black on red"),
    PATH: ("··", "bold yellow"),
}


def render_rich(grid: np.ndarray, bad_cells: np.ndarray | None = None):
    """A rich Text of the maze, two characters per cell so it looks square."""
    from rich.text import Text

    text = Text()
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            glyph, style = _RICH_CELLS[int(value)]
            if bad_cells is not None and bad_cells[r, c]:
                style = "bold white on red"
            text.append(glyph, style=style)
        if r < grid.shape[0] - 1:
            text.append("\n")
    return text


# --------------------------------------------------------------------------- tokens

VOCAB_SIZE = len(CHARSET) + 1


def encode(grid: np.ndarray, canvas: int | None = None) -> np.ndarray:
    """Cells -> tokens (code + 1). With `canvas`, the maze sits in the top-left corner of a
    canvas x canvas grid of walls, so a smaller maze runs on a model trained at that size."""
    if canvas is None:
        return grid.reshape(-1).astype(np.uint8) + 1
    h, w = grid.shape
    if h > canvas or w > canvas:
        raise ValueError(f"a {h}x{w} maze does not fit a {canvas}x{canvas} canvas")
    full = np.full((canvas, canvas), WALL, dtype=np.uint8)
    full[:h, :w] = grid
    return full.reshape(-1) + 1


def decode(tokens: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Tokens -> cells; pad (0) decodes to a wall. `shape` crops a canvas back."""
    tokens = np.asarray(tokens).reshape(-1).astype(np.int64)
    side = math.isqrt(tokens.size)
    codes = np.where((tokens >= 1) & (tokens <= len(CHARSET)), tokens - 1, WALL)
    grid = codes.astype(np.uint8).reshape(side, side)
    if shape is not None:
        grid = grid[: shape[0], : shape[1]]
    return grid


# --------------------------------------------------------------------------- rules


def distances(grid: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """BFS distance (in moves) from `origin` through non-wall cells; -1 where unreachable."""
    # Flat Python lists: indexing numpy scalars in this loop costs several times more, and
    # the generator runs it twice per attempt.
    h, w = grid.shape
    open_cells = (grid != WALL).ravel().tolist()
    dist = [-1] * (h * w)
    first = int(origin[0]) * w + int(origin[1])
    dist[first] = 0
    queue = deque([first])
    while queue:
        i = queue.popleft()
        d = dist[i] + 1
        c = i % w
        for j, inside in ((i - w, i >= w), (i + w, i < (h - 1) * w), (i - 1, c > 0),
                          (i + 1, c < w - 1)):
            if inside and dist[j] < 0 and open_cells[j]:
                dist[j] = d
                queue.append(j)
    return np.array(dist, dtype=np.int32).reshape(h, w)


def _locate(grid: np.ndarray, code: int) -> tuple[int, int]:
    r, c = np.argwhere(grid == code)[0]
    return int(r), int(c)


def shortest_path_length(grid: np.ndarray) -> int | None:
    """Moves on a shortest S-G path, or None when G cannot be reached."""
    dist = distances(grid, _locate(grid, START))
    d = int(dist[_locate(grid, GOAL)])
    return d if d >= 0 else None


def solve(grid: np.ndarray) -> np.ndarray | None:
    """The maze with one shortest S-G path marked `o` (BFS), or None if unsolvable."""
    start, goal = _locate(grid, START), _locate(grid, GOAL)
    dist = distances(grid, goal)
    if dist[start] < 0:
        return None
    answer = grid.copy()
    r, c = start
    h, w = grid.shape
    while dist[r, c] > 1:
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < h and 0 <= nc < w and dist[nr, nc] == dist[r, c] - 1:
                r, c = nr, nc
                break
        answer[r, c] = PATH
    return answer


def path_breaks(puzzle: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Cells where `candidate` breaks the rules: changed walls/S/G, path on a wall, or path
    cells that are not on a connected S-G chain (fewer or more than 2 path neighbours)."""
    bad = np.zeros(puzzle.shape, dtype=bool)
    if candidate.shape != puzzle.shape:
        return ~bad
    fixed = (puzzle == WALL) | (puzzle == START) | (puzzle == GOAL)
    bad |= fixed & (candidate != puzzle)
    on_path = (candidate == PATH) | (candidate == START) | (candidate == GOAL)
    padded = np.pad(on_path, 1)
    neighbours = (
        padded[:-2, 1:-1].astype(int) + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    )
    bad |= (candidate == PATH) & (neighbours != 2)
    bad |= (candidate == PATH) & (puzzle != OPEN)
    return bad


def verify(puzzle: np.ndarray, candidate: np.ndarray) -> bool:
    """True if `candidate` is the maze with a shortest S-G path marked, and nothing else."""
    if candidate is None or candidate.shape != puzzle.shape:
        return False
    marked = candidate == PATH
    unchanged = np.where(marked, OPEN, candidate) == puzzle
    if not np.all(unchanged) or np.any(marked & (puzzle != OPEN)):
        return False
    shortest = shortest_path_length(puzzle)
    if shortest is None:
        return False
    # Walk S -> G on marked cells only: reaching G with exactly shortest - 1 marked cells
    # means the marks are one shortest path and nothing else.
    walkable = np.where(marked | (puzzle == START) | (puzzle == GOAL), OPEN, WALL)
    along = distances(walkable, _locate(puzzle, START))[_locate(puzzle, GOAL)]
    return bool(along == shortest and np.count_nonzero(marked) == shortest - 1)


def path_cells(grid_with_path: np.ndarray) -> int:
    return int(np.count_nonzero(grid_with_path == PATH))


# --------------------------------------------------------------------------- augmentation


def augment(
    grid: np.ndarray, solution: np.ndarray | None, tid: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """One of the 8 dihedral transforms, applied to the maze and its answer alike."""
    out = dihedral_transform(grid, tid).copy()
    return out, None if solution is None else dihedral_transform(solution, tid).copy()


def invert(grid: np.ndarray, tid: int) -> np.ndarray:
    return inverse_dihedral_transform(grid, tid).copy()
