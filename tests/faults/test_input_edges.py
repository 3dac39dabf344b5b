"""Input edge cases: a bad byte costs one item and is named; answers stay aligned with
their input; a missing input is the same error (exit 1) in every command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from terminal import EXAMPLES, HRM, hrm_env

SUDOKU_LINES = (EXAMPLES / "sudoku.txt").read_bytes().splitlines()


def hrm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*HRM, *args], cwd=cwd, env=hrm_env(), capture_output=True,
                          timeout=120)


def with_bad_byte(line: bytes, byte: bytes) -> bytes:
    return line[:5] + byte + line[6:]


def test_a_bad_byte_costs_only_its_puzzle_and_is_named(tmp_path):
    lines = list(SUDOKU_LINES)
    lines[0] = with_bad_byte(lines[0], b"\xe9")  # Latin-1 'é' on the first line
    lines[2] = with_bad_byte(lines[2], b"\xff")
    (tmp_path / "p.txt").write_bytes(b"\n".join(lines) + b"\n")
    result = hrm("solve", "sudoku", "p.txt", "-q", "--format", "lines", cwd=tmp_path)
    errors = result.stderr.decode().splitlines()
    assert errors == [
        "Error: p.txt:1: puzzle: byte 0xe9 (not UTF-8) is not a 9x9 sudoku cell (digits 1-9; "
        "'.' or '0' for a blank)",
        "Error: p.txt:3: puzzle: byte 0xff (not UTF-8) is not a 9x9 sudoku cell (digits 1-9; "
        "'.' or '0' for a blank)",
    ]
    answers = result.stdout.decode().split("\n")[:-1]
    # --format lines: one line per input item, an empty one where the item failed.
    assert [len(a) for a in answers] == [0, 81, 0, 81]
    assert result.returncode == 3


def test_a_bad_byte_in_a_maze_is_named(tmp_path):
    maze = (EXAMPLES / "maze-9x9-lines.txt").read_bytes().splitlines()
    maze[0] = maze[0][:3] + b"\x80" + maze[0][4:]
    (tmp_path / "m.txt").write_bytes(b"\n".join(maze) + b"\n")
    result = hrm("solve", "maze", "m.txt", "-q", "--format", "jsonl", cwd=tmp_path)
    assert "m.txt:1: byte 0x80 (not UTF-8) at position 4 is not a maze cell" in \
        result.stderr.decode()
    assert result.returncode == 3


def missing_input_commands() -> list[list[str]]:
    csv = str(EXAMPLES / "sudoku.csv")
    return [
        ["solve", "sudoku", "missing.txt"],
        ["watch", "sudoku", "missing.txt", "--export", "-"],
        ["datasets", "build", "missing.csv"],
        ["datasets", "build", csv, "--test", "missing.csv"],
        ["datasets", "info", "missing"],
        ["eval", "default:sudoku", "--data", "missing"],
        ["models", "import", "missing", "--name", "x"],
        ["train", "sudoku", "--data", "missing"],
    ]


@pytest.mark.parametrize("args", missing_input_commands(), ids=lambda a: " ".join(a[:2]))
def test_a_missing_input_is_exit_1_in_every_command(tmp_path, args):
    result = hrm(*args, cwd=tmp_path)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "missing" in stderr and "Usage:" not in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize("args", [["solve", "sudoku", "."], ["datasets", "info", "f.txt"],
                                  ["datasets", "build", "x.csv", "--test", "."]],
                         ids=["solve-dir", "info-file", "build-test-dir"])
def test_an_input_of_the_wrong_kind_is_exit_1(tmp_path, args):
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "x.csv").write_bytes((EXAMPLES / "sudoku.csv").read_bytes())
    result = hrm(*args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Usage:" not in result.stderr.decode()
