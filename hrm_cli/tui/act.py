"""The ACT panel: where the rollout is, what the Q head says, and whether it is right.

The chart draws q_halt and q_continue (as probabilities) of every segment so far as two
small bar rows; a marker row points at the shown segment (▲) and at the first segment
with q_halt > q_continue (H), where adaptive halting stops.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from hrm.datasets.tasks import get_task
from hrm_cli.tui.board import confidence_colour
from hrm_cli.tui.trace import PuzzleTrace, Segment

HALT_COLOUR = "#ffaf5f"
CONTINUE_COLOUR = "#5fafff"
CURRENT_BG = "#444444"
BARS = " ▁▂▃▄▅▆▇█"
LABEL = 5  # "halt " / "cont " in front of the bars
ROWS = 2  # bar height in characters: 16 levels (4, when the panel is tall enough)
FACT_LINES = 14  # the panel's lines with 2-row bars


def bar_rows(values: list[float], rows: int = ROWS) -> list[str]:
    """Vertical bars, one character wide each; row 0 is the top. A computed value always
    shows at least the lowest block, so a zero is told apart from "not yet"."""
    levels = len(BARS) - 1
    out = []
    for row in range(rows - 1, -1, -1):
        chars = []
        for v in values:
            units = max(1, round(min(max(v, 0.0), 1.0) * levels * rows))
            chars.append(BARS[min(max(units - row * levels, 0), levels)])
        out.append("".join(chars))
    return out


def q_chart(segments: list[Segment], current: int, halt_at: int | None, width: int,
            rows: int = ROWS) -> Text:
    """The q_halt / q_continue chart of `segments`, `rows` high per series, scrolled so
    `current` is visible."""
    columns = max(1, width - LABEL)
    start = 0
    if len(segments) > columns:
        start = min(max(0, current - columns // 2), len(segments) - columns)
    shown = segments[start:start + columns]
    text = Text()
    for label, colour, values in (("halt ", HALT_COLOUR, [s.q_halt for s in shown]),
                                  ("cont ", CONTINUE_COLOUR, [s.q_continue for s in shown])):
        for row, bars in enumerate(bar_rows(values, rows)):
            text.append(label if row == rows - 1 else " " * LABEL, style=colour)
            for i, char in enumerate(bars):
                text.append(char, style=colour + (f" on {CURRENT_BG}"
                                                  if start + i == current else ""))
            text.append("\n")
    markers = []
    for i in range(start, start + len(shown)):
        markers.append("▲" if i == current else "H" if i == halt_at else " ")
    text.append(" " * LABEL + "".join(markers).rstrip(), style="bold")
    return text


class ActPanel(Widget):
    """Segment k of max, Q values and their chart, the halting point, the verdict."""

    DEFAULT_CSS = """
    ActPanel { width: 22%; min-width: 26; max-width: 44; height: 1fr; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.trace: PuzzleTrace | None = None
        self.current = -1
        self.budget: int | None = None
        self.halt_mode = ""
        self.halting = "q-learning"
        self.state = "Loading the model…"

    def show(self, trace: PuzzleTrace, current: int, budget: int | None, halt_mode: str,
             state: str = "", halting: str = "q-learning") -> None:
        """`state` replaces the segment facts while there are none (loading, errors);
        `halting` is the model's rule ("halt-only" models have no continue score)."""
        self.trace, self.current, self.budget = trace, current, budget
        self.halt_mode, self.state, self.halting = halt_mode, state, halting
        self.refresh()

    def render(self) -> Text:
        trace = self.trace
        if trace is not None and trace.error:
            return Text(trace.error, style="bold red")
        if trace is None or not trace.segments:
            return Text(self.state or "Waiting for the first segment…", style="italic")
        segment = trace.segments[self.current]
        # Taller bars when the panel has the room (not on an 80x24 terminal).
        rows = 2 * ROWS if self.content_size.height >= FACT_LINES + 2 * ROWS else ROWS
        parts = [self._heading(trace, segment),
                 q_chart(trace.segments, self.current, trace.halt_at, self.content_size.width,
                         rows),
                 self._halting(trace), verdict_text(segment)]
        if segment.answer is not None:  # else nothing readable was predicted: no cells
            parts.append(self._counts(trace, segment))
        return Text("\n").join(parts)

    def _heading(self, trace: PuzzleTrace, segment: Segment) -> Text:
        of = f" of {self.budget}" if self.budget else ""
        text = Text.assemble((f"Segment {segment.index + 1}{of}", "bold"))
        if not trace.finished:
            text.append("  running", style="italic dim")
        text.append_text(Text.assemble("\nq halt     ", (f"{segment.q_halt:.3f}", HALT_COLOUR),
                                       "\nq continue ", (f"{segment.q_continue:.3f}",
                                                         CONTINUE_COLOUR)))
        if self.halting == "halt-only":  # the flat row is the threshold, not a prediction
            text.append(" fixed", style="italic dim")
        return text

    @staticmethod
    def _counts(trace: PuzzleTrace, segment: Segment) -> Text:
        """Aligned cell counts: what moved, what breaks the rules, what differs from the
        known answer, and the mean confidence."""
        counts = [("changed", str(segment.changed_count), "")]
        # A task whose rules check answers counts breaks; for the others (ARC) `bad` is
        # only the difference from the known answer, counted on the next line.
        if segment.bad is not None and get_task(trace.puzzle.task).checks_answers:
            counts.append(("break rules", str(segment.bad_count),
                           "bold red" if segment.bad_count else ""))
        if segment.wrong is not None:
            counts.append(("≠ known answer", str(segment.wrong_count), ""))
        if segment.mean_confidence is not None:
            counts.append(("mean confidence", f"{segment.mean_confidence:.2f}",
                           confidence_colour(segment.mean_confidence)))
        width = max(len(label) + len(value) for label, value, _ in counts) + 1
        return Text("\n").join(
            Text.assemble(label, " " * (width - len(label) - len(value)), (value, style))
            for label, value, style in counts)

    def _halting(self, trace: PuzzleTrace) -> Text:
        if trace.halt_at is not None:
            return Text.assemble("Adaptive halt: ", (f"seg. {trace.halt_at + 1}", "bold"))
        if trace.finished:
            return Text("Adaptive halt: never")
        return Text("Adaptive halt: not yet")


def verdict_text(segment: Segment) -> Text:
    if segment.verdict is True:
        return Text("✓ verified", style="bold green")
    if segment.verdict is None:
        return Text("? unverified (no expected)", style="bold yellow")
    return Text("✗ not solved", style="bold red")


__all__ = ["ActPanel", "bar_rows", "q_chart", "verdict_text"]
