"""Ctrl-C (SIGINT to the foreground process group, as a terminal sends it) stops
`hrm datasets generate --workers N` within seconds: exit 130, one line, no worker
tracebacks, no worker left running, no partial file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest
from terminal import HRM, TerminalRun

# Hard puzzles take long enough that the workers are busy when the signal comes.
GENERATE = [*HRM, "datasets", "generate", "sudoku", "--count", "400", "--min-rating", "20",
            "--workers", "2"]


def start(tmp_path, *extra: str, stdout=subprocess.PIPE) -> TerminalRun:
    return TerminalRun([*GENERATE, *extra], cwd=tmp_path, new_group=True, stdout=stdout)


def wait_until_busy(run: TerminalRun, bar: bool, timeout: float = 60) -> None:
    """Until both workers exist and have worked a moment (and the bar is on the terminal,
    when there is one: output to a file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group = subprocess.run(["pgrep", "-g", str(run.process.pid)], capture_output=True,
                               text=True).stdout.split()
        if len(group) >= 3 and (not bar or "generating" in run.terminal_so_far):
            time.sleep(0.5)
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(run.process.pid, signal.SIGKILL)
    pytest.fail(f"the workers did not start: {run.terminal_so_far!r}")


def group_is_gone(pgid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def interrupt(run: TerminalRun):
    sent = time.monotonic()
    run.interrupt_group()
    outcome = run.finish(timeout=30)
    return outcome, time.monotonic() - sent


def test_ctrl_c_stops_the_workers_and_leaves_no_file(tmp_path):
    run = start(tmp_path, "--out", "hard.csv")
    wait_until_busy(run, bar=True)
    outcome, seconds = interrupt(run)
    assert outcome.returncode == 130, outcome.screen_text
    assert seconds < 2.0, f"took {seconds:.2f} s to stop"
    text = outcome.screen_text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert text.strip().splitlines()[-1] in ("Interrupted.", "Aborted.")
    assert group_is_gone(run.process.pid), "a worker outlived the command"
    assert list(tmp_path.iterdir()) == []  # neither hard.csv nor its temporary


def test_ctrl_c_while_writing_to_stdout_leaves_whole_lines(tmp_path):
    run = start(tmp_path)
    wait_until_busy(run, bar=False)
    outcome, seconds = interrupt(run)
    assert outcome.returncode == 130 and seconds < 2.0, (seconds, outcome.screen_text)
    assert "Traceback" not in outcome.screen_text
    text = outcome.stdout.decode()
    assert text.endswith("\n")
    assert all(len(line.split(",")) == 4 for line in text.splitlines())
    assert group_is_gone(run.process.pid)
