"""Where `hrm solve` and `hrm watch` read puzzles from: files and stdin, lazily."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from hrm_cli.paths import check_input_path

if TYPE_CHECKING:
    from hrm.datasets.tasks import Task

STDIN = "-"
MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest input line read (an ARC file of many tasks may be one long JSON line); past it a
source is not puzzle text (`/dev/zero`, a binary blob) and reading it stops."""


class LineTooLongError(Exception):
    """A line of a source ran past MAX_LINE_BYTES without a line break."""

    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def capped_lines(handle: BinaryIO) -> Iterator[bytes]:
    """The lines of a binary stream, each read up to MAX_LINE_BYTES: an input without line
    breaks must not be read into memory whole."""
    for number, line in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), 1):
        if len(line) > MAX_LINE_BYTES:
            raise LineTooLongError(number)
        yield line


def check_sources(sources: list[str]) -> None:
    """Fail before loading a model: a missing file is an error (exit 1), not a bad item."""
    if sources.count(STDIN) > 1:
        raise click.UsageError("stdin ('-') can be read only once")
    for name in sources:
        if name != STDIN:
            check_input_path(name, dir_okay=False)


def read_items(adapter: Task, sources: list[str]) -> Iterator[Any]:
    """Puzzles and parse errors of every source in turn, read lazily line by line.

    A source with a line longer than MAX_LINE_BYTES yields one error for that line, and
    reading moves on to the next source.
    """
    from hrm.datasets.errors import PuzzleParseError
    from hrm.datasets.tasks import decode_lines

    for name in sources:
        label = "<stdin>" if name == STDIN else name
        try:
            if name == STDIN:
                stream = getattr(sys.stdin, "buffer", None)
                if stream is None:  # a text-only stdin (some embedding hosts): encode it back
                    yield from adapter.read(decode_lines(line.encode("utf-8")
                                                         for line in sys.stdin), label)
                else:
                    yield from adapter.read(decode_lines(capped_lines(stream)), label)
                continue
            with open(name, "rb") as handle:
                yield from adapter.read(decode_lines(capped_lines(handle)), label)
        except LineTooLongError as exc:
            limit = MAX_LINE_BYTES // (1024 * 1024)
            yield PuzzleParseError(f"no line break within {limit} MiB: not puzzle text; "
                                   "stopped reading it", label, exc.line)
