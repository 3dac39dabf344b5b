"""The batch solving engine behind `hrm solve`, `hrm eval` and the TUI.

    solver = Solver(model, "sudoku", halt="checked", batch_size=64)
    for record in solver.solve_items(task.read(lines, "puzzles.txt")):
        ...  # SolveResult, or InputError for an item that could not be read or encoded

Puzzles are encoded with the task adapter (`hrm.datasets.tasks`), run through the model
with continuous batching (`hrm.inference.continuous`), decoded and verified. When a puzzle
halts, its row goes at once to a retry of a puzzle whose answer broke the rules, or to the
next puzzle of the input, so the batch stays full until the input runs out. Results still
come out in input order, and each is what solving that puzzle alone gives. `solve_items`
streams: a reader thread feeds a queue and each puzzle joins the running batch as it
arrives, so results of a pipe appear while it is still being written.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.tasks import Puzzle, Task, get_task
from hrm.inference.continuous import ContinuousRollout, Finished
from hrm.inference.devices import resolve_device, solve_dtype
from hrm.inference.errors import DeviceError

if TYPE_CHECKING:
    from hrm.model import ACTModel

HALT_MODES = ("adaptive", "max", "checked")
# Checked solves every puzzle that adaptive halting solves: the two part only where the Q
# head would stop on an answer that breaks the rules (large mazes), and there it runs on.
DEFAULT_HALT = "checked"
DEFAULT_BATCH_SIZE = 64
GATHER_IDLE_S = 0.15  # a first batch starts once the input has paused this long ...
GATHER_MAX_S = 1.0  # ... or once its first puzzle has waited this long


@dataclass
class SolveResult:
    """The outcome for one puzzle.

    `verdict`: True if the answer was verified, False if it breaks the rules (or differs
    from the known answer), None when it cannot be checked (ARC without an expected output).
    `seconds`: wall time from the start of the puzzle's first rollout until its answer was
    final (the rows of a batch share its work, so these do not add up to the total).
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

    `halt`: "adaptive" stops a puzzle when the model's Q head says halt; "max" runs its
    whole budget; "checked" is adaptive, except that an answer breaking the task's rules
    does not stop the rollout, which runs on to its budget (the Q head of a grid model halts
    large mazes too early). `identifiers` maps puzzle identifiers (ARC task ids) to rows
    of the model's puzzle embedding; puzzles without one get row 0, the blank identifier
    of unseen puzzles.
    `attempts` > 1 retries a puzzle whose answer breaks the rules under up to
    `attempts - 1` symmetries of its task (sudoku: relabelled, transposed and shuffled
    boards; mazes: rotations and flips) and keeps the first answer that passes.
    """

    def __init__(self, model: ACTModel, task: Task | str, *, halt: str = DEFAULT_HALT,
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

    @property
    def rollout_halt(self) -> str:
        """How the model's rollout halts: "checked" is adaptive, with `accepts` asked."""
        return "max" if self.halt == "max" else "adaptive"

    def accepts(self, puzzle: Puzzle, tokens: np.ndarray) -> bool:
        """Whether halting "checked" lets a rollout of `puzzle` (as it runs: a retry's
        rotated or relabelled copy) stop on these tokens: unless their answer breaks the
        task's rules. Never judged by a known answer; ARC, which has no rules to check,
        leaves it to the Q head."""
        puzzle = replace(puzzle, expected=None)
        return self.task.verify(puzzle, self.task.decode(tokens, puzzle)) is not False

    def _job_accepts(self, job: _Job, tokens: np.ndarray) -> bool:
        return self.accepts(job.guise or job.puzzle, tokens)

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
        """Solve puzzles (any number, `batch_size` at a time), in order."""
        return list(self.iter_solve(puzzles, start_index))

    def iter_solve(self, puzzles: Iterable[Puzzle], start_index: int = 0
                   ) -> Iterator[SolveResult]:
        """Solve puzzles that are all at hand; yield each result, in order, once final."""
        entries = ((index, (puzzle, self.encode(puzzle)))
                   for index, puzzle in enumerate(puzzles, start=start_index))

        def take(wait: float | None) -> Any:
            return next(entries, _END)

        yield from self._schedule(take, start_index)  # type: ignore[misc]

    # ------------------------------------------------------------------ streams
    def solve_items(self, items: Iterable[Puzzle | PuzzleParseError], *,
                    start_index: int = 0) -> Iterator[Record]:
        """Solve a stream of puzzles and parse errors; yield one record per item, in order.

        Items are read (and encoded) on a background thread. Each puzzle joins the running
        batch at the next segment after it arrives, so a slow pipe gets answers while it
        is being written, and a file keeps the batch full. When nothing is running, a first
        batch gathers until the input pauses for `GATHER_IDLE_S` (at most `GATHER_MAX_S`).
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

        with InputFeed(prepare()) as feed:
            yield from self._schedule(feed.take, start_index)
            if feed.failure is not None:
                raise feed.failure

    def _schedule(self, take: Callable[[float | None], Any],
                  start_index: int) -> Iterator[Record]:
        """The solving loop. `take(wait)` gives the next input entry, `(index, record)`
        for one that needs no model or `(index, (puzzle, tokens))`, or `_END`; or
        `_NOTHING` when none arrives within `wait` seconds (None: as long as it takes).

        Free rows go first to retries (they hold back earlier output), then to new input;
        a result leaves once it and every one before it are final.
        """
        engine = ContinuousRollout(self.model, capacity=self.batch_size,
                                   halt=self.rollout_halt,
                                   max_segments=self.max_segments,
                                   accept=self._job_accepts if self.halt == "checked" else None)
        retries: deque[_Job] = deque()
        final: dict[int, Record] = {}
        next_index = start_index
        ended = False
        # Results that wait for an earlier, slower puzzle: bounded, so memory is too.
        ahead_limit = max(16 * self.batch_size, 1024)
        while True:
            while engine.free and retries:
                retries.popleft().enter(engine, self)
            # With nothing running, a first batch gathers while the input keeps coming (a
            # file fills it) and starts once the input pauses (a pipe answers at once): a
            # batch started with one puzzle would leave a long tail of nearly empty rows.
            busy = bool(engine)
            first_at = last_at = 0.0
            while engine.free and not ended and len(final) < ahead_limit:
                if busy or next_index in final:
                    wait: float | None = 0.0
                elif not engine:
                    wait = None  # nothing to do but wait for input
                else:
                    wait = max(0.0, min(last_at + GATHER_IDLE_S, first_at + GATHER_MAX_S)
                               - time.monotonic())
                entry = take(wait)
                if entry is _NOTHING:
                    break
                if entry is _END:
                    ended = True
                    break
                index, value = entry
                if isinstance(value, (InputError, SolveResult)):
                    final[index] = value
                    continue
                last_at = time.monotonic()
                if not engine:
                    first_at = last_at
                _Job(index, *value).enter(engine, self)
            while next_index in final:
                yield final.pop(next_index)
                next_index += 1
            if not engine:
                if ended and not retries:
                    return
                continue
            for done in engine.step():
                job: _Job = done.tag
                retry = job.finish(done, self)
                if retry is not None:
                    retries.append(retry)
                else:
                    assert job.result is not None
                    final[job.index] = job.result

def load_solver(task: str, model_spec: str | None, device: str = "auto", *,
                halt: str = DEFAULT_HALT, max_segments: int | None = None,
                batch_size: int = 64, attempts: int | None = None,
                dtype: str = "auto") -> tuple[Solver, str]:
    """The solver for `task` with the model `model_spec` names (None: the task's default),
    and the model's name. `hrm solve` and `hrm watch` share it, so they accept the same
    models and give the same errors. `attempts` None: what the bundle recommends (its
    task's `attempts`, set when a default is packaged), else 1. `dtype`: `--dtype`, resolved
    by `solve_dtype` for the device."""
    from hrm.datasets.tasks import IncompatibleModelError
    from hrm.inference import store

    torch_device = resolve_device(device)
    loaded = store.open_model(model_spec, task, torch_device)
    loaded.model.config.forward_dtype = solve_dtype(dtype, torch_device)
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


# --------------------------------------------------------------------------- scheduling


@dataclass
class _Job:
    """One puzzle through its attempts: the guise it runs in now and its result so far."""

    index: int
    puzzle: Puzzle
    tokens: np.ndarray  # of the attempt to run next
    attempt: int = 0
    started: float = 0.0
    result: SolveResult | None = None
    guise: Puzzle | None = None  # the variant an attempt after the first runs as
    back: Callable[[np.ndarray], np.ndarray] | None = None  # its answer, as the puzzle's

    def enter(self, engine: ContinuousRollout, solver: Solver) -> None:
        if self.attempt == 0:
            self.started = time.perf_counter()
        engine.add(self.tokens, solver.identifier(self.guise or self.puzzle), tag=self)

    def finish(self, done: Finished, solver: Solver) -> _Job | None:
        """Take the outcome of the attempt that stopped; the job again if it retries."""
        task, seconds = solver.task, time.perf_counter() - self.started
        if self.result is None:
            answer = task.decode(done.predictions, self.puzzle)
            self.result = SolveResult(self.index, self.puzzle, answer,
                                      task.verify(self.puzzle, answer), done.segments,
                                      done.q_halt, seconds)
        else:
            assert self.guise is not None and self.back is not None
            decoded = task.decode(done.predictions, self.guise)
            answer = None if decoded is None else self.back(decoded)
            result = self.result
            result.attempts = self.attempt + 1
            result.segments += done.segments
            result.seconds = seconds
            # Only the rules decide (never a known answer), so what `hrm solve --attempts`
            # reports is what a user without the answers would get.
            if task.verify(self.puzzle, answer):
                result.answer, result.verdict, result.q_halt = answer, True, done.q_halt
        if self.result.verdict is not False or self.attempt + 1 >= solver.attempts:
            return None
        variant = task.variant(self.puzzle, self.attempt + 1)
        if variant is None:
            return None
        self.attempt += 1
        self.guise, self.back = variant
        self.tokens = solver.encode(self.guise)
        return self


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


_END = object()
_NOTHING = object()


class InputFeed:
    """The items of an iterable, read on a daemon thread, so that a slow pipe never
    holds up the puzzles being solved.

        with InputFeed(items) as feed:
            item = feed.take(0)  # _NOTHING if none has arrived, _END at the end

    An exception while reading ends the feed; it is kept in `failure`, to be raised once
    the items read before it have been dealt with.
    """

    def __init__(self, items: Iterable[Any], maxsize: int = 256):
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self.failure: BaseException | None = None

    def __enter__(self) -> InputFeed:
        threading.Thread(target=self._produce, name="hrm-input-reader", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()

    def take(self, wait: float | None) -> Any:
        """The next item; `_NOTHING` if none arrives within `wait` seconds (None: block)."""
        try:
            value = self._queue.get(block=wait != 0, timeout=wait or None)
        except queue.Empty:
            return _NOTHING
        if isinstance(value, _Failure):
            self.failure = value.exc
            return _END
        return value

    def _put(self, value: object) -> bool:
        # Time-limited puts, so the thread notices when the consumer has gone away.
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(_Failure(exc))
            return
        self._put(_END)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "HALT_MODES",
    "DeviceError",
    "InputError",
    "InputFeed",
    "Record",
    "SolveResult",
    "Solver",
    "resolve_device",
]
