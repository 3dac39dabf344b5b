"""The batch solving engine behind `hrm solve`, `hrm eval` and the TUI.

    solver = Solver(model, "sudoku", halt="adaptive", batch_size=64)
    for record in solver.solve_items(task.read(lines, "puzzles.txt")):
        ...  # SolveResult, or InputError for an item that could not be read or encoded

Puzzles are encoded with the task adapter (`hrm.datasets.tasks`), run through the model's
rollout in batches, decoded and verified. `solve_items` streams: a reader thread feeds a
queue, and a partial batch is solved as soon as the input pauses, so results of a pipe
appear while it is still being written.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.tasks import Puzzle, Task, get_task
from hrm.inference.devices import resolve_device
from hrm.inference.errors import DeviceError

if TYPE_CHECKING:
    from hrm.model import ACTModel

T = TypeVar("T")

HALT_MODES = ("adaptive", "max")
DEFAULT_BATCH_SIZE = 64
FLUSH_IDLE_S = 0.15  # solve a partial batch once the input has paused this long ...
FLUSH_MAX_WAIT_S = 1.0  # ... or once its first item has waited this long


@dataclass
class SolveResult:
    """The outcome for one puzzle.

    `verdict`: True if the answer was verified, False if it breaks the rules (or differs
    from the known answer), None when it cannot be checked (ARC without an expected output).
    `seconds`: wall time from the start of the puzzle's batch until its answer was final
    (the work of a batch is shared, not divided).
    """

    index: int
    puzzle: Puzzle
    answer: np.ndarray | None
    verdict: bool | None
    segments: int
    q_halt: float
    seconds: float
    attempts: int = 1
    """Rollouts run for this puzzle: 1, or more when retried (`Solver(attempts=...)`);
    `segments` counts the segments of all of them."""
    unsolvable: str | None = None
    """Why the puzzle has no answer by the rules (`Task.unsolvable`); then the model did not
    run: no answer, 0 segments, 0 attempts."""

    @property
    def solved(self) -> bool:
        return self.verdict is True


@dataclass
class InputError:
    """An input item that could not be read (or does not fit the model)."""

    index: int
    error: PuzzleParseError

    @property
    def location(self) -> str:
        return self.error.location

    @property
    def message(self) -> str:
        return self.error.message


Record = SolveResult | InputError


class Solver:
    """Runs a model on puzzles of one task, in batches, and verifies the answers.

    `identifiers` maps puzzle identifiers (ARC task ids) to rows of the model's puzzle
    embedding; puzzles without one get row 0, the blank identifier of unseen puzzles.
    `attempts` > 1 retries a puzzle whose answer breaks the rules under up to
    `attempts - 1` symmetries of its task (sudoku: relabelled, transposed and shuffled
    boards; mazes: rotations and flips) and keeps the first answer that passes.
    """

    def __init__(self, model: ACTModel, task: Task | str, *, halt: str = "adaptive",
                 max_segments: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 identifiers: Mapping[str, int] | None = None, attempts: int = 1):
        if halt not in HALT_MODES:
            raise ValueError(f"halt must be one of {HALT_MODES}, got {halt!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if max_segments is not None and max_segments < 1:
            raise ValueError(f"max_segments must be at least 1, got {max_segments}")
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self.model = model
        self.task = get_task(task) if isinstance(task, str) else task
        self.task.check_model(model.config.vocab_size, model.config.seq_len)
        self.halt = halt
        self.max_segments = max_segments
        self.batch_size = batch_size
        self.identifiers = dict(identifiers or {})
        self.attempts = attempts

    @property
    def seq_len(self) -> int:
        return self.model.config.seq_len

    # ------------------------------------------------------------------ one batch
    def encode(self, puzzle: Puzzle) -> np.ndarray:
        """The model's input tokens for `puzzle` (PuzzleParseError if it does not fit):
        (seq_len,), or (side, side) for a model that takes grids of any size."""
        if self.model.any_size:
            return self.task.encode_grid(puzzle)
        return self.task.encode(puzzle, self.seq_len)

    def identifier(self, puzzle: Puzzle) -> int:
        """The puzzle-embedding row for `puzzle`: its learnt one if known, else 0 (blank)."""
        row = self.identifiers.get(puzzle.identifier, 0) if puzzle.identifier else 0
        return row if 0 <= row < self.model.config.num_puzzle_identifiers else 0

    def solve(self, puzzles: Sequence[Puzzle], start_index: int = 0) -> list[SolveResult]:
        """Solve puzzles (any number, run `batch_size` at a time), in order."""
        results: list[SolveResult] = []
        for offset in range(0, len(puzzles), self.batch_size):
            chunk = puzzles[offset:offset + self.batch_size]
            tokens = [self.encode(p) for p in chunk]
            indices = range(start_index + offset, start_index + offset + len(chunk))
            results += self._run(chunk, tokens, indices, time.perf_counter())
        return results

    def _run(self, puzzles: Sequence[Puzzle], tokens: Sequence[np.ndarray],
             indices: Sequence[int], started: float) -> list[SolveResult]:
        predictions, q_halt, segments, done_at = self._rollout(puzzles, tokens, started)
        results = []
        for i, puzzle in enumerate(puzzles):
            answer = self.task.decode(predictions[i], puzzle)
            results.append(SolveResult(
                index=indices[i],
                puzzle=puzzle,
                answer=answer,
                verdict=self.task.verify(puzzle, answer),
                segments=int(segments[i]),
                q_halt=float(q_halt[i]),
                seconds=float(done_at[i]),
            ))
        for attempt in range(1, self.attempts):
            if not self._retry(results, attempt, started):
                break
        return results

    def _retry(self, results: list[SolveResult], attempt: int, started: float) -> bool:
        """Run the puzzles whose answers broke the rules again, each in the guise `attempt`
        of its task (`Task.variant`), and keep an answer that passes; False when there was
        nothing left to retry. Only the rules decide (never a known answer), so what `hrm
        solve --attempts` reports is what a user without the answers would get."""
        retry = []
        for result in results:
            if result.verdict is False:
                variant = self.task.variant(result.puzzle, attempt)
                if variant is not None:
                    retry.append((result, *variant))
        if not retry:
            return False
        # `results` is one batch (at most batch_size), so its retries fit one rollout.
        predictions, q_halt, segments, done_at = self._rollout(
            [puzzle for _, puzzle, _ in retry],
            [self.encode(puzzle) for _, puzzle, _ in retry], started)
        for i, (result, puzzle, back) in enumerate(retry):
            decoded = self.task.decode(predictions[i], puzzle)
            answer = None if decoded is None else back(decoded)
            result.attempts = attempt + 1
            result.segments += int(segments[i])
            result.seconds = float(done_at[i])
            if self.task.verify(result.puzzle, answer):
                result.answer, result.verdict = answer, True
                result.q_halt = float(q_halt[i])
        return True

    def _rollout(self, puzzles: Sequence[Puzzle], tokens: Sequence[np.ndarray],
                 started: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(predicted tokens, halting probability, segments, seconds since `started` when
        each halted) of one batch."""
        device = self.model.device
        inputs = torch.from_numpy(stack_tokens(tokens)).to(device)
        ids = torch.tensor([self.identifier(p) for p in puzzles], dtype=torch.long,
                           device=device)
        done_at = np.full(len(puzzles), np.nan)
        last = None
        for step in self.model.rollout(inputs, ids, halt=self.halt,
                                       max_segments=self.max_segments):
            now = time.perf_counter()
            halted = step.halted.cpu().numpy()
            done_at[halted & np.isnan(done_at)] = now - started
            last = step
        assert last is not None  # a rollout runs at least one segment
        return (last.predictions.cpu().numpy(),
                torch.sigmoid(last.q_halt_logits.float()).cpu().numpy(),
                last.steps.cpu().numpy(), done_at)

    # ------------------------------------------------------------------ streams
    def solve_items(self, items: Iterable[Puzzle | PuzzleParseError], *, start_index: int = 0,
                    flush_idle: float = FLUSH_IDLE_S,
                    flush_max_wait: float = FLUSH_MAX_WAIT_S) -> Iterator[Record]:
        """Solve a stream of puzzles and parse errors; yield one record per item, in order.

        Items are read (and encoded) on a background thread; a batch is solved when it holds
        `batch_size` puzzles, when the input ends, or when the input has paused for
        `flush_idle` seconds (at most `flush_max_wait` after the batch's first item). So a
        slow pipe gets answers while it is being written, and a file fills whole batches.
        """
        def prepare() -> Iterator[tuple[int, Any]]:
            for index, item in enumerate(items, start=start_index):
                if isinstance(item, PuzzleParseError):
                    yield index, InputError(index, item)
                    continue
                try:
                    tokens = self.encode(item)
                except PuzzleParseError as exc:
                    yield index, InputError(index, exc)
                    continue
                reason = self.task.unsolvable(item)
                if reason is not None:  # the rules settle it: no rollout, no attempts
                    yield index, SolveResult(index, item, None, False, 0, 0.0, 0.0,
                                             attempts=0, unsolvable=reason)
                    continue
                yield index, (item, tokens)

        def is_work(entry: tuple[int, Any]) -> bool:
            return not isinstance(entry[1], (InputError, SolveResult))

        for batch in stream_batches(prepare(), self.batch_size, is_work=is_work,
                                    idle=flush_idle, max_wait=flush_max_wait):
            started = time.perf_counter()
            work = [(index, entry) for index, entry in batch if is_work((index, entry))]
            solved: dict[int, SolveResult] = {}
            if work:
                results = self._run([entry[0] for _, entry in work],
                                    [entry[1] for _, entry in work],
                                    [index for index, _ in work], started)
                solved = {result.index: result for result in results}
            for index, entry in batch:
                yield solved[index] if is_work((index, entry)) else entry


def load_solver(task: str, model_spec: str | None, device: str = "auto", *,
                halt: str = "adaptive", max_segments: int | None = None,
                batch_size: int = 64, attempts: int | None = None) -> tuple[Solver, str]:
    """The solver for `task` with the model `model_spec` names (None: the task's default),
    and the model's name. `hrm solve` and `hrm watch` share it, so they accept the same
    models and give the same errors. `attempts` None: what the bundle recommends (its
    task's `attempts`, set when a default is packaged), else 1."""
    from hrm.datasets.tasks import IncompatibleModelError
    from hrm.inference import store

    loaded = store.open_model(model_spec, task, resolve_device(device))
    try:
        solver = Solver(loaded.model, get_task(task), halt=halt, max_segments=max_segments,
                        batch_size=batch_size, identifiers=store.puzzle_identifiers(loaded.info),
                        attempts=attempts or recommended_attempts(loaded.info.task))
    except IncompatibleModelError as exc:
        raise IncompatibleModelError(f"model {loaded.name} cannot solve {task}: {exc}") from None
    return solver, loaded.name


def recommended_attempts(task_info: Mapping[str, Any]) -> int:
    """The attempts a bundle's `task` entry recommends for `hrm solve` (1 if none)."""
    value = task_info.get("attempts")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


# --------------------------------------------------------------------------- batching


def stack_tokens(tokens: Sequence[np.ndarray]) -> np.ndarray:
    """One (batch, seq_len) int64 array; square grids of different sides are padded (0)
    to the largest, which a model of any size ignores."""
    if tokens[0].ndim == 1:
        return np.stack(tokens).astype(np.int64)
    side = max(t.shape[0] for t in tokens)
    out = np.zeros((len(tokens), side, side), dtype=np.int64)
    for row, grid in zip(out, tokens, strict=True):
        row[: grid.shape[0], : grid.shape[1]] = grid
    return out.reshape(len(tokens), side * side)


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


_END = object()


def stream_batches(items: Iterable[T], batch_size: int, *,
                   is_work: Callable[[T], bool] = lambda item: True,
                   idle: float = FLUSH_IDLE_S, max_wait: float = FLUSH_MAX_WAIT_S
                   ) -> Iterator[list[T]]:
    """Group `items` into lists of at most `batch_size` work items (others ride along),
    pulling them on a daemon thread so that a pause in the input flushes a partial batch.

    An exception while reading is raised here, after the items read before it.
    """
    buffer: queue.Queue = queue.Queue(maxsize=max(4 * batch_size, 64))
    stop = threading.Event()

    def put(value: object) -> bool:
        # Time-limited puts, so the thread notices when the consumer has gone away.
        while not stop.is_set():
            try:
                buffer.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failure(exc))
            return
        put(_END)

    reader = threading.Thread(target=produce, name="hrm-input-reader", daemon=True)
    reader.start()
    pending: list[T] = []
    work = 0
    first_at = last_at = 0.0
    try:
        while True:
            timeout = None
            if pending:
                timeout = max(0.0, min(last_at + idle, first_at + max_wait) - time.monotonic())
            try:
                value = buffer.get(timeout=timeout)
            except queue.Empty:
                yield pending
                pending, work = [], 0
                continue
            if value is _END:
                break
            if isinstance(value, _Failure):
                if pending:
                    yield pending
                raise value.exc
            now = time.monotonic()
            if not pending:
                first_at = now
            last_at = now
            pending.append(value)
            work += bool(is_work(value))
            if work >= batch_size:
                yield pending
                pending, work = [], 0
        if pending:
            yield pending
    finally:
        stop.set()


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "HALT_MODES",
    "DeviceError",
    "InputError",
    "Record",
    "SolveResult",
    "Solver",
    "resolve_device",
    "stream_batches",
]
