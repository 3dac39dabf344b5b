import contextlib
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm.datasets import maze
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.maze_generator import MazeSettings, generate

GRID = "\n".join(
    [
        "S   #",
        "### #",
        "    #",
        " ####",
        "    G",
    ]
)


def test_grid_text_and_blank_line_separated_mazes():
    mazes = maze.parse(GRID + "\n\n" + GRID + "\n", "m.txt")
    assert len(mazes) == 2
    assert mazes[0].shape == (5, 5) and mazes[1].line == 7
    assert mazes[0].solution is None


def test_one_line_maze_keeps_leading_and_trailing_spaces():
    line = " S  " + "####" + "    " + "G   "
    [m] = maze.parse(line + "\n", "l.txt")
    assert m.layout == "line" and m.shape == (4, 4)
    assert m.grid[0, 0] == maze.OPEN and m.grid[3, 3] == maze.OPEN
    assert m.grid[0, 1] == maze.START


def test_one_maze_per_line_block():
    rows = [maze.format_line(m.puzzle) for m in generate(3, seed=4, settings=MazeSettings(size=6))]
    mazes = maze.parse("\n".join(rows))
    assert len(mazes) == 3 and all(m.layout == "line" for m in mazes)


def test_short_rows_of_a_square_maze_get_their_stripped_spaces_back():
    # Editors strip trailing spaces, which are open cells; a square says how wide rows are.
    [m] = maze.parse("S  #\n #\n  G\n####", "s.txt")
    assert m.shape == (4, 4)
    assert m.grid[1, 2] == m.grid[1, 3] == maze.OPEN and m.grid[2, 3] == maze.OPEN


def test_a_row_of_spaces_is_open_cells_not_a_separator():
    [m] = maze.parse("S  \n   \n  G")
    assert m.shape == (3, 3)


def test_published_csv(official_datasets):
    path = official_datasets / "maze-csv" / "train.csv"
    mazes = maze.parse(path.read_text(), str(path))
    assert len(mazes) == 3
    assert all(maze.verify(m.grid, m.solution) for m in mazes)
    assert mazes[0].rating == maze.path_cells(mazes[0].solution) == 9


def test_csv_width_column_reads_mazes_of_any_shape():
    text = ("source,question,answer,width\n"
            "a,S  #  G  #,S  # oG  #,5\n"  # 2 rows of 5 (with its answer)
            "b,S #    G,,2\n"  # 4 rows of 2
            "c,S  # #  G,,\n")  # no width: a 3x3 square
    wide, tall, square = maze.parse(text, "m.csv")
    assert wide.shape == (2, 5) and maze.verify(wide.grid, wide.solution)
    assert tall.shape == (4, 2) and tall.grid[3, 1] == maze.GOAL
    assert square.shape == (3, 3) and square.line == 4


def test_grid_with_marked_path_is_read_as_the_answer():
    solved = maze.format_grid(maze.solve(maze.parse(GRID)[0].grid))
    [m] = maze.parse(solved)
    assert m.solution is not None and maze.verify(m.grid, m.solution)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("S  \n   \n   ", 1, "exactly one G"),
        ("S G\n G \n   ", 1, "exactly one G"),
        ("S  \n X \n  G", 2, "character 'X'"),
        ("SG#", 1, "square number of cells"),
        ("", None, "empty"),
        ("\n".join(["S" + " " * 64] + [" " * 65] * 63 + [" " * 64 + "G"]), 1, "larger than 64x64"),
        ("So \n # \n  G", 1, "not a shortest path"),
        ("source,question,answer,rating\nx,S   #   G,So  #   G,1", 2, "not a shortest path"),
        ("source,question,width\nx,S  #  G  #,4", 2, "whole rows of width 4"),
        ("source,question,width\nx,S  #  G  #,two", 2, "not a positive whole number"),
        ("source,question,side\nx,S  #  G  #,5", 2, "side 5 does not fit"),
        ("S    \n###\n    G", 2, "row 2 has 3 cells where the maze's rows have 5"),
        # The second maze of a file: the error names the file's line, not the maze's row.
        (GRID + "\n\nS    #\n# # ##\n  G", 9, "row 3 has 3 cells where the maze's rows have 6"),
    ],
)
def test_malformed_mazes_raise_one_error_type(text, line, fragment):
    with pytest.raises(PuzzleParseError) as info:
        maze.parse(text, "bad.txt")
    assert info.value.line == line
    assert fragment in info.value.message


def test_binary_garbage():
    with pytest.raises(PuzzleParseError, match="binary"):
        maze.parse(b"S\x00\x00G", "x.bin")


def test_bad_mazes_in_a_batch_are_skipped():
    items = list(maze.iter_puzzles(io.StringIO(GRID + "\n\nS#\n\n" + GRID), "b.txt"))
    assert [type(i).__name__ for i in items] == ["MazePuzzle", "PuzzleParseError", "MazePuzzle"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="# SGo\n.x", max_size=200))
def test_parser_never_crashes(text):
    with contextlib.suppress(PuzzleParseError):
        maze.parse(text, "fuzz")


# --------------------------------------------------------------------------- rules


def test_verify_accepts_any_shortest_path_and_nothing_else():
    grid = maze.parse("S   \n    \n    \n   G")[0].grid
    a = maze.solve(grid)
    assert maze.verify(grid, a)
    other = maze.parse("Sooo\n   o\n   o\n   G")[0].solution
    assert maze.verify(grid, other) and not np.array_equal(a, other)
    staircase = maze.parse("Soo \n  o \n  oo\n   G")[0]
    assert maze.verify(grid, staircase.solution)  # 5 cells: another shortest path
    longer = grid.copy()
    longer[0, 1:4] = maze.PATH
    longer[1, 3] = maze.PATH
    longer[2, 3] = maze.PATH
    longer[1, 0] = maze.PATH  # one extra mark off the path
    assert not maze.verify(grid, longer)
    broken = a.copy()
    broken[np.argwhere(a == maze.PATH)[0][0], np.argwhere(a == maze.PATH)[0][1]] = maze.OPEN
    assert not maze.verify(grid, broken)
    moved_wall = a.copy()
    moved_wall[3, 0] = maze.WALL
    assert not maze.verify(grid, moved_wall)
    assert maze.path_breaks(grid, broken).any()
    assert not maze.path_breaks(grid, a).any()


def test_verify_rejects_a_path_through_a_wall():
    grid = maze.parse("S#G\n   \n   ")[0].grid
    through = grid.copy()
    through[0, 1] = maze.PATH
    assert not maze.verify(grid, through)
    assert maze.verify(grid, maze.solve(grid))


def test_tokens_match_the_original_and_pad_into_a_canvas(official_datasets):
    from hrm.datasets.format import load_split

    ref = load_split(official_datasets / "maze-built", "test", mmap=False)
    csv_mazes = maze.parse((official_datasets / "maze-csv" / "test.csv").read_text())
    assert np.array_equal(maze.encode(csv_mazes[0].grid), ref.all.inputs[0])
    assert np.array_equal(maze.encode(csv_mazes[0].solution), ref.all.labels[0])
    tokens = maze.encode(csv_mazes[0].grid, canvas=30)
    assert tokens.shape == (900,)
    assert np.array_equal(maze.decode(tokens, shape=(6, 6)), csv_mazes[0].grid)
    assert np.all(maze.decode(tokens)[6:, :] == maze.WALL)


# --------------------------------------------------------------------------- augmentation


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 7), st.integers(3, 12))
def test_dihedral_augmentation_keeps_answers_valid_and_inverts(seed, tid, size):
    [m] = generate(1, seed=seed, settings=MazeSettings(size=size))
    grid, solution = maze.augment(m.puzzle, m.solution, tid)
    assert maze.verify(grid, solution)
    assert np.array_equal(maze.invert(grid, tid), m.puzzle)
    assert np.array_equal(maze.invert(solution, tid), m.solution)


def test_one_line_mazes_stream_before_the_input_ends():
    [m] = generate(1, seed=2, settings=MazeSettings(size=9))

    def lines():
        yield maze.format_line(m.puzzle) + "\n"
        raise AssertionError("read past the first maze before yielding it")

    first = next(maze.iter_puzzles(lines(), "<stdin>"))
    assert np.array_equal(first.grid, m.puzzle)


def test_mazes_larger_than_the_30x30_canvas_are_read_up_to_64x64():
    from hrm.datasets import maze_kinds

    for h, w in ((36, 36), (40, 52), (64, 64)):
        puzzle, _ = maze_kinds.make("corridors", h, w, seed=0, index=0)
        text = maze.format_grid(puzzle) + "\n"
        [read] = maze.parse(text)
        assert read.shape == (h, w) and np.array_equal(read.grid, puzzle)
    [one_line] = maze.parse(maze.format_line(puzzle) + "\n")  # 64x64 as one line of 4096
    assert one_line.shape == (64, 64) and one_line.layout == "line"
    too_big, _ = maze_kinds.make("walls", 65, 65, seed=0, index=0)
    with pytest.raises(PuzzleParseError, match="65x65, larger than 64x64"):
        maze.parse(maze.format_grid(too_big) + "\n")


@pytest.mark.parametrize("kind", ["walls", "corridors"])
def test_farthest_puts_the_goal_at_the_end_of_the_longest_path_from_the_start(kind):
    from hrm.datasets import maze_kinds

    longer = 0
    for index in range(6):
        near, _ = maze_kinds.make(kind, 15, 12, seed=4, index=index)
        far, answer = maze_kinds.make(kind, 15, 12, seed=4, index=index, farthest=True)
        # The same draft and the same S: only G moves, to a cell no other is farther than.
        assert np.array_equal(near == maze.WALL, far == maze.WALL)
        start = tuple(np.argwhere(far == maze.START)[0])
        assert start == tuple(np.argwhere(near == maze.START)[0])
        distance = maze.distances(far, start)
        goal = tuple(np.argwhere(far == maze.GOAL)[0])
        assert distance[goal] == distance.max()
        assert (answer == maze.PATH).sum() == distance.max() - 1  # S and G are not path
        longer += distance[goal] > distance[tuple(np.argwhere(near == maze.GOAL)[0])]
    assert longer >= 3
