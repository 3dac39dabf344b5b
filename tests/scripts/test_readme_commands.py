"""README's commands and the scripts that run them cannot drift apart: scripts/test.sh is
README's test command, .ci/run runs it and scripts/check_readme.sh, and the checker reads
README's first command and quick start from README itself (scripts/readme_commands.py).

The end-to-end runs (fresh venvs, minutes each) are .ci/run's; these tests check the parts
cheaply: the parsing, the generated check script against a stand-in `hrm`, the copy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
README = (ROOT / "README.md").read_text(encoding="utf-8")

sys.path.insert(0, str(SCRIPTS))
import readme_commands  # noqa: E402


def script_command(path: Path) -> str:
    """The last command of a shell script, continuation lines joined as README's are."""
    lines = path.read_text().rstrip("\n").split("\n")
    start = len(lines) - 1
    while start > 0 and lines[start - 1].endswith("\\"):
        start -= 1
    return readme_commands._join(lines[start:])


def test_scripts_test_sh_is_readmes_test_command():
    setup, test = readme_commands.two_commands(README)
    assert script_command(SCRIPTS / "test.sh") == test.text
    assert test.text.startswith("python -m venv .venv && . .venv/bin/activate && ")
    assert test.text.endswith("python -m pytest -q")
    assert setup.text.endswith("&& hrm solve sudoku examples/sudoku.txt")


def test_readme_and_ci_name_the_scripts():
    assert "`bash scripts/test.sh`" in readme_commands.section(README, "Two commands")
    development = readme_commands.section(README, "Development")
    for name in ("scripts/test.sh", "scripts/check_readme.sh", ".ci/run"):
        assert f"`{name}`" in development or f"`bash {name}`" in development, name
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci and "bash scripts/check_readme.sh" in ci
    assert "ruff check ." in ci
    for script in ("test.sh", "check_readme.sh", "fresh_checkout.sh"):
        subprocess.run(["bash", "-n", str(SCRIPTS / script)], check=True)
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True)


def test_the_quick_start_is_read_with_its_outputs():
    commands = readme_commands.quick_start(README)
    texts = [c.text for c in commands]
    assert texts[0].startswith("hrm datasets generate sudoku --size 4 --count 2000")
    train = next(c for c in texts if c.startswith("hrm train sudoku --data data/sudoku4"))
    assert "--steps 1200" in train and "\\" not in train  # continuation lines joined
    assert any(c.startswith("hrm solve sudoku small-test.csv") for c in texts)
    build = commands[texts.index("hrm datasets build small.csv --test small-test.csv --aug 8 "
                                 "--out data/sudoku4")]
    assert build.output == ("data/sudoku4",)


def fake_readme(output: str) -> str:
    return ("# t\n\n## Two commands\n\n```bash\nmkdir made-by-setup \\\n  && echo set up\n```\n\n"
            "```bash\ntrue\n```\n\n## Quick start (offline)\n\n```console\n"
            "$ hrm datasets info data/x\n" + output + "\n$ hrm solve x \\\n    y | cat\n"
            "anything\n"
            "```\n\n## Next\n")


@pytest.fixture
def stand_in_hrm(tmp_path) -> dict[str, str]:
    """An `hrm` on PATH that prints its arguments (padded, as rich pads a centred title)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `hrm solve` exits 3, as when some puzzles stay unsolved; `datasets fail` exits 1.
    (bin_dir / "hrm").write_text('#!/bin/sh\necho "hrm $*  "\n[ "$1" = solve ] && exit 3\n'
                                 '[ "$2" = fail ] && exit 1\nexit 0\n')
    (bin_dir / "hrm").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_the_check_script_runs_setup_then_each_command(tmp_path, stand_in_hrm):
    script = readme_commands.check_script(fake_readme("hrm datasets info data/x"))
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=stand_in_hrm,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "made-by-setup").is_dir()
    assert done.stdout.splitlines() == [
        "$ mkdir made-by-setup && echo set up", "set up",
        "$ hrm datasets info data/x", "hrm datasets info data/x",
        "$ hrm solve x y | cat", "hrm solve x y  "]


def test_the_check_script_stops_where_an_output_differs_from_readme(tmp_path, stand_in_hrm):
    script = readme_commands.check_script(fake_readme("what README claims"))
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=stand_in_hrm,
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == "README.md shows another output for: hrm datasets info data/x\n"
    assert "hrm solve" not in done.stdout


def test_a_readme_without_the_sections_is_refused():
    with pytest.raises(ValueError, match="no section '## Quick start"):
        readme_commands.quick_start("# t\n\n## Two commands\n")
    with pytest.raises(ValueError, match="has 1 bash blocks, not 2"):
        readme_commands.two_commands("## Two commands\n\n```bash\ntrue\n```\n")


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout (a copy)")
def test_the_fresh_copy_holds_what_a_clone_holds(tmp_path):
    dest = tmp_path / "copy"
    subprocess.run(["bash", str(SCRIPTS / "fresh_checkout.sh"), str(dest)], check=True)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert all((dest / p).exists() for p in tracked if (ROOT / p).exists())
    assert not (dest / ".git").exists() and not (dest / ".venv").exists()
    assert not list(dest.rglob("__pycache__"))
    again = subprocess.run(["bash", str(SCRIPTS / "fresh_checkout.sh"), str(dest)],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "does not exist yet" in again.stderr


def test_an_hrm_datasets_command_that_fails_stops_the_check(tmp_path, stand_in_hrm):
    readme = fake_readme("hrm datasets info data/x").replace("datasets info", "datasets fail")
    done = subprocess.run(["bash", "-c", readme_commands.check_script(readme)], cwd=tmp_path,
                          env=stand_in_hrm, capture_output=True, text=True)
    assert done.returncode == 1 and "hrm solve" not in done.stdout
