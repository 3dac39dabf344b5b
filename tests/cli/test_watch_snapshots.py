"""Snapshots of `hrm watch`'s key screens (pytest-textual-snapshot).

A scripted runner stands in for the model: it "converges" on the known answer over its
segments (fewer wrong cells, rising confidence and q_halt), so the screens show every mark
and stay byte-identical across machines and torch versions. Update after an intended
change of the UI with `pytest tests/cli/test_watch_snapshots.py --snapshot-update`, and
look at the new SVGs before committing them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from hrm.datasets import arc, maze, sudoku
from hrm.datasets.sudoku_solver import solve as solve_sudoku
from hrm.datasets.tasks import Puzzle, decode_lines, get_task
from hrm_cli.tui.app import WatchApp
from hrm_cli.tui.trace import Segment, make_segment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def read_puzzles(task: str, name: str) -> list[Puzzle]:
    path = EXAMPLES / name
    with open(path, "rb") as handle:
        items = list(get_task(task).read(decode_lines(handle), f"examples/{name}"))
    return [item for item in items if isinstance(item, Puzzle)]


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


class ScriptedRunner:
    """A deterministic stand-in for `Engine`: segment k has fewer wrong cells than k-1,
    higher confidence and a higher q_halt; q_halt passes q_continue at `halt_after`."""

    name = "scripted"
    device = "cpu"
    halting = "q-learning"

    def __init__(self, budget: int = 8, halt: str = "max", halt_after: int = 5):
        self.budget, self.halt, self.halt_after = budget, halt, halt_after

    def check(self, puzzle: Puzzle) -> None:
        pass

    def budget_for(self, puzzle: Puzzle) -> int:
        return self.budget

    def rollout(self, puzzles: Sequence[Puzzle]) -> Iterator[tuple[int, Segment]]:
        for row, puzzle in enumerate(puzzles):
            task = get_task(puzzle.task)
            target = self._target(puzzle)
            previous = None
            for k in range(self.budget):
                answer, confidence = self._guess(puzzle, target, k)
                # The latent state settles by half a decade per segment, slower where the
                # answer is still wrong.
                latent = np.where(answer != target, 10 ** (-0.25 * k), 0.5 * 10 ** (-0.5 * k))
                q_halt = _sigmoid(k - self.halt_after + 0.5)
                q_continue = _sigmoid(self.halt_after - k - 0.5)
                stop = k + 1 == self.budget or (self.halt == "adaptive" and q_halt > q_continue)
                previous = make_segment(task, puzzle, k, self._tokens(puzzle, answer),
                                        self._canvas(confidence, puzzle), q_halt, q_continue,
                                        stop, previous,
                                        self._canvas(latent.astype(np.float32), puzzle))
                yield row, previous
                if stop:
                    break

    def _target(self, puzzle: Puzzle) -> np.ndarray:
        if puzzle.expected is not None:
            return puzzle.expected
        if puzzle.task == "maze":
            return maze.solve(puzzle.grid)
        return solve_sudoku(puzzle.grid).solutions[0]

    def _guess(self, puzzle: Puzzle, target: np.ndarray, k: int
               ) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.RandomState(k)
        answer = target.copy()
        free = np.argwhere(puzzle.grid == 0 if puzzle.task == "sudoku"
                           else puzzle.grid == maze.OPEN if puzzle.task == "maze"
                           else np.ones(target.shape, dtype=bool))
        noise = {"sudoku": 0.5, "maze": 0.08, "arc": 0.3}[puzzle.task]
        wrong_count = round(len(free) * noise * max(0.0, 1 - k / self.halt_after))
        wrong = free[rng.permutation(len(free))[:wrong_count]]
        confidence = np.full(target.shape, min(0.99, 0.5 + 0.1 * k), dtype=np.float32)
        for r, c in wrong:
            if puzzle.task == "sudoku":
                answer[r, c] = rng.randint(1, target.shape[0] + 1)
            elif puzzle.task == "maze":
                answer[r, c] = maze.OPEN if target[r, c] == maze.PATH else maze.PATH
            else:
                answer[r, c] = rng.randint(0, 10)
            confidence[r, c] = 0.3 + 0.05 * k
        return answer, confidence

    @staticmethod
    def _tokens(puzzle: Puzzle, answer: np.ndarray) -> np.ndarray:
        if puzzle.task == "sudoku":
            return sudoku.encode(answer)
        if puzzle.task == "maze":
            return maze.encode(answer, canvas=maze.CANVAS)
        return arc.encode_grid(answer)

    @staticmethod
    def _canvas(confidence: np.ndarray, puzzle: Puzzle) -> np.ndarray:
        side = confidence.shape[0] if puzzle.task == "sudoku" else 30
        canvas = np.ones((side, side), dtype=np.float32)
        canvas[:confidence.shape[0], :confidence.shape[1]] = confidence
        return canvas.reshape(-1)


def make_app(task: str, name: str, runner: ScriptedRunner | None = None,
             fail: str | None = None) -> WatchApp:
    def load() -> ScriptedRunner:
        if fail:
            from hrm.inference.store import ModelNotFoundError

            raise ModelNotFoundError(fail)
        return runner or ScriptedRunner()

    return WatchApp(task, read_puzzles(task, name), load, source=f"examples/{name}")


async def settle(pilot) -> None:
    """Let the worker finish every puzzle and the app handle all it posted."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def test_sudoku_mid_rollout(snap_compare):
    # Segment 2 of 8: wrong digits (red where they conflict), changes, rising q_halt.
    app = make_app("sudoku", "sudoku.csv")
    assert snap_compare(app, press=["home", "right"], run_before=settle)


def test_sudoku_solved(snap_compare):
    app = make_app("sudoku", "sudoku.csv", ScriptedRunner(halt="adaptive"))
    assert snap_compare(app, run_before=settle)


def test_sudoku_16x16_compact(snap_compare):
    puzzle = Puzzle("sudoku", np.zeros((16, 16), dtype=np.uint8), "blank16.txt", 1, "line")
    puzzle.grid[0, :16] = np.arange(1, 17)
    app = WatchApp("sudoku", [puzzle], ScriptedRunner, source="blank16.txt")
    assert snap_compare(app, press=["home"], run_before=settle)


def test_maze_fits_80x24(snap_compare):
    app = make_app("maze", "maze.csv")
    assert snap_compare(app, press=["home", "right"], run_before=settle)


def test_maze_wide_terminal(snap_compare):
    app = make_app("maze", "maze.csv")
    assert snap_compare(app, press=["home", "right"], run_before=settle,
                        terminal_size=(140, 40))


def test_arc(snap_compare):
    app = make_app("arc", "arc-task.json")
    assert snap_compare(app, press=["home", "right"], run_before=settle)


def test_maze_latent_view(snap_compare):
    # `v`: the answer beside the heat map of the latent state, wrong cells still moving.
    app = make_app("maze", "maze-9x9-lines.txt")
    assert snap_compare(app, press=["home", "right", "v"], run_before=settle)


def test_help_screen(snap_compare):
    app = make_app("sudoku", "sudoku-4x4.txt")
    assert snap_compare(app, press=["question_mark"], run_before=settle)


def test_error_screen(snap_compare):
    app = make_app("sudoku", "sudoku.txt", fail="no model named 'nope' in the cache")
    assert snap_compare(app, run_before=settle)


@pytest.mark.parametrize("press", [["z"], ["z", "z"]])
def test_zoom_levels(snap_compare, press):
    app = make_app("maze", "maze-9x9-lines.txt")
    assert snap_compare(app, press=["home", *press], run_before=settle)
