import contextlib
import io
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm.datasets import sudoku
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.sudoku_solver import has_unique_solution, random_solution, rating, solve

PUZZLE = "68.9.5.....3...5.84.21.87.339.72.8.........1..45..69...6.8.4..2..1..2.757...13..."
ANSWER = "687935241913247568452168793396721854278459316145386927569874132831692475724513689"


def grid_of(line: str) -> np.ndarray:
    return sudoku.parse(line)[0].grid


# --------------------------------------------------------------------------- parsing


def test_one_line_puzzles_with_dots_or_zeros():
    a = sudoku.parse(PUZZLE + "\n" + PUZZLE.replace(".", "0") + "\n", "p.txt")
    assert len(a) == 2
    assert np.array_equal(a[0].grid, a[1].grid)
    assert a[1].location == "p.txt:2"
    assert a[0].grid[0, 0] == 6 and a[0].grid[0, 2] == 0


def test_grid_layout_with_separators():
    text = sudoku.format_grid(grid_of(PUZZLE))
    assert "|" in text and "+" in text
    [puzzle] = sudoku.parse("\n" + text + "\n", "g.txt")
    assert np.array_equal(puzzle.grid, grid_of(PUZZLE))
    assert puzzle.layout == "grid" and puzzle.line == 2


def test_published_csv_keeps_answer_and_rating(official_datasets):
    path = official_datasets / "sudoku-csv" / "train.csv"
    puzzles = sudoku.parse(path.read_text(), str(path))
    assert len(puzzles) == 5
    assert all(p.solution is not None and sudoku.verify(p.grid, p.solution) for p in puzzles)
    assert puzzles[0].rating == 3 and puzzles[0].line == 2


def test_json_object_list_and_rows():
    rows = grid_of(PUZZLE).tolist()
    text = f'[{{"puzzle": "{PUZZLE}", "solution": "{ANSWER}"}}, "{PUZZLE}", {rows}]'
    puzzles = sudoku.parse(text, "p.json")
    assert len(puzzles) == 3
    assert np.array_equal(puzzles[0].solution, grid_of(ANSWER))
    assert all(np.array_equal(p.grid, puzzles[0].grid) for p in puzzles)
    [single] = sudoku.parse(f'{{"grid": {rows}}}')
    assert np.array_equal(single.grid, puzzles[0].grid)


@pytest.mark.parametrize("n", [4, 9, 16])
def test_every_size_round_trips_through_both_layouts(n):

    solution = random_solution(n, random.Random(n))
    puzzle = solution.copy()
    puzzle.reshape(-1)[::3] = 0
    for text in (sudoku.format_line(puzzle), sudoku.format_grid(puzzle)):
        [parsed] = sudoku.parse(text)
        assert np.array_equal(parsed.grid, puzzle)


def test_streaming_yields_before_the_input_ends():
    def lines():
        yield PUZZLE + "\n"
        raise AssertionError("read past the first puzzle before yielding it")

    first = next(sudoku.iter_puzzles(lines(), "<stdin>"))
    assert np.array_equal(first.grid, grid_of(PUZZLE))


def test_bad_lines_are_reported_and_the_rest_still_read():
    text = "\n".join([PUZZLE, "12345", PUZZLE.replace("6", "x", 1), PUZZLE])
    items = list(sudoku.iter_puzzles(io.StringIO(text), "b.txt"))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["SudokuPuzzle", "PuzzleParseError", "PuzzleParseError", "SudokuPuzzle"]
    assert items[1].line == 2 and items[2].line == 3


def test_a_bad_16_cell_line_is_a_bad_4x4_puzzle_not_the_start_of_a_grid():
    # 'Q' is no 16x16 cell either, so the line cannot open a 16x16 grid: the error belongs to
    # it, and the next lines are read on their own.
    text = "\n".join(["41.2234.14...21.", "41.2Q34.14...21.", "1.422.3.421..12",
                      "41.2234.14...21."])
    items = list(sudoku.iter_puzzles(io.StringIO(text), "b.txt"))
    assert [type(i).__name__ for i in items] == [
        "SudokuPuzzle", "PuzzleParseError", "PuzzleParseError", "SudokuPuzzle"]
    assert items[1].line == 2 and "character 'Q'" in items[1].message
    assert items[2].line == 3 and "found 15 cells" in items[2].message
    # A line of valid 16x16 cells is still the first row of a 16x16 grid.
    grid = sudoku.format_grid(random_solution(16, random.Random(0)))
    assert sudoku.parse(grid)[0].size == 16


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("12345", 1, "found 5 cells"),
        ("1234", 1, "grid ends after 1 of 4 rows"),
        (PUZZLE[:-1], 1, "found 80 cells"),
        ("x" + PUZZLE[1:], 1, "character 'x'"),
        ("66" + PUZZLE[2:], 1, "6 appears twice in row 1"),
        ("", None, "empty"),
        ("   \n\n", None, "empty"),
        ('{"solution": 1}', None, "'puzzle'"),
        ('[{"puzzle": "' + PUZZLE + '"', 1, "invalid JSON"),
        ("source,question,answer,rating\nx," + PUZZLE + "," + PUZZLE + ",3", 2, "not a valid"),
        ("source,question,answer,rating\nx," + PUZZLE + "," + ANSWER + ",hard", 2, "rating"),
        ("\n".join(sudoku.format_grid(grid_of(PUZZLE)).splitlines()[:5]), 1, "grid ends"),
    ],
)
def test_malformed_input_raises_one_error_type(text, line, fragment):
    with pytest.raises(PuzzleParseError) as info:
        sudoku.parse(text, "bad.txt")
    assert info.value.source == "bad.txt"
    assert info.value.line == line
    assert fragment in info.value.message
    assert str(info.value).startswith("bad.txt")


@pytest.mark.parametrize("data", [b"\x00\x01\x02binary\x00", b"\xff\xfe\xfa" * 30])
def test_binary_garbage_is_a_parse_error(data):
    with pytest.raises(PuzzleParseError, match=r"binary|UTF-8"):
        sudoku.parse(data, "garbage.bin")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_crashes_on_arbitrary_text(text):
    with contextlib.suppress(PuzzleParseError):
        sudoku.parse(text, "fuzz")


# --------------------------------------------------------------------------- tokens & rules


def test_token_layout_matches_the_original():
    tokens = sudoku.encode(grid_of(PUZZLE))
    assert tokens.shape == (81,)
    assert tokens[0] == 7 and tokens[2] == 1  # digit 6 -> 7, blank -> 1
    assert np.array_equal(sudoku.decode(tokens), grid_of(PUZZLE))


def test_verify_is_exact():
    puzzle, answer = grid_of(PUZZLE), grid_of(ANSWER)
    assert sudoku.verify(puzzle, answer)
    swapped = answer.copy()
    swapped[0, [0, 1]] = swapped[0, [1, 0]]  # rows still permutations, columns not
    assert not sudoku.verify(puzzle, swapped)
    incomplete = answer.copy()
    incomplete[4, 4] = 0
    assert not sudoku.verify(puzzle, incomplete)
    # a valid grid that changes a given is not an answer to this puzzle
    relabelled = np.where(answer == 1, 2, np.where(answer == 2, 1, answer)).astype(np.uint8)
    assert not sudoku.verify(puzzle, relabelled)
    assert sudoku.verify(relabelled * (puzzle > 0), relabelled)


def test_conflicts_marks_both_cells():
    answer = grid_of(ANSWER)
    broken = answer.copy()
    broken[0, 0] = broken[0, 1]
    bad = sudoku.conflicts(broken)
    assert bad[0, 0] and bad[0, 1]
    assert not sudoku.conflicts(answer).any()


# --------------------------------------------------------------------------- solver


def test_solver_finds_the_unique_solution_and_rates_hard_puzzles():
    result = solve(grid_of(PUZZLE), max_solutions=2)
    assert len(result.solutions) == 1
    assert np.array_equal(result.solutions[0], grid_of(ANSWER))
    inkala = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."
    assert rating(grid_of(inkala)) > rating(grid_of(PUZZLE))


def _deadly_rectangle(answer: np.ndarray) -> list[tuple[int, int]] | None:
    """Four cells whose two digits can swap and leave a valid grid: blanking them leaves a
    puzzle with exactly two solutions."""
    n = answer.shape[0]
    for r1 in range(n):
        for r2 in range(r1 + 1, n):
            for c1 in range(n):
                for c2 in range(c1 + 1, n):
                    if answer[r1, c1] == answer[r2, c2] and answer[r1, c2] == answer[r2, c1]:
                        swapped = answer.copy()
                        cells = ([r1, r1, r2, r2], [c1, c2, c1, c2])
                        swapped[cells] = answer[[r1, r1, r2, r2], [c2, c1, c2, c1]]
                        if sudoku.verify(np.zeros_like(answer), swapped):
                            return list(zip(*cells, strict=True))
    return None


def test_uniqueness_detects_two_solutions():

    answer = next(
        grid
        for grid in (random_solution(9, random.Random(seed)) for seed in range(50))
        if _deadly_rectangle(grid) is not None
    )
    holes = answer.copy()
    for r, c in _deadly_rectangle(answer):
        holes[r, c] = 0
    assert len(solve(holes, max_solutions=3).solutions) == 2
    assert not has_unique_solution(holes)
    one_hole = answer.copy()
    one_hole[0, 0] = 0
    assert has_unique_solution(one_hole)


# --------------------------------------------------------------------------- augmentation

boards = st.builds(
    lambda n, seed, holes: (n, seed, holes),
    st.sampled_from([4, 9, 16]),
    st.integers(0, 2**31 - 1),
    st.floats(0.0, 0.9),
)


@settings(max_examples=60, deadline=None)
@given(boards)
def test_augmentation_keeps_pairs_valid_and_inverts(case):

    n, seed, hole_fraction = case
    solution = random_solution(n, random.Random(seed))
    rng = np.random.RandomState(seed)
    puzzle = np.where(rng.rand(n, n) < hole_fraction, 0, solution).astype(np.uint8)
    new_puzzle, new_solution, transform = sudoku.augment(puzzle, solution, rng)
    assert sudoku.verify(new_puzzle, new_solution)
    assert np.count_nonzero(new_puzzle) == np.count_nonzero(puzzle)
    assert np.array_equal(transform.invert(new_puzzle), puzzle)
    assert np.array_equal(transform.invert(new_solution), solution)


def test_augmentation_is_seeded():
    puzzle, answer = grid_of(PUZZLE), grid_of(ANSWER)
    a = sudoku.augment(puzzle, answer, np.random.RandomState(5))
    b = sudoku.augment(puzzle, answer, np.random.RandomState(5))
    c = sudoku.augment(puzzle, answer, np.random.RandomState(6))
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("text", [",\r0", "source,question\nx,\r0"])
def test_carriage_return_inside_a_csv_line(text):
    # found by hypothesis: csv.reader refuses a bare \r inside a field
    with pytest.raises(PuzzleParseError):
        sudoku.parse(text, "cr.csv")
