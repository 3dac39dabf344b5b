"""Run the real `hrm` as a user's shell would: stderr on a pseudo-terminal, stdout elsewhere.

The defects these tests guard against appear only when stderr is a terminal (a progress bar
is drawn) while stdout is a file or a pipe, so the command runs in a real process with its
stderr on the slave side of `os.openpty()`; what it draws there is read from the master.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# The interpreter running the tests has hrm installed (the venv or the system one).
HRM = [sys.executable, "-m", "hrm_cli"]


@dataclass
class Outcome:
    returncode: int
    stdout: bytes
    terminal: str  # everything written to the pseudo-terminal (stderr), control codes included
    seconds: float

    @property
    def screen_text(self) -> str:
        """The terminal output without escape sequences, for matching messages."""
        import re

        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r", "", self.terminal)


def hrm_env(**extra: str) -> dict[str, str]:
    """The environment of an interactive shell: a colour terminal, no CI hints to rich."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
                        "COLUMNS", "LINES", "CI", "GITHUB_ACTIONS", "JUPYTER_COLUMNS"}}
    env.update(TERM="xterm-256color", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="0")
    env.update(extra)
    return env


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class TerminalRun:
    """A started command with stderr on a pseudo-terminal; `finish()` collects it."""

    def __init__(self, args: list[str], *, stdin: int | IO | None = subprocess.DEVNULL,
                 stdout: int | IO | None = subprocess.PIPE, cwd: Path | None = None,
                 env: dict[str, str] | None = None, cols: int = 100, rows: int = 32,
                 new_group: bool = False, pass_fds: tuple[int, ...] = ()):
        master, slave = os.openpty()
        _set_size(slave, rows, cols)
        self.started = time.monotonic()
        # A shell runs a foreground job with SIGINT at its default even when the shell was
        # started in the background, which ignores it (as `cmd &` does without job control)
        # and would pass that on to every child.
        self.process = subprocess.Popen(
            args, stdin=stdin, stdout=stdout, stderr=slave, cwd=cwd, env=env or hrm_env(),
            start_new_session=new_group, pass_fds=pass_fds,
            preexec_fn=_default_sigint if new_group else None)
        os.close(slave)
        self._master = master
        self.new_group = new_group
        self._terminal = bytearray()
        self._stdout = bytearray()
        self._readers = [threading.Thread(target=self._drain_terminal, daemon=True)]
        if self.process.stdout is not None:
            self._readers.append(threading.Thread(target=self._drain_stdout, daemon=True))
        for reader in self._readers:
            reader.start()

    def _drain_terminal(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: every slave descriptor is closed
                return
            if not chunk:
                return
            self._terminal += chunk

    def _drain_stdout(self) -> None:
        assert self.process.stdout is not None
        for chunk in iter(lambda: self.process.stdout.read1(65536), b""):
            self._stdout += chunk

    @property
    def terminal_so_far(self) -> str:
        return self._terminal.decode("utf-8", errors="replace")

    def interrupt_group(self) -> None:
        """Ctrl-C as a terminal sends it: SIGINT to the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def finish(self, timeout: float = 120) -> Outcome:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            if self.new_group:  # its workers too
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()
            raise
        seconds = time.monotonic() - self.started
        for reader in self._readers:
            reader.join(10)
        os.close(self._master)
        return Outcome(code, bytes(self._stdout), self.terminal_so_far, seconds)


def run_in_terminal(args: list[str], *, input_bytes: bytes | None = None,
                    stdout: int | IO | None = subprocess.PIPE, cwd: Path | None = None,
                    env: dict[str, str] | None = None, timeout: float = 120,
                    cols: int = 100, rows: int = 32) -> Outcome:
    """Run a command to the end with stderr on a pseudo-terminal and stdout on a pipe
    (or the given file); `input_bytes` is fed through a pipe on stdin."""
    stdin: int | IO | None = subprocess.DEVNULL
    feeder = None
    if input_bytes is not None:
        read_end, write_end = os.pipe()
        stdin = read_end

        def feed() -> None:
            try:
                os.write(write_end, input_bytes)
            except BrokenPipeError:
                pass
            finally:
                os.close(write_end)

        feeder = threading.Thread(target=feed, daemon=True)
    run = TerminalRun(args, stdin=stdin, stdout=stdout, cwd=cwd, env=env, cols=cols, rows=rows)
    if feeder is not None:
        os.close(stdin)  # type: ignore[arg-type]
        feeder.start()
    return run.finish(timeout)


def shell_in_terminal(command: str, *, cwd: Path | None = None,
                      env: dict[str, str] | None = None, timeout: float = 120) -> Outcome:
    """A shell pipeline (`hrm ... | wc -l`) whose stderr is the pseudo-terminal."""
    shell = shutil.which("bash") or "/bin/sh"
    return run_in_terminal([shell, "-c", command], cwd=cwd, env=env, timeout=timeout)


def hrm_command() -> str:
    """`hrm` as a shell word: this interpreter's module, so the checkout under test runs."""
    return f"{sys.executable} -m hrm_cli"
