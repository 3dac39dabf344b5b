"""Continuous batching: halted rows are refilled at once, and nothing of a puzzle's answer
depends on the puzzles that share its batch."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
import torch

from hrm.datasets import maze_kinds, sudoku
from hrm.datasets.tasks import Puzzle, get_task
from hrm.inference.continuous import ContinuousRollout
from hrm.inference.solver import Solver
from hrm.model.architectures import build_model, config_from_preset
from tests.inference.test_solver import PUZZLE, SOLUTION, Oracle

SUDOKU = get_task("sudoku")


def read(text: str) -> list[Puzzle]:
    return list(SUDOKU.read(io.StringIO(text), "in.txt"))


def relabelled(count: int) -> list[tuple[str, str]]:
    """`count` different valid sudokus with their solutions: PUZZLE in other guises."""
    [puzzle], [solution] = read(PUZZLE + "\n"), read(SOLUTION + "\n")
    pairs = []
    for k in range(1, count + 1):
        guise, _ = SUDOKU.variant(puzzle, k)
        answer, _ = SUDOKU.variant(solution, k)  # the same transform of the solution
        pairs.append((SUDOKU.format_answer(guise, guise.grid),
                      SUDOKU.format_answer(answer, answer.grid)))
    return pairs


def test_rows_that_halt_out_of_order_keep_their_own_answers():
    """Each puzzle halts after as many segments as its first given's digit, so rows leave
    the batch out of order and new puzzles land in rows that others held before."""
    pairs = relabelled(12)
    oracle = Oracle(dict(pairs), halt_after=None)
    items = read("".join(puzzle + "\n" for puzzle, _ in pairs))
    results = Solver(oracle, "sudoku", batch_size=3).solve(items)
    assert [r.index for r in results] == list(range(12))
    for result, (_, solution) in zip(results, pairs, strict=True):
        assert result.solved
        assert SUDOKU.format_answer(result.puzzle, result.answer) == solution
        first_digit = int(next(c for c in SUDOKU.format_answer(result.puzzle, result.puzzle.grid)
                               if c != "."))
        assert result.segments == first_digit
    assert max(oracle.batches) == 3
    assert len(set(r.segments for r in results)) > 3  # the halting times do differ
    # Rows were refilled as they emptied: the batch was full until the input ran out.
    full_until = sum(r.segments for r in results) // 3 - 9
    assert all(size == 3 for size in oracle.batches[:full_until])


def test_a_retry_takes_the_next_free_row():
    """The oracle knows only the first variant of the puzzle: the first attempt fails,
    the retry in that guise passes, and it runs while later puzzles are being solved."""
    [(guise, guise_solution)] = relabelled(1)
    other, other_solution = relabelled(2)[1]
    oracle = Oracle({guise: guise_solution, other: other_solution}, halt_after=2)
    items = read(f"{PUZZLE}\n{other}\n{other}\n{other}\n")
    # adaptive: the oracle's wrong first answer ends that attempt after 2 segments
    results = Solver(oracle, "sudoku", halt="adaptive", batch_size=2, attempts=3).solve(items)
    first = results[0]
    assert first.solved and first.attempts == 2 and first.segments == 4
    assert SUDOKU.format_answer(first.puzzle, first.answer) == SOLUTION
    assert [r.attempts for r in results[1:]] == [1, 1, 1]
    # Segments 3-4 ran the retry beside the third puzzle (a retry after the batch would
    # give [2, 2, 1, 1, 2, 2]).
    assert oracle.batches == [2, 2, 2, 2, 1, 1]


def random_puzzles(count: int, seed: int) -> list[Puzzle]:
    """Valid-looking sudokus (no repeated givens), most without a solution the tiny models
    could find: every one fails, so every attempt runs."""
    rng = np.random.default_rng(seed)
    pairs = relabelled(count)
    lines = []
    for puzzle, _ in pairs:
        cells = list(puzzle)
        for i in rng.choice(81, size=int(rng.integers(0, 20)), replace=False):
            cells[i] = "."
        lines.append("".join(cells))
    return read("\n".join(lines) + "\n")


def tiny(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(config_from_preset(arch, "tiny", vocab_size=11, seq_len=81,
                                           halt_max_steps=6))
    with torch.no_grad():  # a Q head that halts at different segments for each puzzle
        model.q_head.weight.normal_(0, 0.5)
        model.q_head.bias.normal_(0, 0.5)
    return model.eval()


@pytest.mark.parametrize("arch", ["hrm", "trm", "trm-mlp"])
@pytest.mark.parametrize("halt", ["adaptive", "max"])
def test_every_answer_is_bit_identical_to_solving_the_puzzle_alone(arch, halt):
    model = tiny(arch)
    items = random_puzzles(10, seed=1)
    together = Solver(model, "sudoku", halt=halt, batch_size=4, attempts=3).solve(items)
    assert [r.index for r in together] == list(range(10))
    for result, puzzle in zip(together, items, strict=True):
        [alone] = Solver(model, "sudoku", halt=halt, batch_size=1, attempts=3).solve([puzzle])
        assert np.array_equal(result.answer, alone.answer)
        assert (result.segments, result.attempts, result.verdict) == \
               (alone.segments, alone.attempts, alone.verdict)
        assert result.q_halt == pytest.approx(alone.q_halt, rel=1e-5)
    if halt == "adaptive":
        assert len({r.segments for r in together}) > 1


def test_grids_of_different_sizes_share_a_canvas_that_grows_and_shrinks():
    from hrm.model.grid import GridHRM, GridHRMConfig

    torch.manual_seed(0)
    model = GridHRM(GridHRMConfig.from_preset("tiny", vocab_size=6, seq_len=64)).eval()
    shapes = [(7, 7), (20, 20), (9, 13), (5, 5), (6, 11), (8, 8), (7, 7), (9, 9)]
    mazes = [maze_kinds.make("walls", h, w, seed=3, index=i)[0] for i, (h, w) in enumerate(shapes)]
    engine = ContinuousRollout(model, capacity=3, halt="max")
    tokens = [get_task("maze").encode_grid(Puzzle("maze", m, "m", i + 1, "grid"))
              for i, m in enumerate(mazes)]
    waiting, finished, canvases = list(enumerate(tokens)), {}, []
    engine.add(waiting.pop(0)[1], tag=0)  # a first step with the 7x7 maze alone
    assert engine.step() == []
    canvases.append(engine._side)
    while waiting or len(engine):
        while engine.free and waiting:
            index, grid = waiting.pop(0)
            engine.add(grid, tag=index)
        for done in engine.step():
            finished[done.tag] = done
        canvases.append(engine._side)
    # It grew for the 20x20 maze and shrank once that one was done.
    assert canvases[0] == 7 and canvases[1] == 20 and canvases[-1] < 20
    # An emptied batch starts over at the size of what comes next.
    engine.add(tokens[3], tag="again")  # 5x5
    [done] = [f for _ in range(4) for f in engine.step()]
    assert engine._side == 5 and done.predictions.shape == (25,)
    for index, grid in enumerate(tokens):
        alone = ContinuousRollout(model, capacity=1, halt="max")
        alone.add(grid, tag=index)
        done = []
        while len(alone):
            done += alone.step()
        assert done[0].segments == finished[index].segments
        assert done[0].predictions.shape == (grid.size,)
        assert np.array_equal(done[0].predictions, finished[index].predictions)


def test_the_engine_refuses_what_does_not_fit():
    model = tiny("hrm")
    engine = ContinuousRollout(model, capacity=1)
    engine.add(sudoku.encode(np.zeros((9, 9), dtype=np.uint8)).astype(np.int64))
    with pytest.raises(RuntimeError, match="full"):
        engine.add(np.zeros(81, dtype=np.int64))
    with pytest.raises(ValueError, match="capacity"):
        ContinuousRollout(model, capacity=0)
    with pytest.raises(ValueError, match="halt"):
        ContinuousRollout(model, capacity=1, halt="sometimes")


def test_a_slow_pipe_gets_answers_while_the_batch_is_running():
    """The second puzzle arrives while the first is still running: it joins that batch
    (two rows at once), and the first answer still comes before the input ends."""
    pairs = relabelled(40)
    first_digit = [int(next(c for c in p if c != ".")) for p, _ in pairs]
    slow, quick = pairs[first_digit.index(9)], pairs[first_digit.index(2)]
    running, release = threading.Event(), threading.Event()

    class Slow(Oracle):  # 50 ms a segment: the first puzzle runs for 0.45 s
        def _segment_eager(self, *args):
            running.set()
            time.sleep(0.05)
            return super()._segment_eager(*args)

    def lines():
        yield slow[0] + "\n"
        assert running.wait(10), "the first puzzle waited for the second line"
        yield quick[0] + "\n"
        assert release.wait(10), "an answer waited for the end of the input"

    oracle = Slow(dict(pairs), halt_after=None)  # halts after its first given's digit
    records = Solver(oracle, "sudoku", batch_size=8).solve_items(SUDOKU.read(lines(), "<stdin>"))
    first = next(records)
    assert first.solved and first.index == 0 and first.segments == 9
    assert next(records).index == 1
    release.set()
    assert list(records) == []
    assert oracle.batches.count(2) == 2  # the second puzzle ran beside the first
