"""`WatchApp`: the puzzle list, the board, the ACT panel and the timeline.

The model runs in one background thread (`run_model`): it loads the model, then rolls out
the selected puzzle first and the others after it, posting every segment to the app as a
message. All state lives on the UI thread; the worker only reads `selected`, so it can
drop a half-done puzzle when the user picks another one (that puzzle starts over later).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, Literal

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Header, OptionList, Static
from textual.worker import Worker, get_current_worker

from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.tasks import Puzzle
from hrm_cli.errors import format_user_error
from hrm_cli.tui.act import ActPanel
from hrm_cli.tui.board import BoardView, legend
from hrm_cli.tui.puzzles import PuzzleList, short_name
from hrm_cli.tui.screens import ErrorScreen, HelpScreen
from hrm_cli.tui.timeline import Timeline
from hrm_cli.tui.trace import PuzzleTrace, Runner, Segment

SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # segments per second
EventKind = Literal["started", "segment", "reset", "finished", "failed"]


class WatchApp(App[None]):
    """Watch a model solve `puzzles`; `load` returns the model (it runs in the worker)."""

    TITLE = "hrm watch"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #main { height: 1fr; }
    #puzzles { border: round $panel-lighten-2; }
    #puzzles:focus { border: round $accent; }
    #board-pane { width: 1fr; border: round $primary; }
    #board-pane:focus-within { border: round $accent; }
    #board-view { height: 1fr; }
    #legend { height: auto; padding: 0 1; color: $text-muted; }
    #act { border: round $secondary; }
    """
    # Stepping and playback are priority bindings: they work whatever has focus (the
    # puzzle list and the board would otherwise take the arrows and Home/End).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "step(-1)", "Step", key_display="←→", priority=True),
        Binding("right,l", "step(1)", "Step", show=False, priority=True),
        Binding("home,g", "first", "First", show=False, priority=True),
        Binding("end,G", "last", "Last", show=False, priority=True),
        Binding("space", "toggle_play", "Play", priority=True),
        Binding("plus,equals_sign", "speed(1)", "Speed", key_display="+-"),
        Binding("minus", "speed(-1)", "Slower", show=False),
        Binding("n", "puzzle(1)", "Puzzle", key_display="n/p"),
        Binding("p", "puzzle(-1)", "Previous puzzle", show=False),
        Binding("z", "zoom", "Zoom"),
        Binding("v", "latent", "Latent"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    # ------------------------------------------------------------------ messages
    class ModelReady(Message):
        def __init__(self, runner: Runner) -> None:
            super().__init__()
            self.runner = runner

    class ModelFailed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    class PuzzleEvent(Message):
        """Puzzle `index` started, got a segment, was dropped half-way ("reset") to run
        another one first, finished, or failed (it does not fit the model)."""

        def __init__(self, index: int, segment: Segment | None = None,
                     error: str | None = None, kind: EventKind = "segment") -> None:
            super().__init__()
            self.index, self.segment, self.error, self.kind = index, segment, error, kind

    # ------------------------------------------------------------------ set-up
    def __init__(self, task: str, puzzles: Sequence[Puzzle], load: Callable[[], Runner], *,
                 source: str = "", speed: float = 2.0, notes: Sequence[str] = ()) -> None:
        super().__init__()
        if not puzzles:
            raise ValueError("WatchApp needs at least one puzzle")
        self.task_name = task
        self.traces = [PuzzleTrace(p) for p in puzzles]
        self.load = load
        self.source = source
        self.notes = list(notes)
        self.runner: Runner | None = None
        self.failure: str | None = None  # why the model could not be loaded
        self.selected = 0
        self.segment = -1  # index into the selected trace's segments; -1: none yet
        self.playing = False
        self.speed_index = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - speed))
        self._timer: Timer | None = None
        self.title = f"hrm watch · {task}"
        self.sub_title = self._describe("loading the model…")

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            puzzles = PuzzleList(self.traces, id="puzzles")
            puzzles.border_title = f"Puzzles ({len(self.traces)})"
            puzzles.display = len(self.traces) > 1
            yield puzzles
            # The legend is inside the board's frame: beside the frame, its wrapped second
            # line ran along the bottom borders of the neighbouring panels.
            with Vertical(id="board-pane") as pane:
                yield BoardView(id="board-view", frame=pane)
                yield Static(id="legend")
            act = ActPanel(id="act")
            act.border_title = "ACT"
            yield act
        yield Timeline()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#puzzles" if len(self.traces) > 1 else "#board-view").focus()
        self._show()
        if self.notes:
            shown = self.notes[:5] + ([f"… and {len(self.notes) - 5} more"]
                                      if len(self.notes) > 5 else [])
            self.notify("\n".join(shown), title="Input",
                        severity="warning", timeout=10)
        self.run_model()

    @property
    def trace(self) -> PuzzleTrace:
        return self.traces[self.selected]

    @property
    def shown_segment(self) -> Segment | None:
        segments = self.trace.segments
        return segments[self.segment] if 0 <= self.segment < len(segments) else None

    def _describe(self, model: str) -> str:
        return " · ".join(part for part in (self.source, model) if part)

    # ------------------------------------------------------------------ the worker
    @work(thread=True, exclusive=True, group="model", name="rollout")
    def run_model(self) -> None:
        worker = get_current_worker()
        try:
            runner = self.load()
        except Exception as exc:
            message = format_user_error(exc)
            if message is None:
                raise  # a bug: let Textual show the traceback
            self.post_message(self.ModelFailed(message))
            return
        self.post_message(self.ModelReady(runner))
        done: set[int] = set()
        while not worker.is_cancelled:
            index = self._next_puzzle(done)
            if index is None:
                return
            done.add(index)
            if not self._roll_out(runner, index, done, worker):
                done.discard(index)

    def _next_puzzle(self, done: set[int]) -> int | None:
        """The selected puzzle, else the next one after it not run yet (wrapping)."""
        count = len(self.traces)
        for offset in range(count):
            index = (self.selected + offset) % count
            if index not in done:
                return index
        return None

    def _roll_out(self, runner: Runner, index: int, done: set[int], worker: Worker) -> bool:
        """Post puzzle `index`'s segments; False when dropped for another selected puzzle."""
        puzzle = self.traces[index].puzzle
        try:
            runner.check(puzzle)
            self.post_message(self.PuzzleEvent(index, kind="started"))
            for _, segment in runner.rollout([puzzle]):
                if worker.is_cancelled:
                    return True
                self.post_message(self.PuzzleEvent(index, segment))
                wanted = self.selected
                if not segment.halted and wanted != index and wanted not in done:
                    self.post_message(self.PuzzleEvent(index, kind="reset"))
                    return False
        except PuzzleParseError as exc:  # the puzzle does not fit this model
            self.post_message(self.PuzzleEvent(index, error=exc.message, kind="failed"))
            return True
        self.post_message(self.PuzzleEvent(index, kind="finished"))
        return True

    # ------------------------------------------------------------------ worker messages
    def on_watch_app_model_ready(self, message: ModelReady) -> None:
        self.runner = runner = message.runner
        self.sub_title = self._describe(f"{runner.name} on {runner.device} · halt "
                                        f"{runner.halt}, up to {runner.budget} segments")
        self._show()

    def on_watch_app_model_failed(self, message: ModelFailed) -> None:
        self.failure = message.message
        self._set_playing(False)
        self.push_screen(ErrorScreen("Could not load the model", message.message))

    def on_watch_app_puzzle_event(self, message: PuzzleEvent) -> None:
        trace = self.traces[message.index]
        if message.kind == "started":
            trace.running = True
        elif message.kind == "reset":
            trace.reset()
            if message.index == self.selected:  # the user came back to it meanwhile
                self.segment = -1
        elif message.kind == "finished":
            trace.running, trace.finished = False, True
        elif message.kind == "failed":
            trace.running, trace.error = False, message.error
        elif message.segment is not None:
            # Follow the newest segment, unless the user is looking at an older one.
            follow = self.segment >= len(trace.segments) - 1 and not self.playing
            trace.segments.append(message.segment)
            if follow and message.index == self.selected:
                self.segment = len(trace.segments) - 1
        self.query_one(PuzzleList).update_status(message.index)
        if message.index == self.selected:
            self._show()

    # ------------------------------------------------------------------ showing
    def _show(self) -> None:
        trace, segment = self.trace, self.shown_segment
        puzzle = trace.puzzle
        board = self.query_one(BoardView)
        h, w = puzzle.grid.shape
        board.frame.border_title = f"{short_name(puzzle)} · {h}x{w}"
        error = Text(f"{puzzle.location}: {trace.error}", style="bold red") if trace.error else None
        board.show(puzzle, segment, error)
        self.query_one("#legend", Static).update(legend(puzzle, board.latent))
        runner = self.runner
        state = "Loading the model…" if runner is None else ""
        budget = runner.budget_for(puzzle) if runner else None
        self.query_one(ActPanel).show(trace, self.segment, budget,
                                      runner.halt if runner else "", state,
                                      runner.halting if runner else "q-learning")
        self.query_one(Timeline).show(trace, self.segment, budget or 0,
                                      self.playing, SPEEDS[self.speed_index])

    def _goto(self, segment: int) -> None:
        count = len(self.trace.segments)
        self.segment = min(max(segment, 0), count - 1) if count else -1
        self._show()

    def _select(self, index: int) -> None:
        if index == self.selected:
            return
        self.selected = index
        self._set_playing(False)
        self._goto(len(self.trace.segments) - 1)  # a finished puzzle opens on its answer

    # ------------------------------------------------------------------ playback
    def _set_playing(self, playing: bool) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.playing = playing
        if playing:
            self._timer = self.set_interval(1 / SPEEDS[self.speed_index], self._tick)
        if self.is_mounted:
            self._show()

    def _tick(self) -> None:
        trace = self.trace
        if self.segment < len(trace.segments) - 1:
            self._goto(self.segment + 1)
        elif trace.finished or trace.error:
            self._set_playing(False)
        # else: the model has not produced the next segment yet; wait for it

    # ------------------------------------------------------------------ actions
    def action_step(self, delta: int) -> None:
        self._set_playing(False)
        self._goto(self.segment + delta)

    def action_first(self) -> None:
        self._set_playing(False)
        self._goto(0)

    def action_last(self) -> None:
        self._set_playing(False)
        self._goto(len(self.trace.segments) - 1)

    def action_toggle_play(self) -> None:
        if self.playing:
            self._set_playing(False)
            return
        trace = self.trace
        if trace.finished and self.segment >= len(trace.segments) - 1:
            self._goto(0)  # at the end: play from the start
        self._set_playing(True)

    def action_speed(self, delta: int) -> None:
        self.speed_index = min(max(self.speed_index + delta, 0), len(SPEEDS) - 1)
        self._set_playing(self.playing)  # restart the timer at the new rate

    def action_puzzle(self, delta: int) -> None:
        puzzles = self.query_one(PuzzleList)
        puzzles.highlighted = min(max(self.selected + delta, 0), len(self.traces) - 1)

    def action_zoom(self) -> None:
        self.query_one(BoardView).cycle_zoom()

    def action_latent(self) -> None:
        board = self.query_one(BoardView)
        board.latent = not board.latent
        self._show()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_quit_with_error(self) -> None:
        self.exit(return_code=1)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Behind the error screen only quitting makes sense: hide the other keys."""
        return self.failure is None or action in ("quit", "quit_with_error")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._select(event.option_index)


__all__ = ["SPEEDS", "WatchApp"]
