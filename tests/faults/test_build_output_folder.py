"""`hrm datasets build --out DIR [--force]` never destroys what the user had in DIR.

`--force` replaces a built dataset or an empty folder, nothing else; the check runs again
under a lock right before the final rename, and staging folders of live builds survive.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
from pathlib import Path

import pytest
from terminal import EXAMPLES, HRM, hrm_env

from hrm.datasets.files import TargetExistsError, _host, staged_dir

CSV = EXAMPLES / "sudoku.csv"


def build(out: str, *extra: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*HRM, "datasets", "build", str(CSV), "--out", out, "-q", *extra],
                          cwd=cwd, env=hrm_env(), capture_output=True, text=True, timeout=120)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(folder.rglob("*"))}


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_force_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    thesis = tmp_path / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "thesis.tex").write_text("\\documentclass{article}")
    (thesis / "chapters" / "one.tex").write_text("chapter one")
    before = tree(thesis)
    message = one_line_error(build("thesis", "--force", cwd=tmp_path))
    assert "not a built dataset" in message and "--force will not replace it" in message
    assert tree(thesis) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no staging left


def test_force_refuses_a_dataset_with_a_foreign_file_in_it(tmp_path):
    assert build("data", cwd=tmp_path).returncode == 0
    (tmp_path / "data" / "train" / "notes.txt").write_text("mine")
    before = tree(tmp_path / "data")
    message = one_line_error(build("data", "--force", cwd=tmp_path))
    assert "train/notes.txt" in message
    assert tree(tmp_path / "data") == before


def test_force_replaces_a_built_dataset_and_an_empty_folder(tmp_path):
    assert build("data", cwd=tmp_path).returncode == 0
    first = tree(tmp_path / "data")
    refused = build("data", cwd=tmp_path)
    assert "already exists" in one_line_error(refused)
    result = build("data", "--force", "--seed", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tree(tmp_path / "data").keys() == first.keys()
    (tmp_path / "empty").mkdir()
    assert build("empty", cwd=tmp_path).returncode == 0
    assert (tmp_path / "empty" / "train" / "dataset.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "empty"]


@pytest.mark.parametrize("out", [".", "..", "sub/.."])
def test_dot_and_dotdot_are_one_line_errors_and_leave_nothing(tmp_path, out):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "keep.txt").write_text("keep")
    message = one_line_error(build(out, "--force", cwd=work))
    assert "not '.' or '..'" in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep.txt", "sub", "work"]


def test_only_stale_staging_folders_are_removed(tmp_path):
    target = tmp_path / "data"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        finished = subprocess.Popen(["true"])
        finished.wait()
        live = tmp_path / f".data.staging-{_host()}-{sleeper.pid}-aaaaaaaa"
        stale = tmp_path / f".data.staging-{_host()}-{finished.pid}-bbbbbbbb"
        recent_foreign = tmp_path / ".data.staging-otherhost-1-cccccccc"
        old_foreign = tmp_path / ".data.staging-otherhost-1-dddddddd"
        for folder in (live, stale, recent_foreign, old_foreign):
            folder.mkdir()
            (folder / "part.npy").write_bytes(b"x")
        os.utime(old_foreign, (1, 1))
        with staged_dir(target) as staging:
            (staging / "f").write_text("new")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == sorted(["data", live.name, recent_foreign.name])
    finally:
        sleeper.kill()
        sleeper.wait()


def _stage_and_wait(target: str, barrier, results) -> None:
    try:
        with staged_dir(Path(target), overwrite=False) as staging:
            (staging / "owner").write_text(str(os.getpid()))
            barrier.wait(30)  # both have staged a whole result; now both try to publish it
        results.put(("ok", os.getpid()))
    except TargetExistsError as exc:
        results.put(("exists", str(exc)))


def test_two_processes_publishing_the_same_target_give_one_result_and_one_error(tmp_path):
    target = tmp_path / "data"
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_stage_and_wait, args=(str(target), barrier, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in workers)
    assert [kind for kind, _ in outcomes] == ["exists", "ok"]
    assert "already exists" in outcomes[0][1]
    assert (target / "owner").read_text() == str(outcomes[1][1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
