"""Errors of `hrm.train` that are the user's to fix (bad folders, options, runs).

The CLI prints `str(error)` on one line and exits with code 1; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


class TrainingError(Exception):
    """A run cannot start, resume or evaluate: the message says what is wrong and where."""

    def __init__(self, message: str):
        # One line, always: messages may embed text from lower layers that wraps.
        super().__init__(" ".join(str(message).split()))
