"""The puzzle list: every puzzle of the input with its status; moving the cursor picks one."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import OptionList

from hrm.datasets.tasks import Puzzle
from hrm_cli.tui.trace import PuzzleTrace

STATUS = {  # status -> (glyph, style)
    "pending": ("·", "dim"),
    "running": ("…", "bold"),
    "solved": ("✓", "bold green"),
    "unsolved": ("✗", "bold red"),
    "unverified": ("?", "bold yellow"),
    "error": ("!", "bold red"),
}


def short_name(puzzle: Puzzle) -> str:
    """"sudoku.txt:3" (the file's name, not its path), or an ARC puzzle's test name."""
    if puzzle.name:
        return puzzle.name
    source = puzzle.source if puzzle.source.startswith("<") else Path(puzzle.source).name
    return source if puzzle.line is None else f"{source}:{puzzle.line}"


def label(trace: PuzzleTrace) -> Text:
    """"✓ sudoku.txt:3": the puzzle's status and name."""
    glyph, style = STATUS[trace.status]
    return Text.assemble((glyph, style), " ", short_name(trace.puzzle), no_wrap=True,
                         overflow="ellipsis")


class PuzzleList(OptionList):
    DEFAULT_CSS = """
    PuzzleList {
        width: 12%; min-width: 18; max-width: 32; height: 1fr;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, traces: list[PuzzleTrace], **kwargs) -> None:
        super().__init__(*(label(trace) for trace in traces), **kwargs)
        self.traces = traces

    def update_status(self, index: int) -> None:
        self.replace_option_prompt_at_index(index, label(self.traces[index]))


__all__ = ["PuzzleList", "label", "short_name"]
