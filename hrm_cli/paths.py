"""Paths from the command line, checked the same way in every command.

Inputs: a missing, unreadable or wrong-kind input is an error of the input (exit 1,
`Error: PATH: reason`), never a usage error. Outputs: a name that starts with `-` is
refused (exit 2), since it is almost always a mistyped option and such a file is awkward
to remove; `./-name` says it is meant.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import click


def check_input_path(name: str, *, file_okay: bool = True, dir_okay: bool = True) -> None:
    """Raise the OSError a user would get from opening `name` as the input it should be."""
    path = Path(name)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
    if path.is_dir() and not dir_okay:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
    if not path.is_dir() and not file_okay:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), name)
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)


class InputPath(click.ParamType):
    """A file or folder to read; checked by `check_input_path` (exit 1, not 2)."""

    name = "path"

    def __init__(self, *, file_okay: bool = True, dir_okay: bool = True):
        self.file_okay = file_okay
        self.dir_okay = dir_okay

    def convert(self, value, param, ctx) -> str:
        check_input_path(os.fspath(value), file_okay=self.file_okay, dir_okay=self.dir_okay)
        return os.fspath(value)

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="dir" if not self.file_okay else "file")]


def check_output_name(ctx: click.Context, param: click.Parameter, value: str | None
                      ) -> str | None:
    """A click callback for output options: refuse `-name` (but not `-`, stdout)."""
    if value is not None and value != "-" and value.startswith("-"):
        raise click.BadParameter(f"{value!r} starts with '-', like an option; write "
                                 f"./{value} if that is the name you want", ctx, param)
    return value
