"""Where `hrm solve` and `hrm watch` read puzzles from: files and stdin, lazily."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from hrm.datasets.tasks import Task

STDIN = "-"


def check_sources(sources: list[str]) -> None:
    """Fail before loading a model: a missing file is an error (exit 1), not a bad item."""
    if sources.count(STDIN) > 1:
        raise click.UsageError("stdin ('-') can be read only once")
    for name in sources:
        if name == STDIN:
            continue
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        if not os.access(path, os.R_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)


def read_items(adapter: Task, sources: list[str]) -> Iterator[Any]:
    """Puzzles and parse errors of every source in turn, read lazily line by line."""
    from hrm.datasets.tasks import decode_lines

    for name in sources:
        if name == STDIN:
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:  # a text-only stdin (some embedding hosts): encode it back
                stream = (line.encode("utf-8") for line in sys.stdin)
            yield from adapter.read(decode_lines(stream), "<stdin>")
            continue
        with open(name, "rb") as handle:
            yield from adapter.read(decode_lines(handle), name)
