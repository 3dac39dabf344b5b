"""The timeline: one slot per segment of the budget, the shown one highlighted.

Computed segments are coloured by their verdict (green verified, red not, yellow unknown),
ones still to come are dots; the slot where adaptive halting stops is underlined. The left end says
whether playback runs and at what speed.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from hrm_cli.tui.trace import PuzzleTrace

VERDICT_COLOURS = {True: "#5fd787", False: "#ff5f5f", None: "#d7d75f"}


class Timeline(Widget):
    DEFAULT_CSS = """
    Timeline { height: 1; background: $panel; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.trace: PuzzleTrace | None = None
        self.current = -1
        self.budget = 0
        self.playing = False
        self.speed = 1.0

    def show(self, trace: PuzzleTrace, current: int, budget: int, playing: bool,
             speed: float) -> None:
        self.trace, self.current, self.budget = trace, current, budget
        self.playing, self.speed = playing, speed
        self.refresh()

    def render(self) -> Text:
        state = "▶ playing" if self.playing else "⏸ paused "
        text = Text.assemble((f" {state} ", "bold"), (f"{self.speed:g} seg/s ", "dim"), "│ ")
        count = len(self.trace.segments) if self.trace else 0
        slots = max(self.budget, count)
        if not slots:
            return text
        room = self.content_size.width - text.cell_len - 1
        width = min(4, max(1, room // slots))
        halt_at = self.trace.halt_at if self.trace else None
        for i in range(slots):
            text.append_text(self._slot(i, width, count, halt_at))
        return text

    def _slot(self, i: int, width: int, count: int, halt_at: int | None) -> Text:
        label = str(i + 1)
        if i >= count:  # still to come, or never (the rollout halted before)
            finished = self.trace is not None and self.trace.finished
            return Text((" " if finished else "·").center(width), style="dim")
        glyph = label.center(width) if width > len(label) else "━" * width
        style = VERDICT_COLOURS[self.trace.segments[i].verdict]
        if i == self.current:
            style = f"bold reverse {style}"
        if i == halt_at:
            style += " underline"
        return Text(glyph, style=style)


__all__ = ["Timeline"]
