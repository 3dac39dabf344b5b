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

Beyond solving, a `Task` holds everything else that differs between tasks: which
datasets and bundles are its, how its training splits are built and decoded, what counts
as a right answer in evaluation, its offline generator, its training recipe and standard
dataset. Each task is a module (`sudoku_task`, `maze_task`, `arc_task`) named in the task
table (`hrm.datasets.task_table`); nothing else branches on task names.

Only numpy (and rich, lazily, for rendering): usable without torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hrm.datasets.cache import dataset_cache_dir
from hrm.datasets.errors import HRMDataError, PuzzleParseError
from hrm.datasets.task_table import TASK_NAMES, load_task

if TYPE_CHECKING:
    from rich.text import Text

    from hrm.datasets.builders import CsvPuzzles
    from hrm.datasets.format import DatasetMetadata, PuzzleSet


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


@dataclass(frozen=True)
class StandardData:
    """A task's standard training set (`hrm train TASK` without --data): registry sources
    built as the paper built them."""

    title: str
    """What it is, in the words `hrm train` says while fetching and building it."""
    sources: tuple[str, ...]
    """Registry names (`hrm datasets fetch NAME`); ARC builds combine several."""
    aug: int
    seed: int
    offline: str
    """The other way forward when the sources cannot be downloaded: exact commands."""
    subsample: int | None = None

    @property
    def name(self) -> str:
        """The folder name `hrm datasets build SOURCES` gives the same build."""
        suffix = (f"-sub{self.subsample}" if self.subsample else "") + (
            f"-aug{self.aug}" if self.aug else "")
        return "-".join(self.sources) + suffix

    def folder(self) -> Path:
        """Where it is built: in the cache, next to the download of its first source
        (``<cache>/datasets/<source>/built/<name>``), so deleting that download with
        `hrm datasets fetch --force` also drops what was built from it."""
        return dataset_cache_dir(self.sources[0]) / "built" / self.name


@dataclass
class BuildInputs:
    """What one `hrm datasets build` reads: CSV files by split, or folders of task files."""

    csv: dict[str, Path] = field(default_factory=dict)
    folders: list[tuple[str, Path]] = field(default_factory=list)
    """(subset name, folder) pairs, in order (ARC: training/ and evaluation/)."""


BuildProgress = Callable[[str | None, int, int], None]
"""Called with (split being built, or None for a build in one pass; done; total)."""
CsvRow = tuple[str, str, str, int]
"""A row of the published CSV layout: source, question, answer, rating."""


class GeneratorOptionError(ValueError):
    """A `hrm datasets generate` setting the task's generator refuses; `option` names the
    command-line option at fault, when one is."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


class VariantVotes(Protocol):
    """Answers to augmented variants of a puzzle, pooled and ranked (ARC's pass@k). One per
    rank, merged on rank 0 through `pairs`, which must pickle."""

    pairs: dict[Any, Any]

    def add(self, example_index: int, identifier: int, inputs: np.ndarray,
            labels: np.ndarray, prediction: np.ndarray, confidence: float) -> None: ...

    def merge(self, other: VariantVotes) -> None: ...

    def scores(self) -> dict[str, Any]: ...


# Sudoku and mazes share the paper's recipe (see hrm.train.recipes for the table).
PUZZLE_RECIPE: Mapping[str, Any] = {"weight_decay": 1.0, "puzzle_emb_lr": 1e-4,
                                    "puzzle_emb_weight_decay": 1.0, "epochs": 20000,
                                    "eval_interval": 2000}
PUZZLE_TRM_RECIPE: Mapping[str, Any] = {"epochs": 50000, "eval_interval": 5000, "ema": 0.999}


class Task(ABC):
    """Everything about one task: what `hrm solve`, `hrm eval`, `hrm train`, `hrm datasets`
    and the TUI need to know about it."""

    name: str

    checks_answers: bool = True
    """Whether the rules tell a right answer from a wrong one (so a wrong answer can be
    retried, `hrm solve --attempts`); False when only a known answer can (ARC)."""
    several_answers: bool = False
    """Whether a puzzle may have right answers other than its label (a maze's other
    shortest paths); evaluation then asks `accepts_other` about predictions that differ."""
    votes_over_variants: bool = False
    """Whether evaluation pools the answers of a puzzle's augmented variants (ARC pass@k);
    then the dataset's puzzle identifiers name the variants (`new_votes`)."""

    # Training: the recipe's fields this task changes (hrm.train.recipes.Recipe), the
    # changes per architecture on top, and the dataset `hrm train TASK` uses without --data.
    recipe: Mapping[str, Any] = {}
    architecture_recipes: Mapping[str, Mapping[str, Any]] = {}
    standard_data: StandardData | None = None
    release_seq_len: int | None = None
    """The sequence length of the original release's models of this task, which RoPE
    checkpoints do not store (`hrm.model.import_official`)."""

    # Building (`hrm datasets build`): from what, defaults, which options apply, the limits.
    builds_from: str | None = None
    """"csv" (the published `source,question,answer,rating` layout: `read_csv` and
    `build_split`), "folders" (of task files: `find_inputs`, `build`), None: not built."""
    build_defaults: Mapping[str, int] = {"aug": 0, "seed": 0}
    build_options: frozenset[str] = frozenset()
    """Options of `hrm datasets build` beyond --aug/--seed (and --test, for CSV builds)
    that the task takes: "subsample", "min_rating", "canvas"."""
    combines_sources: bool = False
    """Whether one build may combine several sources."""
    max_aug: int | None = None

    # Generating (`hrm datasets generate`): None when puzzles cannot be made offline, else
    # the options beyond --count/--seed/--size/--workers the generator takes.
    generator_options: frozenset[str] | None = None

    @abstractmethod
    def read(self, lines: Iterable[str], source: str) -> Iterator[Puzzle | PuzzleParseError]:
        """Puzzles from lines of text, lazily; a bad puzzle is yielded as its error."""

    def as_puzzles(self, items: Iterable[Any]) -> Iterator[Puzzle | PuzzleParseError]:
        """A task parser's items (with grid, source, line, layout, solution) as `Puzzle`s;
        errors pass through."""
        for item in items:
            if isinstance(item, PuzzleParseError):
                yield item
            else:
                yield Puzzle(self.name, item.grid, item.source, item.line, item.layout,
                             item.solution)

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

    # ----------------------------------------------------------------- models and bundles

    def fits_dataset(self, vocab_size: int, seq_len: int) -> bool:
        """Whether a built dataset of this token layout can be this task's."""
        try:
            self.check_model(vocab_size, seq_len)
        except IncompatibleModelError:
            return False
        return True

    def bundle_tokens(self, vocab_size: int, seq_len: int) -> dict[str, Any]:
        """What a bundle's `task` entry says about the tokens, beyond name and sizes."""
        return {}

    # ----------------------------------------------------------------- evaluation

    def accepts_other(self, inputs: np.ndarray, labels: np.ndarray,
                      predictions: np.ndarray) -> np.ndarray:
        """For rows of tokens whose prediction differs from the label: which are right all
        the same (only asked when `several_answers`)."""
        return np.zeros(len(predictions), dtype=bool)

    def new_votes(self, identifiers: Sequence[str]) -> VariantVotes:
        """An empty pool of variant answers (only asked when `votes_over_variants`)."""
        raise NotImplementedError(f"{self.name} does not vote over variants")

    def split_decoder(self, folder: Path, split: str) -> Callable[[np.ndarray], np.ndarray]:
        """The map from a built split's tokens to grids of this task (`hrm eval --attempts`
        solves the split's examples as puzzles)."""
        raise HRMDataError(f"{self.name} splits cannot be read back as puzzles")

    def free_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        """Cells where the model has a choice (the TUI's mean confidence is over these):
        every cell unless the task says otherwise."""
        return None if answer is None else np.ones(answer.shape, dtype=bool)

    # ----------------------------------------------------------------- building

    def reads_csv(self, question: str) -> bool:
        """Whether a CSV question in the published layout is a puzzle of this task."""
        return False

    def read_csv(self, path: Path) -> CsvPuzzles:
        """The puzzles of a CSV file (PuzzleParseError naming the line of a bad one)."""
        raise HRMDataError(f"{self.name} datasets are not built from CSV files")

    def build_split(self, data: CsvPuzzles, aug: int, rng: np.random.RandomState, *,
                    subsample: int | None = None, min_rating: int | None = None,
                    progress: Callable[[int], None] | None = None, **options: Any
                    ) -> tuple[DatasetMetadata, dict[str, PuzzleSet]]:
        """One split of a dataset from CSV puzzles (see `hrm.datasets.builders`)."""
        raise HRMDataError(f"{self.name} datasets are not built from CSV files")

    def find_inputs(self, folder: Path) -> list[tuple[str, Path]]:
        """Subsets of task files in `folder` this task builds from ([] when none)."""
        return []

    def source_inputs(self, folder: Path, source: Any) -> BuildInputs:
        """The inputs of a fetched registry source (`hrm.datasets.sources`) in `folder`."""
        return BuildInputs(csv={split: folder / f"{split}.csv" for split in ("train", "test")})

    def check_build(self, aug: int, **options: Any) -> None:
        """ValueError for settings the task cannot build with."""
        if self.max_aug is not None and aug > self.max_aug:
            raise ValueError(f"{self.name} builds take --aug 0..{self.max_aug}")

    def build(self, inputs: BuildInputs, out: Path, *, aug: int, seed: int,
              overwrite: bool = False, progress: BuildProgress | None = None,
              **options: Any) -> Path:
        """Build a training dataset from `inputs` into `out`; returns `out`."""
        from hrm.datasets.builders import build_from_csv

        def report(split: str, done: int, total: int) -> None:
            if progress is not None:
                progress(split, done, total)

        return build_from_csv(self, inputs.csv, out, aug=aug, seed=seed, overwrite=overwrite,
                              progress=report, **options)

    # ----------------------------------------------------------------- generating

    def generate(self, count: int, seed: int, size: int | None, workers: int,
                 **options: Any) -> Iterator[CsvRow]:
        """`count` new puzzles with their solutions, as CSV rows (only asked when
        `generator_options` is not None); GeneratorOptionError for bad settings."""
        raise GeneratorOptionError(f"{self.name} puzzles cannot be generated")


def get_task(name: str) -> Task:
    """The `Task` of `name` (ValueError for an unknown name)."""
    try:
        return load_task(name)
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASK_NAMES)}") from None


def tasks_where(test: Callable[[Task], bool]) -> list[str]:
    """Names of the tasks that pass `test`, in table order (for choices and messages)."""
    return [name for name in TASK_NAMES if test(get_task(name))]


def release_seq_len(task: str | None, data_path: Any, vocab_size: int) -> int | None:
    """The sequence length of an original-release RoPE checkpoint, which it does not store:
    that of `task`, else of a task named in its training `data_path`, else of the task
    whose release vocabulary it has; None when nothing tells."""
    if task is not None:
        return get_task(task).release_seq_len
    if isinstance(data_path, str):
        lowered = data_path.lower()
        for name in TASK_NAMES:
            if name in lowered and get_task(name).release_seq_len is not None:
                return get_task(name).release_seq_len
    for name in TASK_NAMES:
        length = get_task(name).release_seq_len
        if length is not None and get_task(name).fits_dataset(vocab_size, length):
            return length
    return None


__all__ = [
    "PUZZLE_RECIPE",
    "PUZZLE_TRM_RECIPE",
    "TASK_NAMES",
    "BuildInputs",
    "BuildProgress",
    "CsvRow",
    "GeneratorOptionError",
    "IncompatibleModelError",
    "Puzzle",
    "StandardData",
    "Task",
    "VariantVotes",
    "bundle_task_name",
    "decode_lines",
    "get_task",
    "release_seq_len",
    "task_metadata",
    "tasks_where",
]
