"""Sudoku: parse, render, encode, decode, verify and augment n x n boards (n = 4, 9, 16).

Boards are numpy uint8 arrays with 0 for a blank and 1..n for digits. Digits above 9 are
written A-G (10-16). Tokens follow the original release: 0 = pad, 1 = blank, d + 1 = digit d.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.textio import (
    describe_char,
    iter_csv_records,
    looks_binary,
    parse_all,
    prepend,
)

SIZES = (4, 9, 16)
BLANK_CHARS = ".0_"
SEPARATOR_CHARS = " \t|-+="
DIGIT_CHARS = "123456789ABCDEFG"
CSV_HEADER = ("source", "question", "answer", "rating")


@dataclass
class SudokuPuzzle:
    """A puzzle as read from user input; `solution` is set when the input carried one."""

    grid: np.ndarray
    solution: np.ndarray | None = None
    source: str = "<input>"
    line: int | None = None
    rating: int | None = None
    layout: str = "line"  # "line" or "grid": how the input wrote it, reused for answers
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.grid.shape[0])

    @property
    def location(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"


# --------------------------------------------------------------------------- parsing


def _cell_value(ch: str, n: int) -> int | None:
    if ch in BLANK_CHARS:
        return 0
    value = DIGIT_CHARS.find(ch.upper()) + 1
    return value if 0 < value <= n else None


def _cells_to_grid(cells: str, n: int, source: str, line: int | None, what: str) -> np.ndarray:
    values = []
    for ch in cells:
        value = _cell_value(ch, n)
        if value is None:
            shown = describe_char(ch)
            allowed = f"1-{DIGIT_CHARS[n - 1]}" if n <= 9 else f"1-9, A-{DIGIT_CHARS[n - 1]}"
            raise PuzzleParseError(
                f"{what}: {shown} is not a {n}x{n} sudoku cell "
                f"(digits {allowed}; '.' or '0' for a blank)",
                source,
                line,
            )
        values.append(value)
    return np.array(values, dtype=np.uint8).reshape(n, n)


def _size_for_cell_count(count: int) -> int | None:
    for n in SIZES:
        if count == n * n:
            return n
    return None


def _strip_separators(text: str) -> str:
    return "".join(ch for ch in text if ch not in SEPARATOR_CHARS)


def check_givens(grid: np.ndarray, source: str = "<input>", line: int | None = None) -> None:
    """Raise PuzzleParseError if two givens clash in a row, column or box."""
    n = grid.shape[0]
    box = math.isqrt(n)
    units = [("row", i, grid[i, :]) for i in range(n)]
    units += [("column", i, grid[:, i]) for i in range(n)]
    units += [
        ("box", (r // box) * box + c // box, grid[r : r + box, c : c + box].ravel())
        for r in range(0, n, box)
        for c in range(0, n, box)
    ]
    for kind, index, cells in units:
        digits = cells[cells > 0]
        values, counts = np.unique(digits, return_counts=True)
        if np.any(counts > 1):
            digit = DIGIT_CHARS[int(values[counts > 1][0]) - 1]
            raise PuzzleParseError(
                f"the givens already clash: {digit} appears twice in {kind} {index + 1}",
                source,
                line,
            )


def _check_solution(puzzle: SudokuPuzzle) -> None:
    if puzzle.solution is None:
        return
    if not verify(puzzle.grid, puzzle.solution):
        raise PuzzleParseError(
            "the given answer is not a valid solution of this puzzle", puzzle.source, puzzle.line
        )


def _parse_line(text: str, source: str, line: int) -> SudokuPuzzle:
    cells = _strip_separators(text)
    n = _size_for_cell_count(len(cells))
    if n is None:
        raise PuzzleParseError(
            f"expected 16, 81 or 256 cells on a one-line puzzle, found {len(cells)}", source, line
        )
    grid = _cells_to_grid(cells, n, source, line, "puzzle")
    check_givens(grid, source, line)
    return SudokuPuzzle(grid, source=source, line=line, layout="line")


def _parse_csv(
    lines: Iterable[tuple[int, str]], source: str
) -> Iterator[SudokuPuzzle | PuzzleParseError]:
    return iter_csv_records(lines, source, _puzzle_from_record)


def _puzzle_from_record(record: dict[str, str], source: str, line: int) -> SudokuPuzzle:
    puzzle = _parse_line(record.get("question", ""), source, line)
    answer = _strip_separators(record.get("answer") or "")
    if answer:
        if len(answer) != puzzle.size**2:
            raise PuzzleParseError(
                f"answer has {len(answer)} cells, the question {puzzle.size**2}", source, line
            )
        puzzle.solution = _cells_to_grid(answer, puzzle.size, source, line, "answer")
        _check_solution(puzzle)
    rating = (record.get("rating") or "").strip()
    if rating:
        try:
            puzzle.rating = int(rating)
        except ValueError:
            raise PuzzleParseError(
                f"rating {rating!r} is not a whole number", source, line
            ) from None
    if record.get("source"):
        puzzle.extra["source"] = record["source"]
    return puzzle


def _grid_from_json(value: object, source: str, line: int | None, what: str) -> np.ndarray:
    if isinstance(value, str):
        cells = _strip_separators(value.replace("\n", ""))
        n = _size_for_cell_count(len(cells))
        if n is None:
            raise PuzzleParseError(
                f"{what} has {len(cells)} cells, expected 16, 81 or 256", source, line
            )
        return _cells_to_grid(cells, n, source, line, what)
    if isinstance(value, list) and value and all(isinstance(r, list) for r in value):
        n = len(value)
        if n not in SIZES or any(len(r) != n for r in value):
            raise PuzzleParseError(f"{what} must be a 4x4, 9x9 or 16x16 list of rows", source, line)
        flat = [c for r in value for c in r]
        if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= n for c in flat):
            raise PuzzleParseError(
                f"{what} cells must be whole numbers 0..{n} (0 = blank)", source, line
            )
        return np.array(flat, dtype=np.uint8).reshape(n, n)
    raise PuzzleParseError(f"{what} must be a string of cells or a list of rows", source, line)


def _parse_json(text: str, source: str) -> Iterator[SudokuPuzzle | PuzzleParseError]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield PuzzleParseError(f"invalid JSON: {exc.msg}", source, exc.lineno)
        return
    items = data if isinstance(data, list) and not _is_row_list(data) else [data]
    for index, item in enumerate(items):
        where = f"{source}[{index}]" if items is data else source
        try:
            if isinstance(item, dict):
                key = next((k for k in ("puzzle", "question", "grid", "input") if k in item), None)
                if key is None:
                    raise PuzzleParseError(
                        "JSON object needs a 'puzzle' (or 'question'/'grid') key", where
                    )
                grid = _grid_from_json(item[key], where, None, key)
                check_givens(grid, where)
                puzzle = SudokuPuzzle(grid, source=where, layout="line")
                answer_key = next((k for k in ("solution", "answer", "output") if k in item), None)
                if answer_key is not None and item[answer_key] is not None:
                    puzzle.solution = _grid_from_json(item[answer_key], where, None, answer_key)
                    if puzzle.solution.shape != grid.shape:
                        raise PuzzleParseError(f"{answer_key} and puzzle differ in size", where)
                    _check_solution(puzzle)
                if isinstance(item.get("rating"), int):
                    puzzle.rating = item["rating"]
            else:
                grid = _grid_from_json(item, where, None, "puzzle")
                check_givens(grid, where)
                puzzle = SudokuPuzzle(grid, source=where, layout="line")
            yield puzzle
        except PuzzleParseError as exc:
            yield exc


def _is_row_list(data) -> bool:
    return bool(data) and all(
        isinstance(r, list) and all(isinstance(c, int) for c in r) for r in data
    )


def _parse_text(
    lines: Iterable[tuple[int, str]], source: str
) -> Iterator[SudokuPuzzle | PuzzleParseError]:
    """One puzzle per line, or grids of n rows (separator-only and blank lines skipped)."""
    rows: list[str] = []
    first_row_line = 0
    for number, text in lines:
        cells = _strip_separators(text)
        if not cells:
            continue
        if not rows and _is_one_line_puzzle(cells):
            try:
                yield _parse_line(text, source, number)
            except PuzzleParseError as exc:
                yield exc
            continue
        if not rows:
            if len(cells) not in SIZES:
                yield PuzzleParseError(
                    f"expected a one-line puzzle of 16, 81 or 256 cells or a grid row of "
                    f"4, 9 or 16 cells, found {len(cells)} cells",
                    source,
                    number,
                )
                continue
            first_row_line = number
        elif len(cells) != len(rows[0]):
            yield PuzzleParseError(
                f"grid row {len(rows) + 1} has {len(cells)} cells, the first row {len(rows[0])}",
                source,
                number,
            )
            rows = []
            continue
        rows.append(cells)
        if len(rows) == len(rows[0]):
            try:
                yield _grid_puzzle(rows, source, first_row_line)
            except PuzzleParseError as exc:
                yield exc
            rows = []
    if rows:
        yield PuzzleParseError(
            f"grid ends after {len(rows)} of {len(rows[0])} rows", source, first_row_line
        )


def _is_one_line_puzzle(cells: str) -> bool:
    # 16 cells is a one-line 4x4 puzzle or a row of a 16x16 grid. A 16x16 row can only be
    # told apart by its digits: a row that holds only 4x4 cells is read as a 4x4 puzzle, and
    # so is a line that is no 16x16 row either, so its bad character is reported on it.
    if len(cells) == 16:
        return all(_cell_value(ch, 4) is not None for ch in cells) or \
            any(_cell_value(ch, 16) is None for ch in cells)
    return _size_for_cell_count(len(cells)) is not None


def _grid_puzzle(rows: list[str], source: str, line: int) -> SudokuPuzzle:
    n = len(rows)
    grid = _cells_to_grid("".join(rows), n, source, line, "grid")
    check_givens(grid, source, line)
    return SudokuPuzzle(grid, source=source, line=line, layout="grid")


def iter_puzzles(
    lines: Iterable[str], source: str = "<input>"
) -> Iterator[SudokuPuzzle | PuzzleParseError]:
    """Read puzzles lazily from lines of text; bad puzzles come out as error objects.

    Lines are consumed as they arrive (so a pipe is solved while it streams), except for
    JSON, which is read whole. Formats: one puzzle per line (`.` or `0` for blanks), grids
    of n lines (`|`, `-`, `+` and spaces ignored), the published CSV
    (`source,question,answer,rating`) and JSON (an object, or a list of objects/strings/
    row lists).
    """
    numbered = enumerate(lines, start=1)
    for number, text in numbered:
        if not text.strip():
            continue
        text = text.rstrip("\r\n")
        if looks_binary(text):
            yield PuzzleParseError("binary data, not a text puzzle file", source, number)
            return
        first = text.lstrip()
        if first.startswith(("{", "[")):
            rest = "\n".join([text, *(t.rstrip("\r\n") for _, t in numbered)])
            # Leading blank lines were skipped: pad them back so JSON line numbers match.
            yield from _parse_json("\n" * (number - 1) + rest.rstrip(), source)
            return
        chained = prepend((number, text), numbered)
        if first.lower().startswith(("source,", "question,", "puzzle,")) or "," in first:
            yield from _parse_csv(chained, source)
        else:
            yield from _parse_text(((n, t.rstrip("\r\n")) for n, t in chained), source)
        return
    yield PuzzleParseError("no puzzle found (the input is empty)", source)


def parse(text: str | bytes, source: str = "<input>") -> list[SudokuPuzzle]:
    """Parse a whole text; raise PuzzleParseError at the first bad puzzle."""
    return parse_all(text, source, iter_puzzles)


# --------------------------------------------------------------------------- rendering


def cell_char(value: int) -> str:
    return "." if value == 0 else DIGIT_CHARS[value - 1]


def format_line(grid: np.ndarray, blank: str = ".") -> str:
    """The one-line layout of the published CSV: n*n characters, row by row."""
    return "".join(blank if v == 0 else DIGIT_CHARS[v - 1] for v in grid.ravel())


def format_grid(grid: np.ndarray) -> str:
    """A human-readable grid with box separators, as people write puzzles by hand."""
    n = grid.shape[0]
    box = math.isqrt(n)
    lines = []
    rule = "-+-".join("-" * (2 * box - 1) for _ in range(box))
    for r in range(n):
        if r and r % box == 0:
            lines.append(rule)
        groups = [
            " ".join(cell_char(int(v)) for v in grid[r, c : c + box]) for c in range(0, n, box)
        ]
        lines.append(" | ".join(groups))
    return "\n".join(lines)


def render_rich(
    grid: np.ndarray,
    givens: np.ndarray | None = None,
    bad_cells: np.ndarray | None = None,
):
    """A rich Text of the board: givens bold, filled cells coloured, bad cells in red."""
    from rich.text import Text

    n = grid.shape[0]
    box = math.isqrt(n)
    text = Text()
    rule = "-+-".join("-" * (2 * box - 1) for _ in range(box))
    for r in range(n):
        if r and r % box == 0:
            text.append(rule + "\n", style="dim")
        for c in range(n):
            if c and c % box == 0:
                text.append(" | ", style="dim")
            elif c:
                text.append(" ")
            value = int(grid[r, c])
            if bad_cells is not None and bad_cells[r, c]:
                style = "bold white on red"
            elif givens is not None and givens[r, c]:
                style = "bold"
            elif value == 0:
                style = "dim"
            else:
                style = "cyan"
            text.append(cell_char(value), style=style)
        if r < n - 1:
            text.append("\n")
    return text


# --------------------------------------------------------------------------- tokens


def vocab_size(n: int = 9) -> int:
    return n + 2


def encode(grid: np.ndarray) -> np.ndarray:
    """Board -> tokens: blank 1, digit d -> d + 1 (0 stays free for padding)."""
    return grid.reshape(-1).astype(np.uint8) + 1


def decode(tokens: np.ndarray, n: int | None = None) -> np.ndarray:
    """Tokens -> board; tokens that are not digits (pad, blank) decode to 0 (blank)."""
    tokens = np.asarray(tokens).reshape(-1)
    n = n or math.isqrt(tokens.size)
    values = tokens.astype(np.int64) - 1
    values[(values < 0) | (values > n)] = 0
    return values.astype(np.uint8).reshape(n, n)


# --------------------------------------------------------------------------- rules


def conflicts(grid: np.ndarray) -> np.ndarray:
    """Boolean mask of filled cells that share their digit with a peer."""
    n = grid.shape[0]
    box = math.isqrt(n)
    bad = np.zeros(grid.shape, dtype=bool)
    for axis_view, index in ((grid, "row"), (grid.T, "col")):
        for i in range(n):
            line = axis_view[i]
            for digit in np.unique(line[line > 0]):
                if np.count_nonzero(line == digit) > 1:
                    if index == "row":
                        bad[i, line == digit] = True
                    else:
                        bad[line == digit, i] = True
    for r in range(0, n, box):
        for c in range(0, n, box):
            block = grid[r : r + box, c : c + box]
            for digit in np.unique(block[block > 0]):
                if np.count_nonzero(block == digit) > 1:
                    bad[r : r + box, c : c + box] |= block == digit
    return bad


def verify(puzzle: np.ndarray, candidate: np.ndarray) -> bool:
    """True if `candidate` is complete, follows the rules and keeps every given."""
    if candidate is None or candidate.shape != puzzle.shape:
        return False
    n = puzzle.shape[0]
    if np.any(candidate < 1) or np.any(candidate > n):
        return False
    givens = puzzle > 0
    if np.any(candidate[givens] != puzzle[givens]):
        return False
    box = math.isqrt(n)
    target = np.arange(1, n + 1)
    rows_ok = np.all(np.sort(candidate, axis=1) == target)
    cols_ok = np.all(target == np.sort(candidate, axis=0).T)
    boxes = candidate.reshape(box, box, box, box).transpose(0, 2, 1, 3).reshape(n, n)
    boxes_ok = np.all(np.sort(boxes, axis=1) == target)
    return bool(rows_ok and cols_ok and boxes_ok)


# --------------------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class SudokuTransform:
    """A validity-preserving relabelling: digits permuted, optional transpose, then rows
    (bands, and rows within bands) and columns (stacks, and columns within stacks) shuffled.
    """

    digit_map: np.ndarray  # (n + 1,), digit_map[0] == 0
    transpose: bool
    row_perm: np.ndarray  # new row i takes old row row_perm[i]
    col_perm: np.ndarray

    def apply(self, grid: np.ndarray) -> np.ndarray:
        x = grid.T if self.transpose else grid
        return self.digit_map[x[self.row_perm[:, None], self.col_perm]].astype(grid.dtype)

    def invert(self, grid: np.ndarray) -> np.ndarray:
        inverse_digits = np.argsort(self.digit_map)
        x = inverse_digits[grid]
        restored = np.empty_like(x)
        restored[np.ix_(self.row_perm, self.col_perm)] = x
        return (restored.T if self.transpose else restored).astype(grid.dtype)


def random_transform(n: int, rng: np.random.RandomState) -> SudokuTransform:
    """Draw a transform; with n = 9 the draws follow the original builder's order, so a
    RandomState seeded like its global state yields the same augmentations."""
    box = math.isqrt(n)
    digit_map = np.concatenate(([0], rng.permutation(np.arange(1, n + 1))))
    transpose = bool(rng.rand() < 0.5)
    bands = rng.permutation(box)
    row_perm = np.concatenate([b * box + rng.permutation(box) for b in bands])
    stacks = rng.permutation(box)
    col_perm = np.concatenate([s * box + rng.permutation(box) for s in stacks])
    return SudokuTransform(digit_map, transpose, row_perm, col_perm)


def augment(
    grid: np.ndarray, solution: np.ndarray, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray, SudokuTransform]:
    transform = random_transform(grid.shape[0], rng)
    return transform.apply(grid), transform.apply(solution), transform
