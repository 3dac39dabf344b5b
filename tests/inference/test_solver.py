"""The batch solving engine: batching, streaming, halting records and verification."""

from __future__ import annotations

import io
import json
import threading
import time

import numpy as np
import pytest
import torch

from hrm.datasets import sudoku
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.tasks import IncompatibleModelError, get_task
from hrm.inference.solver import (
    DeviceError,
    InputError,
    InputFeed,
    Solver,
    SolveResult,
    resolve_device,
)
from hrm.model import HRM, ACTModel, HRMConfig
from hrm.model.act import SegmentOutput

PUZZLE = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
SOLUTION = "483921657967345821251876493548132976729564138136798245372689514814253769695417382"


def tiny(vocab_size: int = 11, seq_len: int = 81, seed: int = 0) -> HRM:
    torch.manual_seed(seed)
    model = HRM(HRMConfig.from_preset("tiny", vocab_size=vocab_size, seq_len=seq_len))
    with torch.no_grad():  # a Q head that sometimes halts, so adaptive halting is exercised
        model.q_head.weight.normal_(0, 0.5)
        model.q_head.bias.normal_()
    return model.eval()


class Oracle(ACTModel):
    """A model whose segment predicts the known solution of each sudoku it is given (and
    garbage for unknown ones) and halts after `halt_after` segments (or after the first
    given's digit, with `halt_after` None): the tests can check that a right answer goes
    all the way to `solved`, and which puzzle left which row when. Its state counts the
    segments each row has run; `batches` records the rows of every segment."""

    def __init__(self, solutions: dict[str, str], halt_after: int | None = 2):
        super().__init__()
        self.config = HRMConfig.from_preset("tiny", vocab_size=11, seq_len=81,
                                            halt_max_steps=16)
        self.register_buffer("H_init", torch.zeros(1))
        self.register_buffer("L_init", torch.zeros(1))
        self.puzzle_emb = None
        self.halt_after = halt_after
        self.solutions = {
            sudoku.encode(_grid(p)).tobytes(): sudoku.encode(_grid(s)) for p, s in solutions.items()
        }
        self.batches: list[int] = []

    def initial_state(self, batch_size, seq_len=None):
        return torch.zeros(batch_size, 1, 1), torch.zeros(batch_size, 1, 1)

    def _segment_eager(self, z_H, z_L, inputs, puzzle_identifiers):
        self.batches.append(inputs.shape[0])
        z_H = z_H + 1
        targets = np.stack([
            self.solutions.get(row.astype(np.uint8).tobytes(), np.full(81, 2, np.uint8))
            for row in inputs.numpy()
        ])
        logits = torch.nn.functional.one_hot(torch.from_numpy(targets).long(), 11).float() * 5
        if self.halt_after is None:  # the first given's digit (token 1 + digit)
            first = torch.stack([row[row > 1][0] - 1 for row in inputs])
            halts = z_H[:, 0, 0] >= first
        else:
            halts = z_H[:, 0, 0] >= self.halt_after
        q_halt = torch.where(halts, 3.0, -3.0)
        return SegmentOutput(z_H, z_L, logits, q_halt, torch.zeros_like(q_halt))


def _grid(text: str) -> np.ndarray:
    return np.array([0 if c == "." else int(c) for c in text], dtype=np.uint8).reshape(9, 9)


def puzzles(text: str, source: str = "in.txt"):
    return list(get_task("sudoku").read(io.StringIO(text), source))


def test_a_right_answer_is_reported_solved():
    solver = Solver(Oracle({PUZZLE: SOLUTION}), "sudoku", halt="adaptive")
    other = "4" + PUZZLE[1:]  # a valid puzzle the oracle does not know
    [good, bad] = solver.solve(puzzles(f"{PUZZLE}\n{other}\n"))
    assert good.solved and good.verdict is True
    assert get_task("sudoku").format_answer(good.puzzle, good.answer) == SOLUTION
    assert good.segments == 2 and good.q_halt == pytest.approx(1 / (1 + np.exp(-3)))
    assert bad.verdict is False and not bad.solved


def test_default_checked_halting_runs_a_rule_breaking_answer_to_its_budget():
    other = "4" + PUZZLE[1:]  # the oracle answers it with garbage, which breaks the rules
    given = puzzles(f"{PUZZLE}\n{other}\n")
    adaptive = Solver(Oracle({PUZZLE: SOLUTION}), "sudoku", halt="adaptive",
                      max_segments=6).solve(given)
    checked = Solver(Oracle({PUZZLE: SOLUTION}), "sudoku", max_segments=6).solve(given)
    assert [r.segments for r in adaptive] == [2, 2]
    # the right answer still stops where the Q head says; the broken one runs on
    assert [r.segments for r in checked] == [2, 6]
    assert [r.verdict for r in checked] == [True, False]


def test_halting_checked_stops_only_on_answers_that_keep_the_rules():
    [puzzle] = puzzles(PUZZLE + "\n")
    right = sudoku.encode(_grid(SOLUTION))
    solver = Solver(Oracle({PUZZLE: SOLUTION}), "sudoku", halt="checked")
    assert solver.accepts(puzzle, right)
    broken = right.copy()
    broken[[0, 1]] = broken[[1, 0]]  # two cells of a row swapped: both columns repeat
    assert not solver.accepts(puzzle, broken)


def test_halt_max_runs_the_whole_budget():
    solver = Solver(Oracle({PUZZLE: SOLUTION}), "sudoku", halt="max", max_segments=6)
    [result] = solver.solve(puzzles(PUZZLE + "\n"))
    assert result.segments == 6 and result.solved


def test_records_from_a_real_model():
    model = tiny()
    items = puzzles("\n".join([PUZZLE] * 5) + "\n")
    adaptive = Solver(model, "sudoku", halt="adaptive", batch_size=2).solve(items)
    assert [r.index for r in adaptive] == [0, 1, 2, 3, 4]
    for result in adaptive:
        assert 1 <= result.segments <= model.config.halt_max_steps
        assert 0.0 < result.q_halt < 1.0 and result.seconds >= 0
        assert result.answer.shape == (9, 9)
        assert result.verdict is sudoku.verify(result.puzzle.grid, result.answer)
    maximal = Solver(model, "sudoku", halt="max", max_segments=3).solve(items)
    assert {r.segments for r in maximal} == {3}


def test_halted_rows_are_refilled_at_once():
    oracle = Oracle({PUZZLE: SOLUTION})
    Solver(oracle, "sudoku", batch_size=3).solve(puzzles("\n".join([PUZZLE] * 7) + "\n"))
    # Each puzzle halts after 2 segments; its row takes the next puzzle right away.
    assert oracle.batches == [3, 3, 3, 3, 1, 1]


def test_solve_items_keeps_order_and_passes_errors_through():
    oracle = Oracle({PUZZLE: SOLUTION})
    small = "1.3..4....1....."  # a 4x4 board: does not fit an 81-token model
    text = f"{PUZZLE}\n123\n{PUZZLE}\n"
    items = puzzles(text) + puzzles(small + "\n", "small.txt")
    records = list(Solver(oracle, "sudoku", batch_size=8).solve_items(items))
    assert [type(r) for r in records] == [SolveResult, InputError, SolveResult, InputError]
    assert [r.index for r in records] == [0, 1, 2, 3]
    assert records[1].location == "in.txt:2"
    assert "4x4" in records[3].message and records[3].location == "small.txt:1"
    assert oracle.batches == [2, 2]  # the two puzzles ran as one batch


def test_solve_items_answers_before_the_input_ends():
    """A pause in the input flushes a partial batch: a pipe gets answers while it streams."""
    second_line_wanted = threading.Event()
    release = threading.Event()

    def slow_lines():
        yield PUZZLE + "\n"
        second_line_wanted.set()
        assert release.wait(10), "the first answer waited for the second line"
        yield PUZZLE + "\n"

    solver = Solver(Oracle({PUZZLE: SOLUTION}), "sudoku", batch_size=64)
    records = solver.solve_items(get_task("sudoku").read(slow_lines(), "<stdin>"))
    first = next(records)
    assert first.solved and not release.is_set()
    release.set()
    assert next(records).index == 1
    assert list(records) == []


def test_a_reading_error_is_raised_after_the_items_before_it():
    def broken():
        yield 1
        raise OSError("disk on fire")

    with InputFeed(broken()) as feed:
        assert feed.take(None) == 1
        assert feed.take(None) != 1 and feed.failure is not None
    assert str(feed.failure) == "disk on fire"

    def lines():
        yield PUZZLE + "\n"
        raise OSError("disk on fire")

    records = Solver(Oracle({PUZZLE: SOLUTION}), "sudoku").solve_items(
        get_task("sudoku").read(lines(), "<stdin>"))
    assert next(records).solved
    with pytest.raises(OSError, match="disk on fire"):
        next(records)


def test_the_reader_stops_when_the_consumer_leaves():
    produced = []

    def endless():
        for i in range(10_000):
            produced.append(i)
            yield i

    with InputFeed(endless(), maxsize=1) as feed:
        feed.take(None)
    time.sleep(0.3)
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) == count < 10_000  # blocked on the full queue, then gave up


def test_incompatible_model_and_bad_settings():
    with pytest.raises(IncompatibleModelError):
        Solver(tiny(), "maze")
    with pytest.raises(ValueError, match="halt"):
        Solver(tiny(), "sudoku", halt="sometimes")
    with pytest.raises(ValueError, match="batch_size"):
        Solver(tiny(), "sudoku", batch_size=0)


def test_arc_identifiers_pick_the_puzzle_embedding_row():
    torch.manual_seed(0)
    model = HRM(HRMConfig.from_preset("tiny", vocab_size=12, seq_len=900,
                                      num_puzzle_identifiers=3)).eval()
    solver = Solver(model, "arc", identifiers={"known": 2, "too-big": 7})
    tasks = {name: {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]]}]}
             for name in ("known", "unseen", "too-big")}
    puzzles = list(get_task("arc").read([json.dumps(tasks)], "t.json"))
    assert [solver.identifier(p) for p in puzzles] == [2, 0, 0]
    results = solver.solve(puzzles)
    assert [r.verdict for r in results] == [None] * 3  # no expected output: unverified
    assert not any(r.solved for r in results)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type in (expected, "mps")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")
    with pytest.raises(DeviceError, match="cuda:N"):
        resolve_device("cuda:x")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA"):
            resolve_device("cuda:0")


def test_errors_are_user_errors():
    from hrm.datasets.errors import HRMDataError

    assert issubclass(DeviceError, HRMDataError)
    assert issubclass(PuzzleParseError, HRMDataError)


def test_a_grid_model_solves_mazes_of_any_shape_and_budgets_by_size():
    from hrm.datasets import maze_kinds
    from hrm.datasets.tasks import Puzzle
    from hrm.model.grid import GridHRM, GridHRMConfig

    torch.manual_seed(0)
    model = GridHRM(GridHRMConfig.from_preset("tiny", vocab_size=6, seq_len=64)).eval()
    shapes = [(9, 13), (40, 40), (7, 7)]
    puzzles = [Puzzle("maze", maze_kinds.make("walls", h, w, seed=0, index=i)[0], "m", i + 1,
                      "grid") for i, (h, w) in enumerate(shapes)]
    solver = Solver(model, "maze", halt="max", batch_size=8)
    together = solver.solve(puzzles)
    assert [r.answer.shape for r in together] == shapes
    # Each maze's own budget: 4 segments (the tiny preset's) per 8 cells of side beyond 8.
    assert [r.segments for r in together] == [7, 20, 4]
    alone = [Solver(model, "maze", halt="max").solve([p])[0] for p in puzzles]
    for a, b in zip(together, alone, strict=True):
        # padding to the batch's largest maze changes nothing
        assert np.array_equal(a.answer, b.answer) and a.segments == b.segments
    with pytest.raises(IncompatibleModelError, match="no size-free encoding"):
        get_task("sudoku").encode_grid(Puzzle("sudoku", np.zeros((9, 9)), "s", 1, "line"))


def test_solve_dtype_auto_is_bfloat16_only_on_cuda():
    from hrm.inference.devices import solve_dtype

    cpu = torch.device("cpu")
    assert solve_dtype("float32", cpu) == "float32"
    assert solve_dtype("bfloat16", cpu) == "bfloat16"
    assert solve_dtype("auto", torch.device("cuda", 0)) == "bfloat16"
    assert solve_dtype("auto", torch.device("mps")) == "float32"
    assert solve_dtype("auto", cpu) == "float32"
    with pytest.raises(DeviceError, match="unknown dtype"):
        solve_dtype("float64", cpu)
