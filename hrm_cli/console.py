"""Consoles and progress bars: data goes to stdout, everything else to stderr."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console
    from rich.progress import Progress


def human_size(size: float) -> str:
    """Bytes as people read them: 512 B, 9.2 KiB, 4.5 MiB, 1.2 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, no_color="NO_COLOR" in os.environ)


def stdout_console() -> Console:
    from rich.console import Console

    return Console(no_color="NO_COLOR" in os.environ)


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Progress]:
    """A rich progress bar on stderr; silent when stderr is not a terminal or `quiet`."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = stderr_console()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
        # rich would otherwise swap sys.stdout for its stderr console while the bar is live,
        # and answers meant for a file or a pipe would land on the screen.
        redirect_stdout=False,
    ) as progress:
        yield progress
