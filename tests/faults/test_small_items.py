"""Smaller items: help that says what ships, exports that do not clobber, names that look
like options."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from terminal import EXAMPLES, HRM, hrm_env

SUDOKU = str(EXAMPLES / "sudoku-4x4.txt")


def hrm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*HRM, *args], cwd=cwd, env=hrm_env(), capture_output=True,
                          text=True, timeout=120)


def test_models_help_names_both_shipped_defaults(tmp_path):
    text = hrm("models", "--help", cwd=tmp_path).stdout
    assert "sudoku (9x9), maze (any size to 64x64)" in " ".join(text.split())


def test_watch_export_keeps_an_existing_file_without_force(tmp_path):
    export = tmp_path / "rollout.json"
    export.write_text("my notes")
    args = ["watch", "sudoku", str(EXAMPLES / "sudoku.txt"), "--max-segments", "1",
            "--export", "rollout.json"]
    refused = hrm(*args, cwd=tmp_path)
    assert refused.returncode == 2 and "rollout.json exists; use --force" in refused.stderr
    assert export.read_text() == "my notes"
    forced = hrm(*args, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert export.read_text().startswith("{")


def test_staged_file_without_overwrite_keeps_a_file_that_appeared_meanwhile(tmp_path):
    from hrm.datasets.files import TargetExistsError, staged_file

    target = tmp_path / "out.csv"
    with pytest.raises(TargetExistsError, match="already exists"), \
            staged_file(target, overwrite=False) as handle:
        handle.write("new")
        target.write_text("theirs")  # another process got there first
    assert target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.parametrize("args", [
    ["datasets", "generate", "sudoku", "--size", "4", "-n", "1", "--out", "-rf"],
    ["datasets", "build", str(EXAMPLES / "sudoku.csv"), "--out", "-data"],
    ["watch", "sudoku", SUDOKU, "--export", "-x.json"],
], ids=["generate", "build", "watch"])
def test_output_names_that_start_with_a_dash_are_refused(tmp_path, args):
    result = hrm(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "starts with '-', like an option" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_dash_name_written_as_a_path_is_allowed(tmp_path):
    result = hrm("datasets", "generate", "sudoku", "--size", "4", "-n", "1", "--clues", "10",
                 "--out", "./-puzzles.csv", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "-puzzles.csv").is_file()
