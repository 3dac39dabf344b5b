"""The help screen (`?`) and the error screen shown when the model cannot be loaded."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from hrm_cli.tui.act import CONTINUE_COLOUR, HALT_COLOUR
from hrm_cli.tui.board import BAD, CHANGED_BG, CONFIDENCE, GIVEN
from hrm_cli.tui.latent import HEAT

KEYS = (
    ("← →  h l", "previous / next segment"),
    ("Home End", "first / last segment computed so far"),
    ("space", "play / pause (from the start when at the end)"),
    ("+ -", "play faster / slower"),
    ("n p  ↑ ↓", "next / previous puzzle (arrows in the puzzle list)"),
    ("z", "zoom: auto, then each board layout"),
    ("v", "latent view: how far each cell's latent state moved"),
    ("tab", "move focus (puzzle list, board: arrows scroll it)"),
    ("?", "this help"),
    ("q", "quit"),
)


def help_text() -> Table:
    keys = Table.grid(padding=(0, 2))
    keys.add_column(style="bold", no_wrap=True)
    keys.add_column()
    for key, what in KEYS:
        keys.add_row(key, what)
    confidence = Text.assemble(*((("■", c)) for _, c in CONFIDENCE))
    board = Table.grid(padding=(0, 2))
    board.add_column(no_wrap=True)
    board.add_column()
    # Styles go on spans, not on the Text: a Text's own style would fill the table cell.
    board.add_row(Text.assemble(("5", GIVEN)), "a given (sudoku)")
    board.add_row(confidence, "predicted cell, by confidence: ≥90%, ≥70%, ≥50%, <50%")
    board.add_row(Text.assemble(("  ", f"on {CHANGED_BG}")), "changed since the previous segment")
    board.add_row(Text.assemble(("  ", BAD)), "breaks a rule (sudoku conflict, broken maze path)")
    board.add_row(Text.assemble(("5", "underline")), "differs from the answer in the input, if any")
    board.add_row("█▓▒░ • ╳", "ARC: confidence shading, changed, differs from expected")
    board.add_row(Text.assemble(*(("■", c) for _, c in HEAT)),
                  "latent view: change of the latent state, rewritten → settled")
    act = Text.assemble(
        "Each segment runs the H and L modules once more; the Q head then scores ",
        ("halt", HALT_COLOUR), " and ", ("continue", CONTINUE_COLOUR),
        " (sigmoid probabilities). Adaptive halting stops at the first segment where halt > "
        "continue (H in the chart, underlined in the timeline); by default (--halt checked) "
        "a rule-breaking answer there runs on, and with --halt max every rollout goes on to "
        "the budget so you can see what more segments would do. A model trained "
        "with --halting halt-only has no continue score: it is fixed at 0.5, so halting "
        "stops where halt passes 0.5.")
    outer = Table.grid(padding=(1, 0))
    outer.add_column()
    for title, body in (("Keys", keys), ("Board", board), ("ACT", act)):
        outer.add_row(Text.assemble((title, "bold underline")))
        outer.add_row(body)
    return outer


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,enter", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 84; height: 90%; max-height: 40;
        border: round $primary; border-title-align: center; padding: 0 1;
        background: $surface;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as body:
            body.border_title = "hrm watch · help"
            yield Static(help_text())
        yield Footer()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


class ErrorScreen(Screen[None]):
    """Replaces the main screen when the model cannot be loaded: say why, and how to quit."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q,escape", "app.quit_with_error", "Quit")]
    DEFAULT_CSS = """
    ErrorScreen { align: center middle; }
    ErrorScreen > Vertical {
        width: 90%; max-width: 80; height: auto;
        border: heavy $error; padding: 1 2; border-title-align: center;
    }
    ErrorScreen #hint { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield Static(Text(self.message, style="bold"), id="message")
            yield Static("Press q to quit.", id="hint")
        yield Footer()


__all__ = ["KEYS", "ErrorScreen", "HelpScreen", "help_text"]
