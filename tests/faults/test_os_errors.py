"""Errors of the operating system are one line and a documented exit code, never a traceback.

Each case runs the real `hrm` in a shell, so that redirections (`> /dev/full`, `>&-`,
`| head -1`) are the shell's own.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from terminal import EXAMPLES, hrm_command, hrm_env

SUDOKU = EXAMPLES / "sudoku.txt"
GENERATE = "datasets generate sudoku --size 4 --clues 10 -n 3"


def shell(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    script = command.replace("hrm ", f"{hrm_command()} ")
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=hrm_env(**env),
                          capture_output=True, text=True, timeout=120)


def one_line(result: subprocess.CompletedProcess, code: int = 1) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    assert result.returncode == code, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [f"hrm {GENERATE} > /dev/full",
                                     f"hrm solve sudoku {SUDOKU} -q > /dev/full"])
def test_a_full_disk_on_stdout(tmp_path, command):
    result = shell(command, tmp_path)
    assert one_line(result) == ("Error: writing the output: No space left on device "
                                "(the disk is full)")
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")  # nothing after it


def test_hrm_home_pointing_at_a_file(tmp_path):
    (tmp_path / "home").write_text("not a folder")
    result = shell(f"hrm models import {EXAMPLES.parent / 'model/defaults/maze'} --name m",
                   tmp_path, HRM_HOME="home")
    assert "HRM_HOME (home) must be a folder" in one_line(result)


@pytest.mark.parametrize("command", [f"hrm {GENERATE} --out notes.txt/puzzles.csv",
                                     f"hrm datasets build {EXAMPLES / 'sudoku.csv'} -q "
                                     "--out notes.txt/data"])
def test_an_out_whose_parent_is_a_file(tmp_path, command):
    (tmp_path / "notes.txt").write_text("mine")
    message = one_line(shell(command, tmp_path))
    assert "notes.txt" in message and "not a folder" in message
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_names_too_long_for_the_file_system(tmp_path):
    message = one_line(shell(f"hrm {GENERATE} --out {'a' * 300}.csv", tmp_path))
    assert "File name too long" in message and "(304 characters)" in message
    # A name that fits the file system also fits its staging folder and lock.
    name = "b" * 250
    result = shell(f"hrm datasets build {EXAMPLES / 'sudoku.csv'} -q --out {name}", tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_closed_stdout(tmp_path):
    message = one_line(shell(f"hrm {GENERATE} >&-", tmp_path))
    assert message == "Error: stdout is closed; redirect it instead (> FILE or > /dev/null)"
    # A command that writes its data to a file does not need stdout; the file it opens
    # must not become descriptor 1 either.
    result = shell(f"hrm {GENERATE} --out p.csv -q >&-", tmp_path)
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 4


def test_input_without_line_breaks_is_capped(tmp_path):
    result = shell("hrm solve sudoku /dev/zero -q", tmp_path)
    assert one_line(result) == ("Error: /dev/zero:1: no line break within 64 MiB: not puzzle "
                                "text; stopped reading it")
    # From stdin, next to a good file: that file is still solved (exit 3: an input error).
    result = shell(f"hrm solve sudoku - {SUDOKU} -q < /dev/zero", tmp_path)
    assert "<stdin>:1: no line break" in one_line(result, code=3)
    assert [len(line) for line in result.stdout.splitlines()] == [0, 81, 81, 81, 81]


def test_a_reader_that_goes_away_ends_quietly_with_0(tmp_path):
    result = shell(f"hrm {GENERATE.replace('-n 3', '-n 3000')} | head -1; "
                   "echo \"status ${PIPESTATUS[0]}\" >&2", tmp_path)
    assert result.stdout == "source,question,answer,rating\n"
    assert result.stderr == "status 0\n"
