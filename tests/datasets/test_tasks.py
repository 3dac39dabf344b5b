"""The task adapter: reading, encoding, decoding, verifying and formatting for every task."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from hrm.datasets import maze, sudoku
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.tasks import (
    IncompatibleModelError,
    Puzzle,
    bundle_task_name,
    decode_lines,
    get_task,
    task_metadata,
)

PUZZLE = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
SOLUTION = "483921657967345821251876493548132976729564138136798245372689514814253769695417382"
MAZE = ["#######", "#S    #", "# ### #", "#   #G#", "#######"]
ARC_TASKS = {
    "good": {"train": [{"input": [[1]], "output": [[2]]}],
             "test": [{"input": [[3, 4]], "output": [[4, 3]]}, {"input": [[5]]}]},
    "ragged": {"train": [{"input": [[1, 2], [3]], "output": [[2]]}],
               "test": [{"input": [[3]]}]},
}


def read(task: str, text: str, source: str = "in.txt") -> list:
    return list(get_task(task).read(io.StringIO(text), source))


def grid(text: str) -> np.ndarray:
    return np.array([int(c) if c != "." else 0 for c in text], dtype=np.uint8).reshape(9, 9)


# --------------------------------------------------------------------------- sudoku


def test_sudoku_reads_lines_and_grids_with_locations():
    grid_text = sudoku.format_grid(grid(PUZZLE))
    items = read("sudoku", f"{PUZZLE}\n{grid_text}\n")
    assert [p.location for p in items] == ["in.txt:1", "in.txt:2"]
    assert [p.layout for p in items] == ["line", "grid"]
    assert np.array_equal(items[0].grid, items[1].grid)


def test_sudoku_csv_carries_the_expected_answer():
    items = read("sudoku", f"source,question,answer,rating\nx,{PUZZLE},{SOLUTION},3\n")
    assert items[0].location == "in.txt:2"
    assert sudoku.format_line(items[0].expected) == SOLUTION


def test_sudoku_encode_decode_verify_format():
    task = get_task("sudoku")
    puzzle = read("sudoku", PUZZLE + "\n")[0]
    tokens = task.encode(puzzle, 81)
    assert tokens.shape == (81,) and tokens.dtype == np.uint8 and tokens.max() <= 10
    answer = task.decode(sudoku.encode(grid(SOLUTION)), puzzle)
    assert task.verify(puzzle, answer) is True
    assert not task.bad_cells(puzzle, answer).any()
    assert task.format_answer(puzzle, answer) == SOLUTION
    as_grid = Puzzle("sudoku", puzzle.grid, "f", 1, "grid")
    assert task.format_answer(as_grid, answer) == sudoku.format_grid(answer)
    assert task.one_line(answer) == SOLUTION


def test_sudoku_bad_answers_are_marked():
    task = get_task("sudoku")
    puzzle = read("sudoku", PUZZLE + "\n")[0]
    wrong = grid(SOLUTION)
    wrong[0, 0], wrong[0, 1] = wrong[0, 1], wrong[0, 0]  # rows stay permutations, columns not
    assert task.verify(puzzle, wrong) is False
    assert task.bad_cells(puzzle, wrong)[0, 0]
    changed_given = grid(SOLUTION)
    changed_given[0, 2] = 0  # a given (3) erased
    bad = task.bad_cells(puzzle, changed_given)
    assert bad[0, 2] and task.verify(puzzle, changed_given) is False


def test_sudoku_rich_rendering_tells_givens_filled_and_bad_cells_apart():
    task = get_task("sudoku")
    puzzle = read("sudoku", PUZZLE + "\n")[0]
    wrong = grid(SOLUTION)
    wrong[0, 0] = wrong[0, 1]
    text = task.render_rich(puzzle, wrong)
    styles = {str(span.style) for span in text.spans}
    assert {"bold", "cyan", "bold white on red"} <= styles


def test_sudoku_model_checks():
    task = get_task("sudoku")
    task.check_model(11, 81)
    task.check_model(6, 16)
    with pytest.raises(IncompatibleModelError, match="81"):
        task.check_model(11, 900)
    with pytest.raises(IncompatibleModelError, match="11"):
        task.check_model(12, 81)
    small = read("sudoku", "1.3..4....1.....\n")[0]
    assert task.model_shape(small) == (16, 6)
    with pytest.raises(PuzzleParseError, match="4x4") as info:
        task.encode(small, 81)
    assert info.value.location == "in.txt:1"


def test_sudoku_reading_streams():
    """The first puzzle comes out before the second line is even read."""
    def lines():
        yield PUZZLE + "\n"
        raise AssertionError("read too far")

    first = next(iter(get_task("sudoku").read(lines(), "<stdin>")))
    assert first.location == "<stdin>:1"


# --------------------------------------------------------------------------- maze


def test_maze_is_padded_into_the_models_canvas_and_cropped_back():
    task = get_task("maze")
    puzzle = read("maze", "\n".join(MAZE) + "\n")[0]
    assert puzzle.layout == "grid" and puzzle.grid.shape == (5, 7)
    tokens = task.encode(puzzle, 900)
    canvas = tokens.reshape(30, 30)
    assert np.array_equal(canvas[:5, :7], puzzle.grid + 1)
    assert np.all(canvas[5:, :] == maze.WALL + 1) and np.all(canvas[:, 7:] == maze.WALL + 1)
    solution = maze.solve(puzzle.grid)
    answer = task.decode(maze.encode(solution, canvas=30), puzzle)
    assert answer.shape == (5, 7)
    assert task.verify(puzzle, answer) is True
    assert task.format_answer(puzzle, answer) == maze.format_grid(solution)
    assert task.one_line(answer) == maze.format_line(solution)
    with pytest.raises(PuzzleParseError, match="does not fit this model's 4x4 canvas; mazes up "
                       "to 30x30 need a model such as hrm-maze-30x30-hard"):
        task.encode(puzzle, 16)
    assert task.encode(puzzle, 100).shape == (100,)  # a 10x10 canvas holds it



def test_maze_wrong_path_is_not_solved_and_marked():
    task = get_task("maze")
    puzzle = read("maze", "\n".join(MAZE) + "\n")[0]
    answer = puzzle.grid.copy()
    answer[3, 1] = maze.PATH  # a lone path cell, off any S-G chain
    assert task.verify(puzzle, answer) is False
    assert task.bad_cells(puzzle, answer)[3, 1]
    walled = puzzle.grid.copy()
    walled[1, 3] = maze.WALL  # an open cell turned into a wall
    assert task.bad_cells(puzzle, walled)[1, 3]


def test_maze_model_checks():
    get_task("maze").check_model(6, 900)
    with pytest.raises(IncompatibleModelError):
        get_task("maze").check_model(11, 81)


# --------------------------------------------------------------------------- arc


ARC_FILE = """{
 "good": {"train": [{"input": [[1]], "output": [[2]]}],
          "test": [{"input": [[3, 4]], "output": [[4, 3]]},
                   {"input": [[5]]}]},
 "ragged": {"train": [{"input": [[1, 2], [3]],
                       "output": [[2]]}],
            "test": [{"input": [[3]]}]}
}
"""


def test_arc_each_test_input_is_a_puzzle_and_a_bad_task_costs_only_itself():
    items = read("arc", ARC_FILE, "tasks.json")
    assert [i.location for i in items] == ["tasks.json:3", "tasks.json:4", "tasks.json:5"]
    first, second, error = items
    assert [first.name, second.name] == ["good/test0", "good/test1"]
    assert first.identifier == second.identifier == "good"
    assert first.layout == "json" and second.expected is None
    assert isinstance(error, PuzzleParseError) and "rectangular" in error.message


def test_arc_encode_decode_verify():
    task = get_task("arc")
    known, unknown = [p for p in read("arc", json.dumps(ARC_TASKS["good"])) if
                      isinstance(p, Puzzle)]
    tokens = task.encode(known, 900)
    assert tokens.shape == (900,)
    from hrm.datasets import arc

    answer = task.decode(arc.encode_grid(np.array([[4, 3]])), known)
    assert task.verify(known, answer) is True
    assert task.format_answer(known, answer) == "[[4,3]]"
    assert task.verify(known, np.array([[4, 4]], dtype=np.uint8)) is False
    assert task.bad_cells(known, np.array([[4, 4]], dtype=np.uint8)).tolist() == [[False, True]]
    assert task.verify(unknown, answer) is None  # no expected output: cannot be checked
    assert task.decode(np.zeros(900, dtype=np.uint8), known) is None
    assert "no grid" in task.render_rich(known, None).plain


def test_arc_json_lines_stream_and_report_their_line():
    good = json.dumps(ARC_TASKS["good"])
    lines = [good + "\n", "{not json\n", json.dumps(ARC_TASKS["ragged"]) + "\n"]
    items = list(get_task("arc").read(lines, "t.jsonl"))
    assert [getattr(i, "line", None) for i in items] == [1, 1, 2, 3]
    assert isinstance(items[2], PuzzleParseError) and "invalid JSON" in items[2].message
    assert isinstance(items[3], PuzzleParseError) and "rectangular" in items[3].message


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty input"),
    ("   \n\n", "empty input"),
    ('{"train": [}', "invalid JSON"),
    ('{"train": [{"input": [[1]], "output": [[2]]}],\n "test": [{"input": '
     + json.dumps([[1] * 31]) + "}]}", "at most 30x30"),
])
def test_arc_bad_inputs(text, message):
    items = read("arc", text)
    assert len(items) == 1 and isinstance(items[0], PuzzleParseError)
    assert message in items[0].message


def test_arc_model_checks():
    get_task("arc").check_model(12, 900)
    with pytest.raises(IncompatibleModelError):
        get_task("arc").check_model(11, 81)


# --------------------------------------------------------------------------- helpers


def test_decode_lines_turns_binary_into_a_located_error():
    items = list(get_task("sudoku").read(decode_lines([b"\x89PNG\r\n", b"\x1a\n"]), "x.png"))
    assert len(items) == 1 and items[0].location == "x.png:1" and "binary" in items[0].message
    items = list(get_task("maze").read(decode_lines([b"\xff\xfe\x00junk\n"]), "m"))
    assert "binary" in items[0].message
    items = list(get_task("arc").read(decode_lines([b"\x00\x01\x02\n"]), "a"))
    assert "binary" in items[0].message


def test_decode_lines_drops_a_bom_and_keeps_text():
    assert list(decode_lines([b"\xef\xbb\xbfabc\n", b"d\n"])) == ["abc\n", "d\n"]


def test_bundle_task_name():
    assert bundle_task_name(task_metadata("maze", 900, 6), 6, 900) == "maze"
    assert bundle_task_name({}, 11, 81) == "sudoku"
    assert bundle_task_name({}, 12, 900) == "arc"
    assert bundle_task_name({}, 6, 900) == "maze"
    assert bundle_task_name({"name": "chess"}, 99, 64) is None


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task"):
        get_task("chess")


def test_variants_are_symmetries_whose_answers_map_back():
    from hrm.datasets.maze_generator import MazeSettings, generate
    from hrm.datasets.sudoku_generator import GeneratorSettings
    from hrm.datasets.sudoku_generator import generate as generate_sudoku
    from hrm.datasets.sudoku_solver import has_unique_solution, solve

    sudoku_task = get_task("sudoku")
    [item] = generate_sudoku(1, 4, GeneratorSettings(size=9))
    puzzle = Puzzle("sudoku", item.puzzle, "x", 1, "line", expected=item.solution)
    seen = set()
    for attempt in range(1, 6):
        variant, back = sudoku_task.variant(puzzle, attempt)
        assert variant.expected is None  # a retry never sees the known answer
        assert has_unique_solution(variant.grid)
        [solution] = solve(variant.grid).solutions
        assert np.array_equal(back(solution), item.solution)
        seen.add(variant.grid.tobytes())
    assert len(seen) == 5

    maze_task = get_task("maze")
    for shape, count in (((9, 9), 7), ((7, 9), 3)):
        grid = next(generate(1, 3, MazeSettings(size=9))).solution[:shape[0], :shape[1]]
        puzzle = Puzzle("maze", grid, "x", 1, "grid")
        variants = [maze_task.variant(puzzle, k) for k in range(1, 9)]
        assert sum(v is not None for v in variants) == count and variants[count] is None
        grids = {v[0].grid.tobytes() for v in variants[:count]} | {grid.tobytes()}
        assert len(grids) == count + 1
        for variant, back in variants[:count]:
            assert np.array_equal(back(variant.grid), grid)
    assert get_task("arc").variant(puzzle, 1) is None
