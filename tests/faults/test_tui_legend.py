"""The board's legend sits inside the board's frame at 100x32 and wraps only between its
entries (it used to run along the bottom borders of the neighbouring panels, with a
swatch on one line and its words on the next)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from textual.widgets import Static

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from test_watch_snapshots import make_app, settle

from hrm_cli.tui.board import Legend


@pytest.mark.parametrize(("task", "name"), [("sudoku", "sudoku.csv"), ("maze", "maze.txt"),
                                            ("arc", "arc-task.json")])
def test_the_legend_is_inside_the_board_frame_at_100x32(task, name):
    async def check() -> None:
        app = make_app(task, name)
        async with app.run_test(size=(100, 32)) as pilot:
            await settle(pilot)
            await pilot.press("home", "right")
            await pilot.pause()
            legend = app.query_one("#legend", Static)
            pane = app.query_one("#board-pane")
            act = app.query_one("#act")
            inside = pane.region.shrink((1, 1, 1, 1))  # within the frame's border
            assert inside.contains_region(legend.region), (legend.region, pane.region)
            # Above the row where the panels beside it draw their bottom border.
            assert legend.region.bottom < act.region.bottom
            shown = legend.content
            assert isinstance(shown, Legend)
            width = legend.content_region.width
            lines = [line.plain for line in shown.lines(width)]
            assert all(len(line) <= width for line in lines)
            for item in shown.items:  # every entry whole on one line
                assert any(item.plain in line for line in lines), (item.plain, lines)
            assert legend.region.height == len(lines)

    asyncio.run(check())
