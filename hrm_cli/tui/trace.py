"""What `hrm watch` records of a rollout: one `Segment` per ACT segment of a puzzle.

Only numpy and the task adapters: the board, the ACT panel, `--export` and the tests build
and read segments without torch or Textual. `make_segment` turns one segment's predicted
tokens and probabilities into everything the screens show (answer grid, per-cell
confidence, changed / rule-breaking / wrong cells, verdict).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hrm.datasets.tasks import Puzzle, Task


@dataclass(frozen=True)
class Segment:
    """One ACT segment of one puzzle, as the screens show it.

    Masks have the shape of `answer`. `changed` compares with the previous segment's answer
    (the input grid for the first segment); `wrong` with the answer the input carried (None
    when it carried none); `bad` marks cells that break the task's rules.
    """

    index: int  # 0-based: segment `index + 1` of the rollout
    answer: np.ndarray | None  # None: an ARC prediction in which no grid can be read
    confidence: np.ndarray | None  # max softmax probability of each answer cell
    q_halt: float  # sigmoid of the Q head's halt logit
    q_continue: float  # sigmoid of its continue logit
    halted: bool  # the rollout stopped this puzzle after this segment
    verdict: bool | None  # task.verify: True, False, or None (ARC without a known output)
    text: str  # the answer in the puzzle's own layout, as `hrm solve` prints it
    bad: np.ndarray | None = None
    wrong: np.ndarray | None = None
    changed: np.ndarray | None = None
    mean_confidence: float | None = None  # over the cells the model has to fill
    # How far each cell's latent state z_L moved in this segment (RMS over its features);
    # None when the runner does not record it.
    latent_change: np.ndarray | None = None

    @property
    def wants_halt(self) -> bool:
        """The adaptive rule: halt after the first segment with q_halt > q_continue."""
        return self.q_halt > self.q_continue

    @property
    def changed_count(self) -> int:
        return 0 if self.changed is None else int(self.changed.sum())

    @property
    def bad_count(self) -> int:
        return 0 if self.bad is None else int(self.bad.sum())

    @property
    def wrong_count(self) -> int:
        return 0 if self.wrong is None else int(self.wrong.sum())


@dataclass
class PuzzleTrace:
    """A puzzle and the segments recorded for it so far (filled in as they arrive)."""

    puzzle: Puzzle
    segments: list[Segment] = field(default_factory=list)
    running: bool = False
    finished: bool = False
    error: str | None = None  # the puzzle cannot run on this model (e.g. a 4x4 on a 9x9 model)

    @property
    def halt_at(self) -> int | None:
        """0-based segment where adaptive halting stops (first q_halt > q_continue)."""
        return next((s.index for s in self.segments if s.wants_halt), None)

    @property
    def status(self) -> str:
        """pending, running, error, or the last segment's solved/unsolved/unverified."""
        if self.error is not None:
            return "error"
        if not self.finished:
            return "running" if self.running else "pending"
        return {True: "solved", False: "unsolved", None: "unverified"}[self.segments[-1].verdict]

    def reset(self) -> None:
        """Forget a rollout that was abandoned half-way (it will run again from the start)."""
        self.segments.clear()
        self.running = self.finished = False


class Runner(Protocol):
    """A model ready to roll out puzzles (`engine.Engine`; tests pass scripted ones)."""

    name: str  # the model, as the user knows it
    device: str
    halt: str  # "adaptive" or "max"
    halting: str  # the model's rule: "q-learning" or "halt-only" (q_continue fixed)
    budget: int  # the most segments a rollout runs (of a trained-size puzzle)

    def check(self, puzzle: Puzzle) -> None:
        """Raise PuzzleParseError if the puzzle cannot run on this model."""

    def budget_for(self, puzzle: Puzzle) -> int:
        """The most segments this puzzle's rollout runs (more for a large maze on a model of
        any size)."""

    def rollout(self, puzzles: Sequence[Puzzle]) -> Iterator[tuple[int, Segment]]:
        """(position in `puzzles`, segment) for every puzzle computed in every segment."""


# --------------------------------------------------------------------------- building


def make_segment(task: Task, puzzle: Puzzle, index: int, tokens: np.ndarray,
                 confidence: np.ndarray, q_halt: float, q_continue: float, halted: bool,
                 previous: Segment | None, latent_change: np.ndarray | None = None
                 ) -> Segment:
    """A `Segment` from one sequence's predicted tokens and their probabilities.

    `tokens`, `confidence` and `latent_change` are (seq_len,) arrays over the model's
    square canvas; the answer sits in its top-left corner for every task, so the per-cell
    grids are the same crop of the canvas.
    """
    answer = task.decode(tokens, puzzle)
    before = puzzle.grid if previous is None else previous.answer
    cell_confidence = _crop(confidence, answer)
    fill = task.free_cells(puzzle, answer)
    mean = None
    if cell_confidence is not None and fill is not None and fill.any():
        mean = float(cell_confidence[fill].mean())
    return Segment(
        index=index,
        answer=answer,
        confidence=cell_confidence,
        q_halt=float(q_halt),
        q_continue=float(q_continue),
        halted=bool(halted),
        verdict=task.verify(puzzle, answer),
        text=task.format_answer(puzzle, answer),
        bad=task.bad_cells(puzzle, answer),
        wrong=_differs(answer, puzzle.expected) if puzzle.expected is not None else None,
        changed=_differs(answer, before),
        mean_confidence=mean,
        latent_change=None if latent_change is None else _crop(latent_change, answer),
    )


def _crop(values: np.ndarray, answer: np.ndarray | None) -> np.ndarray | None:
    values = np.asarray(values).reshape(-1)
    side = math.isqrt(values.size)
    if answer is None or side * side != values.size:
        return None
    h, w = answer.shape
    return values.reshape(side, side)[:h, :w].astype(np.float32)


def _differs(answer: np.ndarray | None, other: np.ndarray | None) -> np.ndarray | None:
    """Cells of `answer` unlike `other`; every cell when the shapes differ (ARC)."""
    if answer is None:
        return None
    if other is None or other.shape != answer.shape:
        return np.ones(answer.shape, dtype=bool)
    return answer != other


# --------------------------------------------------------------------------- export


def export_puzzle(index: int, trace: PuzzleTrace, task: Task) -> dict[str, Any]:
    """The `--export` record of one puzzle (see the README's "Watching the model think")."""
    puzzle = trace.puzzle
    record: dict[str, Any] = {"index": index, "source": puzzle.location}
    if puzzle.name:
        record["name"] = puzzle.name
    record["input"] = task.format_input(puzzle)
    record["expected"] = (None if puzzle.expected is None
                          else task.format_answer(puzzle, puzzle.expected))
    if trace.error is not None:
        record["error"] = trace.error
        return record
    halt_at = trace.halt_at
    record["adaptive_halt_segment"] = None if halt_at is None else halt_at + 1
    record["segments"] = [_export_segment(s) for s in trace.segments]
    return record


def _export_segment(segment: Segment) -> dict[str, Any]:
    mean = segment.mean_confidence
    return {
        "segment": segment.index + 1,
        "answer": segment.text,
        "q_halt": round(segment.q_halt, 6),
        "q_continue": round(segment.q_continue, 6),
        "halted": segment.halted,
        "verified": segment.verdict,
        "changed_cells": segment.changed_count,
        "mean_confidence": None if mean is None else round(mean, 6),
    }


__all__ = ["PuzzleTrace", "Runner", "Segment", "export_puzzle", "make_segment"]
