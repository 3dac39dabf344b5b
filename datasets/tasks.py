"""One interface over the puzzle tasks, for everything that runs a model on puzzles.

`hrm solve`, `hrm eval` and the TUI treat sudoku, mazes and ARC alike through a `Task`:

    task = get_task("sudoku")
    task.check_model(vocab_size=11, seq_len=81)          # IncompatibleModelError if not
    for item in task.read(lines, "puzzles.txt"):         # streaming: one line in, ...
        if isinstance(item, PuzzleParseError): ...       # ... a bad puzzle is an object
        tokens = task.encode(item, seq_len=81)
        answer = task.decode(predicted_tokens, item)
        task.verify(item, answer)                        # True / False / None (unknown)
        task.format_answer(item, answer)                 # the layout the puzzle came in

Only numpy (and rich, lazily, for rendering): usable without torch.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrm.datasets import arc, maze, sudoku, sudoku_solver
from hrm.datasets.dihedral import dihedral_transform, inverse_dihedral_transform
from hrm.datasets.errors import HRMDataError, PuzzleParseError
from hrm.datasets.textio import looks_binary

if TYPE_CHECKING:
    from rich.text import Text

TASK_NAMES = ("sudoku", "maze", "arc")

# Vocab sizes of the original release's tokenisations (0 = pad in all of them).
MAZE_VOCAB = maze.VOCAB_SIZE
# The alias `hrm models pull` knows for the original release's 30x30 Maze-Hard model.
LARGE_MAZE_MODEL = "hrm-maze-30x30-hard"
ARC_VOCAB = arc.VOCAB_SIZE


class IncompatibleModelError(HRMDataError):
    """A model's vocabulary or sequence length does not fit the task it is asked to run."""


@dataclass
class Puzzle:
    """One puzzle of any task, as read from user input.

    `grid` is the puzzle as given (sudoku digits with 0 = blank, maze cell codes, ARC
    colours); `expected` the known answer, when the input carried one. `layout` is how the
    input wrote it ("line", "grid" or, for ARC, "json"); answers are formatted the same way.
    """

    task: str
    grid: np.ndarray
    source: str  # a file name, "<stdin>", "file[3]" for the 4th item of a JSON list
    line: int | None
    layout: str
    expected: np.ndarray | None = None
    name: str | None = None  # ARC: "<task id>/test<k>"
    identifier: str | None = None  # ARC: the task id, for the model's puzzle embedding

    @property
    def location(self) -> str:
        """The "file:line" that messages name (the source alone when no line applies)."""
        return self.source if self.line is None else f"{self.source}:{self.line}"


def task_metadata(name: str, seq_len: int, vocab_size: int) -> dict[str, Any]:
    """The `task` mapping a bundle's config.json carries (see `bundle_task_name`)."""
    return {"name": name, "seq_len": seq_len, "vocab_size": vocab_size}


def bundle_task_name(task: dict[str, Any], vocab_size: int, seq_len: int) -> str | None:
    """The task a bundle was made for: its `task.name`, else a guess from the token layout
    (vocab 11 + 81 tokens: sudoku; 6: maze; 12 + 900: ARC); None when unknown."""
    name = task.get("name") if isinstance(task, dict) else None
    if isinstance(name, str) and name in TASK_NAMES:
        return name
    for candidate in TASK_NAMES:
        try:
            get_task(candidate).check_model(vocab_size, seq_len)
        except IncompatibleModelError:
            continue
        return candidate
    return None


# --------------------------------------------------------------------------- reading


def decode_lines(byte_lines: Iterable[bytes]) -> Iterator[str]:
    """Decode lines of bytes as UTF-8 one at a time (so a pipe streams).

    A leading BOM is dropped. A byte that is not UTF-8 is kept as a lone surrogate
    (surrogateescape), which no reader takes as a cell: it costs only the puzzle it is in,
    and the error names the byte itself (`textio.describe_char`).
    """
    first = True
    for raw in byte_lines:
        text = raw.decode("utf-8", errors="surrogateescape")
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


# --------------------------------------------------------------------------- tasks


class Task(ABC):
    """What `hrm solve`, `hrm eval` and the TUI need to know about one task."""

    name: str

    @abstractmethod
    def read(self, lines: Iterable[str], source: str) -> Iterator[Puzzle | PuzzleParseError]:
        """Puzzles from lines of text, lazily; a bad puzzle is yielded as its error."""

    @abstractmethod
    def check_model(self, vocab_size: int, seq_len: int) -> None:
        """Raise IncompatibleModelError unless a model of this shape can run the task."""

    @abstractmethod
    def model_shape(self, puzzle: Puzzle) -> tuple[int, int]:
        """(seq_len, vocab_size) of a model made for puzzles like this one."""

    @abstractmethod
    def encode(self, puzzle: Puzzle, seq_len: int) -> np.ndarray:
        """The model's input tokens, (seq_len,) uint8; PuzzleParseError if it does not fit."""

    def encode_grid(self, puzzle: Puzzle) -> np.ndarray:
        """Tokens of `puzzle` at its own size, (side, side) with 0 outside it, for models
        that take grids of any size; IncompatibleModelError for tasks without one."""
        raise IncompatibleModelError(f"{self.name} puzzles have no size-free encoding; "
                                     "use a model of a fixed size")

    @abstractmethod
    def decode(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray | None:
        """The answer grid read from predicted tokens (None when nothing can be read)."""

    @abstractmethod
    def verify(self, puzzle: Puzzle, answer: np.ndarray | None) -> bool | None:
        """True if `answer` solves `puzzle`; None when it cannot be checked (ARC queries
        whose expected output is unknown)."""

    @abstractmethod
    def bad_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        """Mask of answer cells that are wrong or break a rule (None: nothing to mark)."""

    @abstractmethod
    def format(self, grid: np.ndarray, layout: str) -> str:
        """Plain text of a grid in a layout ("line", "grid" or "json")."""

    @abstractmethod
    def render_rich(self, puzzle: Puzzle, answer: np.ndarray | None) -> Text:
        """A rich rendering of the answer: givens, filled and bad cells look different."""

    def variant(self, puzzle: Puzzle, attempt: int
                ) -> tuple[Puzzle, Callable[[np.ndarray], np.ndarray]] | None:
        """Attempt `attempt` (1, 2, ...) at `puzzle` in another guise: the puzzle under a
        symmetry of the task and the map from its answers back to `puzzle`'s; None when the
        task has no more distinct ones. Used to retry puzzles whose answer failed `verify`."""
        return None

    def unsolvable(self, puzzle: Puzzle) -> str | None:
        """Why no answer to `puzzle` can pass `verify`, found by the rules alone (a classical
        search, cheap next to a model), or None when an answer may exist or it cannot be told.
        Such a puzzle is reported at once instead of being run through the model."""
        return None

    def format_input(self, puzzle: Puzzle) -> str:
        return self.format(puzzle.grid, puzzle.layout)

    def format_answer(self, puzzle: Puzzle, answer: np.ndarray | None, layout: str | None = None
                      ) -> str:
        """The answer in the puzzle's own layout (or `layout`); "" when there is none."""
        return "" if answer is None else self.format(answer, layout or puzzle.layout)

    def one_line(self, grid: np.ndarray) -> str:
        """A one-line text of a grid, for output with one line per puzzle."""
        return self.format(grid, "line")


class SudokuTask(Task):
    name = "sudoku"

    def read(self, lines: Iterable[str], source: str) -> Iterator[Puzzle | PuzzleParseError]:
        for item in sudoku.iter_puzzles(lines, source):
            if isinstance(item, PuzzleParseError):
                yield item
            else:
                yield Puzzle("sudoku", item.grid, item.source, item.line, item.layout,
                             item.solution)

    def check_model(self, vocab_size: int, seq_len: int) -> None:
        side = math.isqrt(seq_len)
        if side * side != seq_len or side not in sudoku.SIZES:
            raise IncompatibleModelError(
                f"the model takes {seq_len} tokens; a sudoku model takes 16, 81 or 256 "
                "(4x4, 9x9 or 16x16 boards)"
            )
        if vocab_size != sudoku.vocab_size(side):
            raise IncompatibleModelError(
                f"the model has {vocab_size} token ids; a {side}x{side} sudoku model has "
                f"{sudoku.vocab_size(side)} (pad, blank and {side} digits)"
            )

    def model_shape(self, puzzle: Puzzle) -> tuple[int, int]:
        n = int(puzzle.grid.shape[0])
        return n * n, sudoku.vocab_size(n)

    def encode(self, puzzle: Puzzle, seq_len: int) -> np.ndarray:
        n = int(puzzle.grid.shape[0])
        if n * n != seq_len:
            side = math.isqrt(seq_len)
            raise PuzzleParseError(
                f"a {n}x{n} sudoku needs a model for {n}x{n} boards; this model solves "
                f"{side}x{side} boards", puzzle.source, puzzle.line
            )
        return sudoku.encode(puzzle.grid)

    def decode(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray:
        return sudoku.decode(tokens, int(puzzle.grid.shape[0]))

    def verify(self, puzzle: Puzzle, answer: np.ndarray | None) -> bool:
        # By the rules, not by comparison with a known solution: a puzzle may have several.
        return answer is not None and sudoku.verify(puzzle.grid, answer)

    def unsolvable(self, puzzle: Puzzle) -> str | None:
        # Repeated givens are already a read error. A full search of a 16x16 board can take
        # minutes in Python; up to 9x9 it takes milliseconds, and the model would spend
        # seconds on a puzzle without a solution.
        if puzzle.grid.shape[0] <= 9 and not sudoku_solver.solve(puzzle.grid).solutions:
            return "the givens contradict each other (no solution)"
        return None

    def variant(self, puzzle: Puzzle, attempt: int
                ) -> tuple[Puzzle, Callable[[np.ndarray], np.ndarray]]:
        # Relabelled digits, transposition, bands, rows, stacks and columns shuffled: the
        # augmentations of training. Attempt k draws from seed k, so a retry is reproducible.
        transform = sudoku.random_transform(int(puzzle.grid.shape[0]),
                                            np.random.RandomState(attempt))
        return replace(puzzle, grid=transform.apply(puzzle.grid), expected=None), transform.invert

    def bad_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        if answer is None:
            return None
        givens = puzzle.grid > 0
        return sudoku.conflicts(answer) | (answer == 0) | (givens & (answer != puzzle.grid))

    def format(self, grid: np.ndarray, layout: str) -> str:
        return sudoku.format_grid(grid) if layout == "grid" else sudoku.format_line(grid)

    def render_rich(self, puzzle: Puzzle, answer: np.ndarray | None) -> Text:
        grid = puzzle.grid if answer is None else answer
        return sudoku.render_rich(grid, givens=puzzle.grid > 0,
                                  bad_cells=self.bad_cells(puzzle, answer))


class MazeTask(Task):
    name = "maze"

    def read(self, lines: Iterable[str], source: str) -> Iterator[Puzzle | PuzzleParseError]:
        for item in maze.iter_puzzles(lines, source):
            if isinstance(item, PuzzleParseError):
                yield item
            else:
                yield Puzzle("maze", item.grid, item.source, item.line, item.layout, item.solution)

    def check_model(self, vocab_size: int, seq_len: int) -> None:
        side = math.isqrt(seq_len)
        if side * side != seq_len or side > maze.MAX_SIZE:
            raise IncompatibleModelError(
                f"the model takes {seq_len} tokens; a maze model takes a square canvas of at "
                f"most {maze.MAX_SIZE}x{maze.MAX_SIZE} ({maze.MAX_SIZE ** 2} tokens)"
            )
        if vocab_size != MAZE_VOCAB:
            raise IncompatibleModelError(
                f"the model has {vocab_size} token ids; a maze model has {MAZE_VOCAB} "
                "(pad and '# SGo')"
            )

    def model_shape(self, puzzle: Puzzle) -> tuple[int, int]:
        return maze.CANVAS * maze.CANVAS, MAZE_VOCAB

    def encode(self, puzzle: Puzzle, seq_len: int) -> np.ndarray:
        # A smaller maze sits in the corner of the model's canvas, surrounded by walls, so
        # the 30x30 Maze-Hard model also runs on small mazes.
        canvas = math.isqrt(seq_len)
        h, w = puzzle.grid.shape
        if h > canvas or w > canvas:
            # A small-canvas model (the shipped one is 10x10): say where a 30x30 one is.
            hint = (f"; mazes up to {maze.CANVAS}x{maze.CANVAS} need a model such as "
                    f"{LARGE_MAZE_MODEL} (`hrm models pull {LARGE_MAZE_MODEL}`)"
                    if canvas < maze.CANVAS else "")
            raise PuzzleParseError(
                f"a {h}x{w} maze does not fit this model's {canvas}x{canvas} canvas{hint}",
                puzzle.source, puzzle.line,
            )
        return maze.encode(puzzle.grid, canvas=canvas)

    def encode_grid(self, puzzle: Puzzle) -> np.ndarray:
        # Models of any size see the maze as it is; token 0 (pad) squares it off, and
        # such models hold padded cells at zero, so the padding never changes the answer.
        h, w = puzzle.grid.shape
        tokens = np.zeros((max(h, w), max(h, w)), dtype=np.uint8)
        tokens[:h, :w] = puzzle.grid + 1
        return tokens

    def decode(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray:
        return maze.decode(tokens, shape=tuple(puzzle.grid.shape))

    def verify(self, puzzle: Puzzle, answer: np.ndarray | None) -> bool:
        return answer is not None and maze.verify(puzzle.grid, answer)

    def unsolvable(self, puzzle: Puzzle) -> str | None:
        if maze.shortest_path_length(puzzle.grid) is None:
            return "walls separate S from G (no path)"
        return None

    def variant(self, puzzle: Puzzle, attempt: int
                ) -> tuple[Puzzle, Callable[[np.ndarray], np.ndarray]] | None:
        # The other symmetries of the square, in the original's numbering; a rectangular
        # maze keeps only those that keep its shape (180 degrees and the two flips).
        square = puzzle.grid.shape[0] == puzzle.grid.shape[1]
        symmetries = range(1, 8) if square else (2, 4, 5)
        if attempt > len(symmetries):
            return None
        tid = symmetries[attempt - 1]
        grid = np.ascontiguousarray(dihedral_transform(puzzle.grid, tid))

        def back(answer: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(inverse_dihedral_transform(answer, tid))

        return replace(puzzle, grid=grid, expected=None), back

    def bad_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        if answer is None:
            return None
        # path_breaks covers moved walls/S/G and broken path chains; an open cell may only
        # stay open or become path.
        opened = (puzzle.grid == maze.OPEN) & ~np.isin(answer, (maze.OPEN, maze.PATH))
        return maze.path_breaks(puzzle.grid, answer) | opened

    def format(self, grid: np.ndarray, layout: str) -> str:
        return maze.format_grid(grid) if layout == "grid" else maze.format_line(grid)

    def render_rich(self, puzzle: Puzzle, answer: np.ndarray | None) -> Text:
        grid = puzzle.grid if answer is None else answer
        return maze.render_rich(grid, bad_cells=self.bad_cells(puzzle, answer))


class ArcTask(Task):
    """ARC: each test input of a task is one puzzle; the demonstration pairs are what the
    model learnt during training (through the task's puzzle identifier), not an input."""

    name = "arc"

    def read(self, lines: Iterable[str], source: str) -> Iterator[Puzzle | PuzzleParseError]:
        return _read_arc(lines, source)

    def check_model(self, vocab_size: int, seq_len: int) -> None:
        if seq_len != arc.SEQ_LEN or vocab_size != ARC_VOCAB:
            raise IncompatibleModelError(
                f"the model takes {seq_len} tokens of {vocab_size} ids; an ARC model takes "
                f"{arc.SEQ_LEN} tokens (a 30x30 canvas) of {ARC_VOCAB} ids"
            )

    def model_shape(self, puzzle: Puzzle) -> tuple[int, int]:
        return arc.SEQ_LEN, ARC_VOCAB

    def encode(self, puzzle: Puzzle, seq_len: int) -> np.ndarray:
        if seq_len != arc.SEQ_LEN:
            raise PuzzleParseError(f"ARC grids need a model of {arc.SEQ_LEN} tokens, this "
                                   f"model takes {seq_len}", puzzle.source, puzzle.line)
        return arc.encode_grid(puzzle.grid)

    def decode(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray | None:
        return arc.decode_grid(tokens)

    def verify(self, puzzle: Puzzle, answer: np.ndarray | None) -> bool | None:
        if puzzle.expected is None:
            return None
        return arc.verify(answer, puzzle.expected)

    def bad_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        if answer is None or puzzle.expected is None:
            return None
        if answer.shape != puzzle.expected.shape:
            return np.ones(answer.shape, dtype=bool)
        return answer != puzzle.expected

    def format(self, grid: np.ndarray, layout: str) -> str:
        if layout == "grid":
            return arc.render(grid)
        return json.dumps(np.asarray(grid).tolist(), separators=(",", ":"))

    def render_rich(self, puzzle: Puzzle, answer: np.ndarray | None) -> Text:
        from rich.text import Text

        if answer is None:
            return Text("(no grid could be read from the prediction)", style="bold red")
        bad = self.bad_cells(puzzle, answer)
        text = Text()
        for r, row in enumerate(answer):
            if r:
                text.append("\n")
            for c, cell in enumerate(row):
                colour = arc.PALETTE[int(cell)]
                if bad is not None and bad[r, c]:
                    # A wrong cell keeps its colour but is crossed, so the grid stays readable.
                    text.append("╳╳", style=f"bold white on {colour}")
                else:
                    text.append("██", style=colour)
        return text


# --------------------------------------------------------------------------- ARC reading


def _read_arc(lines: Iterable[str], source: str) -> Iterator[Puzzle | PuzzleParseError]:
    """ARC task JSON (one task, a list, or an id -> task mapping), or JSON Lines with one
    such value per line, which streams. A bad task costs only itself."""
    numbered = enumerate(lines, start=1)
    for number, text in numbered:
        if not text.strip():
            continue
        if looks_binary(text):
            yield PuzzleParseError("binary data, not ARC task JSON", source, number)
            return
        try:
            first = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            first = None
        if first is not None:  # JSON Lines: every line is a whole value
            yield from _arc_value(text, first, source, number)
            for later, line in numbered:
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    message = getattr(exc, "msg", "nested too deeply")
                    yield PuzzleParseError(f"invalid JSON: {message}", source, later)
                    continue
                yield from _arc_value(line, value, source, later)
            return
        # Leading blank lines were skipped: put them back so JSON line numbers match.
        rest = (t.rstrip("\r\n") for _, t in numbered)
        whole = "\n" * (number - 1) + "\n".join([text.rstrip("\r\n"), *rest])
        try:
            value = json.loads(whole)
        except json.JSONDecodeError as exc:
            yield PuzzleParseError(f"invalid JSON: {exc.msg} (column {exc.colno})", source,
                                   exc.lineno)
            return
        except RecursionError:
            yield PuzzleParseError("invalid JSON: nested too deeply", source)
            return
        yield from _arc_value(whole, value, source, None)
        return
    yield PuzzleParseError("empty input; expected ARC task JSON", source)


def _arc_value(text: str, value: Any, source: str,
               line: int | None) -> Iterator[Puzzle | PuzzleParseError]:
    """The puzzles of one decoded JSON value. `line` is set for a JSON Lines line: then
    every location is that line."""
    default_name = "task" if source.startswith("<") else Path(source).stem
    if line is not None and line > 1:
        # JSON Lines: later lines need their own names (a task file on one line, as the ARC
        # repositories store them, keeps the file's name).
        default_name = f"{default_name}-{line}"
    # The parser in arc.py checks a task's structure and finds the JSON line of a bad value;
    # it is used task by task here so that one bad task does not hide the others.
    reader = arc._TaskReader(text, source)
    if isinstance(value, list) and value:
        named = [(f"{default_name}-{i}", (i,), item) for i, item in enumerate(value)]
    elif isinstance(value, dict) and value and not ("train" in value or "test" in value):
        named = [(str(key), (key,), item) for key, item in value.items()]
    else:
        named = [(default_name, (), value)]
    for task_name, path, item in named:
        try:
            task = reader.task(item, task_name, path)
        except PuzzleParseError as exc:
            yield exc if line is None else PuzzleParseError(exc.message, source, line)
            continue
        for k, pair in enumerate(task.test):
            where = line if line is not None else arc._line_of(text, (*path, "test", k))
            yield Puzzle(
                "arc",
                pair.input,
                source,
                where,
                "json",
                pair.output,
                name=f"{task.id}/test{k}",
                identifier=task.id,
            )


TASKS: dict[str, Task] = {"sudoku": SudokuTask(), "maze": MazeTask(), "arc": ArcTask()}


def get_task(name: str) -> Task:
    """The adapter of task `name` (ValueError for an unknown name)."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASK_NAMES)}") from None


__all__ = [
    "TASKS",
    "TASK_NAMES",
    "ArcTask",
    "IncompatibleModelError",
    "MazeTask",
    "Puzzle",
    "SudokuTask",
    "Task",
    "bundle_task_name",
    "decode_lines",
    "get_task",
    "task_metadata",
]
