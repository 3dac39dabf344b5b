"""Errors raised for bad user input: each carries enough context for a one-line message."""

from __future__ import annotations


class HRMDataError(Exception):
    """Base class for problems with data the user gave us (files, names, downloads)."""


class PuzzleParseError(HRMDataError):
    """A puzzle could not be read.

    `source` names where the text came from (a file path, ``<stdin>`` or a label) and `line`
    is the 1-based line where the problem is, or None when it concerns the whole input.
    """

    def __init__(self, message: str, source: str = "<input>", line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        super().__init__(str(self))

    @property
    def location(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class DatasetFormatError(HRMDataError):
    """A built dataset folder is missing files or its arrays disagree with each other."""


class DownloadError(HRMDataError):
    """A download failed, or what arrived does not match the registry."""


class OfflineError(DownloadError):
    """The network is needed but HRM_OFFLINE forbids it."""
