"""`hrm eval --attempts N`: what `hrm solve --attempts N` gets on a labelled split.

Each example of the split becomes a puzzle (its labels the expected answer) and goes
through the same `Solver` as `hrm solve`: adaptive halting, and a puzzle whose answer breaks
the rules is tried again under up to N-1 symmetries of its task. Only the rules decide
whether to retry and which answer to keep, never the label, so the figures are what a user
without the answers gets. A kept answer that passes the rules but differs from the label
(another solution of a sudoku with several, another shortest path) counts as solved, as
the maze's other shortest paths do in `evaluate`, and is counted apart.

The first attempt repeats the adaptive rollout of `evaluate`, which cannot be reused: it
runs every example to the full budget and keeps only sums.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrm.datasets.format import load_split
from hrm.datasets.tasks import Puzzle, get_task, tasks_where
from hrm.inference.errors import InferenceError
from hrm.inference.solver import DEFAULT_HALT, Solver
from hrm.model import IGNORE_LABEL_ID, ACTModel


@dataclass
class AttemptsResult:
    """Solved fractions within 1, 2, 4, ... attempts; fractions in [0, 1]."""

    attempts: int
    examples: int
    solved_within: dict[int, float]
    mean_segments: float
    """Segments run per example, all attempts together."""
    other_answers: int
    """Solved examples whose kept answer passes the rules but is not the label."""
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "examples": self.examples,
            "solved_within": {str(k): v for k, v in self.solved_within.items()},
            "mean_segments": self.mean_segments,
            "other_answers": self.other_answers,
            "seconds": round(self.seconds, 3),
        }


def attempt_budgets(attempts: int) -> list[int]:
    """Attempt counts to report: powers of two below `attempts`, and `attempts`."""
    return sorted({k for k in (1, 2, 4, 8, 16, 32) if k < attempts} | {attempts})


def check_retries(task: str | None) -> None:
    """InferenceError unless the rules of `task` can check its answers, which retrying
    needs (ARC's cannot be: it is never retried)."""
    if task is None or not get_task(task).checks_answers:
        able = ", ".join(tasks_where(lambda spec: spec.checks_answers))
        whose = f"{task} answers" if task else "this model's answers"
        raise InferenceError(f"--attempts needs answers the rules can check ({able}); "
                             f"{whose} cannot be")


def split_puzzles(task: str, folder: Path, split: str = "test") -> list[Puzzle]:
    """The labelled examples of a built split as puzzles, their labels as expected answers."""
    check_retries(task)
    examples = load_split(folder, split).all
    where = str(Path(folder) / split)
    decode = get_task(task).split_decoder(folder, split)
    puzzles = []
    for row, (inputs, labels) in enumerate(zip(examples.inputs, examples.labels, strict=True)):
        if not np.any(labels != IGNORE_LABEL_ID):
            continue  # nothing to score, as in `evaluate`
        grid, expected = decode(inputs), decode(labels)
        puzzles.append(Puzzle(task, grid, f"{where}[{row}]", None, "line", expected))
    return puzzles


def evaluate_attempts(model: ACTModel, task: str, folder: Path, *, attempts: int,
                      split: str = "test", max_segments: int | None = None,
                      batch_size: int = 256,
                      progress: Callable[[int, int], None] | None = None) -> AttemptsResult:
    """Solve every labelled example of `folder`/`split` with up to `attempts` attempts."""
    started = time.perf_counter()
    puzzles = split_puzzles(task, folder, split)
    solver = Solver(model, get_task(task), halt=DEFAULT_HALT, max_segments=max_segments,
                    batch_size=batch_size, attempts=attempts)
    results = []
    for result in solver.iter_solve(puzzles):
        results.append(result)
        if progress is not None and (len(results) % batch_size == 0
                                     or len(results) == len(puzzles)):
            progress(len(results), len(puzzles))
    n = max(len(results), 1)
    within = {k: sum(r.solved and r.attempts <= k for r in results) / n
              for k in attempt_budgets(attempts)}
    other = sum(r.solved and not np.array_equal(r.answer, r.puzzle.expected) for r in results)
    return AttemptsResult(
        attempts=attempts,
        examples=len(results),
        solved_within=within,
        mean_segments=sum(r.segments for r in results) / n,
        other_answers=int(other),
        seconds=time.perf_counter() - started,
    )
