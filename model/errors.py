"""Errors raised by `hrm.model` for bad checkpoint files.

The CLI maps `CheckpointError` to exit code 1 and prints `str(error)`, so the message is
always one line naming the file and the problem.
"""

from __future__ import annotations

from pathlib import Path


class CheckpointError(Exception):
    """A checkpoint or bundle cannot be read or does not fit the model it describes.

    `path` is the offending file (or folder) and `problem` says what is wrong with it.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        # One line, always: exception texts from lower layers (JSON, safetensors) may wrap.
        self.problem = " ".join(str(problem).split())
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"
