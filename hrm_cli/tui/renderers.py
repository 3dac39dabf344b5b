"""Board renderers by task name: how the TUI draws each task's puzzles.

A renderer gives a puzzle's layouts (most legible first) and the legend of its marks. A task
without an entry here is drawn by `grid_board` (cell values as characters, coloured by
confidence), so a new task is watchable before it has a board of its own.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.text import Text

    from hrm.datasets.tasks import Puzzle
    from hrm_cli.tui.paint import Layout
    from hrm_cli.tui.trace import Segment


class BoardRenderer(Protocol):
    def layouts(self, puzzle: Puzzle, segment: Segment | None) -> list[Layout]:
        """(name, painter) pairs, most legible first; the last is the most compact."""
        ...

    def legend(self, puzzle: Puzzle) -> list[Text]:
        """The legend's entries for this puzzle's board."""
        ...


RENDERERS: dict[str, str | BoardRenderer] = {
    "sudoku": "hrm_cli.tui.sudoku_board:BOARD",
    "maze": "hrm_cli.tui.maze_board:BOARD",
    "arc": "hrm_cli.tui.arc_board:BOARD",
}
"""Task name -> renderer, or "module:attribute" of one (imported when first drawn)."""

DEFAULT = "hrm_cli.tui.grid_board:BOARD"


def register_renderer(task: str, renderer: str | BoardRenderer) -> None:
    RENDERERS[task] = renderer


def renderer_for(task: str) -> BoardRenderer:
    """The renderer of `task`, else the generic grid board."""
    renderer = RENDERERS.get(task, DEFAULT)
    if isinstance(renderer, str):
        module, _, attribute = renderer.partition(":")
        renderer = getattr(import_module(module), attribute)
    return renderer


__all__ = ["RENDERERS", "BoardRenderer", "register_renderer", "renderer_for"]
