"""`hrm watch`: the Textual app driven by Pilot, `--export`, and the command's edges.

The models are tiny random bundles (they do not solve anything): the tests check what the
screens show and how the keys move through segments and puzzles, not the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from rich.style import Style
from textual.widgets import Static

from hrm.datasets.tasks import Puzzle, get_task, task_metadata
from hrm.model import HRM, HRMConfig, save_bundle
from hrm_cli.main import cli
from hrm_cli.tui.act import ActPanel, bar_rows
from hrm_cli.tui.app import WatchApp
from hrm_cli.tui.board import BoardView
from hrm_cli.tui.engine import load_engine
from hrm_cli.tui.latent import HEAT, heat_colour
from hrm_cli.tui.screens import ErrorScreen, HelpScreen
from hrm_cli.tui.trace import Segment, make_segment
from hrm_cli.watch_cmd import _read_puzzles

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEGMENTS = 4  # the tiny preset's halt_max_steps
SHAPES = {"sudoku": (11, 81), "sudoku4": (6, 16), "maze": (6, 900), "arc": (12, 900)}


pytestmark = pytest.mark.usefixtures("hrm_home")


def make_bundle(folder: Path, task: str, vocab: int, seq_len: int,
                halting: str = "q-learning") -> Path:
    torch.manual_seed(0)
    model = HRM(HRMConfig.from_preset("tiny", vocab_size=vocab, seq_len=seq_len,
                                      halting=halting))
    return save_bundle(model, folder, task=task_metadata(task, seq_len, vocab),
                       provenance={"source": "random weights for tests"})


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("watch-models")
    return {name: make_bundle(root / name, name.rstrip("4"), *shape)
            for name, shape in SHAPES.items()}


def make_app(task: str, example: str, model: Path | str, *, halt: str = "max",
             speed: float = 2.0) -> WatchApp:
    """The app as `hrm watch TASK examples/EXAMPLE --model MODEL` builds it."""
    puzzles, notes = _read_puzzles(task, [str(EXAMPLES / example)])
    return WatchApp(task, puzzles, lambda: load_engine(task, str(model), "cpu", halt, None),
                    source=example, speed=speed, notes=notes)


def run(app: WatchApp, scenario: Callable[..., Awaitable[None]],
        size: tuple[int, int] = (80, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def settle(pilot) -> None:
    """Wait until the worker has rolled out every puzzle and its messages are handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def wait_for(pilot, condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


def act_text(app: WatchApp) -> str:
    return app.query_one(ActPanel).render().plain


def board_text(app: WatchApp) -> str:
    return str(app.query_one("#board").render())


# --------------------------------------------------------------------------- starting


@pytest.mark.parametrize(("task", "example", "model"), [
    ("sudoku", "sudoku.txt", "sudoku"),
    ("sudoku", "sudoku-4x4.txt", "sudoku4"),
    ("maze", "maze.txt", "maze"),
    ("arc", "arc-task.json", "arc"),
])
def test_starts_on_each_task(models, task, example, model):
    app = make_app(task, example, models[model])

    async def scenario(pilot) -> None:
        await settle(pilot)
        assert app.runner is not None and app.failure is None
        assert all(trace.finished and len(trace.segments) == SEGMENTS for trace in app.traces)
        assert app.segment == SEGMENTS - 1  # it followed the rollout to its end
        assert f"Segment {SEGMENTS} of {SEGMENTS}" in act_text(app)
        assert "q halt" in act_text(app) and "Adaptive halt" in act_text(app)
        assert board_text(app).strip()
        assert "scripted" not in app.sub_title and str(models[model]) in app.sub_title

    run(app, scenario)


def test_a_halt_only_model_shows_its_continue_score_as_fixed(models, tmp_path):
    halt_only = make_bundle(tmp_path / "halt-only", "sudoku", *SHAPES["sudoku"],
                            halting="halt-only")
    shown = {}
    for name, model in (("q-learning", models["sudoku"]), ("halt-only", halt_only)):
        app = make_app("sudoku", "sudoku.txt", model)

        async def scenario(pilot, app=app, name=name) -> None:
            await settle(pilot)
            assert app.runner.halting == name
            shown[name] = act_text(app)

        run(app, scenario)
    assert "q continue 0.500 fixed" in shown["halt-only"]
    assert "fixed" not in shown["q-learning"]


@pytest.mark.parametrize(("size", "layout"), [((80, 24), "2 cells/char"),
                                              ((200, 60), "2 chars/cell")])
def test_a_30x30_maze_fits_small_and_large_terminals(models, size, layout):
    app = make_app("maze", "maze.txt", models["maze"])

    async def scenario(pilot) -> None:
        await settle(pilot)
        view = app.query_one(BoardView)
        assert view.layout_name == layout
        board = app.query_one("#board")
        assert board.size.width <= view.size.width and board.size.height <= view.size.height
        await pilot.press("z")  # zoom by hand: the widest layout, scrolled
        assert view.layout_name == "2 chars/cell" and "z" in view.frame.border_subtitle

    run(app, scenario, size)


def board_colours(app: WatchApp) -> set[str]:
    """The colours of the shown board's spans, as #rrggbb."""
    text = app.query_one("#board", Static).content
    colours = set()
    for span in text.spans:
        style = Style.parse(span.style) if isinstance(span.style, str) else span.style
        for colour in (style.color, style.bgcolor):
            if colour is not None and colour.triplet is not None:
                colours.add(colour.triplet.hex)
    return colours


def test_the_latent_view_shows_how_far_each_cell_moved(models):
    app = make_app("sudoku", "sudoku.txt", models["sudoku"])

    async def scenario(pilot) -> None:
        await settle(pilot)
        view = app.query_one(BoardView)
        plain_layout = view.layout_name
        await pilot.press("v")
        assert view.latent and view.layout_name.endswith(" + latent")
        assert "latent change" in board_text(app)
        assert "latent moving" in app.query_one("#legend", Static).content.plain
        shown = {}
        for key in ("home", "end"):
            await pilot.press(key)
            change = app.shown_segment.latent_change
            assert change is not None and change.shape == (9, 9)
            expected = {heat_colour(float(v)) for v in change.flat}
            assert expected <= board_colours(app)
            shown[key] = change
        # The first segment moves the latent state from its initial value everywhere;
        # a random model's later segments move it by other amounts.
        assert shown["home"].min() > 0 and not np.allclose(shown["home"], shown["end"])
        await pilot.press("v")
        assert not view.latent and view.layout_name == plain_layout
        assert "latent change" not in board_text(app)
        assert "latent moving" not in app.query_one("#legend", Static).content.plain

    run(app, scenario)


def test_the_latent_view_of_a_30x30_maze_fits_80x24(models):
    app = make_app("maze", "maze.txt", models["maze"])

    async def scenario(pilot) -> None:
        await settle(pilot)
        await pilot.press("v")
        view = app.query_one(BoardView)
        board = app.query_one("#board")
        assert view.layout_name.endswith("latent") or view.layout_name == "latent only"
        assert board.size.width <= view.size.width and board.size.height <= view.size.height

    run(app, scenario)


def test_heat_colours_go_from_rewritten_to_settled():
    # One value in each half-decade band, from a rewritten cell (1) to a settled one.
    changes = [1.0, 0.18, 0.056, 0.018, 0.0056, 0.0018, 0.00056]
    assert [heat_colour(v) for v in changes] == [colour for _, colour in HEAT]
    assert heat_colour(0.0) == HEAT[-1][1] and heat_colour(0.3) == HEAT[0][1]


# --------------------------------------------------------------------------- keys


def test_stepping_changes_the_shown_segment(models):
    app = make_app("sudoku", "sudoku.txt", models["sudoku"])

    async def scenario(pilot) -> None:
        await settle(pilot)
        await pilot.press("left")
        assert app.segment == SEGMENTS - 2 and app.shown_segment.index == SEGMENTS - 2
        assert f"Segment {SEGMENTS - 1} of {SEGMENTS}" in act_text(app)
        await pilot.press("home")
        assert app.segment == 0 and "Segment 1 of" in act_text(app)
        await pilot.press("left")  # already at the first: stays
        assert app.segment == 0
        await pilot.press("right", "l")
        assert app.segment == 2
        await pilot.press("end", "right")
        assert app.segment == SEGMENTS - 1

    run(app, scenario)


def test_play_advances_on_its_own_and_stops_at_the_end(models):
    app = make_app("sudoku", "sudoku.txt", models["sudoku"], speed=16)

    async def scenario(pilot) -> None:
        await settle(pilot)
        await pilot.press("home")
        assert app.segment == 0
        await pilot.press("space")  # then no more keys: the timer steps through
        await wait_for(pilot, lambda: app.segment == SEGMENTS - 1 and not app.playing)
        await pilot.press(*["minus"] * 5, "space")  # at the end: again from the start,
        assert app.playing and app.segment == 0  # now at 0.5 segments per second
        await pilot.press("space")
        assert not app.playing

    run(app, scenario)


def test_speed_keys(models):
    app = make_app("sudoku", "sudoku.txt", models["sudoku"], speed=2)

    async def scenario(pilot) -> None:
        await pilot.press("plus", "plus")
        assert "8 seg/s" in str(app.query_one("Timeline").render())
        await pilot.press(*["minus"] * 10)
        assert "0.5 seg/s" in str(app.query_one("Timeline").render())
        await settle(pilot)

    run(app, scenario)


def test_picking_another_puzzle(models):
    app = make_app("sudoku", "sudoku.txt", models["sudoku"])

    async def scenario(pilot) -> None:
        await settle(pilot)
        first = app.shown_segment
        await pilot.press("n")
        assert app.selected == 1 and "sudoku.txt:2" in app.query_one(BoardView).frame.border_title
        assert app.shown_segment is not first and app.segment == SEGMENTS - 1
        await pilot.press("down", "down")  # the puzzle list has the focus
        assert app.selected == 3
        await pilot.press("p")
        assert app.selected == 2
        await pilot.press("n", "n", "n")  # stops at the last one
        assert app.selected == 3

    run(app, scenario)


def test_help_opens_and_closes(models):
    app = make_app("sudoku", "sudoku-4x4.txt", models["sudoku4"])

    async def scenario(pilot) -> None:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await settle(pilot)

    run(app, scenario)


def test_quit_key(models):
    app = make_app("sudoku", "sudoku-4x4.txt", models["sudoku4"])

    async def scenario(pilot) -> None:
        await settle(pilot)
        await pilot.press("q")

    run(app, scenario)
    assert app.return_code == 0 and app.failure is None


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("spec", "message"), [
    ("nope", "no model named 'nope'"),
    ("maze", "a maze model, not sudoku"),
])
def test_a_failing_model_load_shows_an_error_screen(models, spec, message):
    model = models.get(spec, spec)
    app = make_app("sudoku", "sudoku.txt", model)

    async def scenario(pilot) -> None:
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert message in app.failure
        assert message in str(app.screen.query_one("#message").render())
        await pilot.press("q")

    run(app, scenario)
    assert app.return_code == 1


def test_a_puzzle_that_does_not_fit_the_model_is_shown_as_an_error(models):
    app = make_app("sudoku", "sudoku-4x4.txt", models["sudoku"])  # a 9x9 model

    async def scenario(pilot) -> None:
        await settle(pilot)
        assert app.trace.error and "4x4" in app.trace.error
        assert "4x4" in board_text(app) and not isinstance(app.screen, ErrorScreen)
        await pilot.press("right", "space", "n")  # nothing to step through; no crash

    run(app, scenario)


# --------------------------------------------------------------------------- the worker


class GatedRunner:
    """Yields a segment only when the test lets it: makes "pick another puzzle while the
    first one is still running" deterministic."""

    name, device, halt, halting, budget = "gated", "cpu", "max", "q-learning", 3

    def __init__(self) -> None:
        self.gate = threading.Semaphore(0)
        self.started: list[int] = []

    def check(self, puzzle: Puzzle) -> None:
        pass

    def budget_for(self, puzzle: Puzzle) -> int:
        return self.budget

    def rollout(self, puzzles: Sequence[Puzzle]) -> Iterator[tuple[int, Segment]]:
        [puzzle] = puzzles
        self.started.append(int(puzzle.line))
        task = get_task("sudoku")
        tokens, previous = task.encode(puzzle, 81), None
        for k in range(self.budget):
            assert self.gate.acquire(timeout=30)
            previous = make_segment(task, puzzle, k, tokens, np.full(81, 0.5), 0.1, 0.9,
                                    k == self.budget - 1, previous)
            yield 0, previous


def test_picking_a_puzzle_mid_rollout_runs_it_first():
    runner = GatedRunner()
    puzzles, _ = _read_puzzles("sudoku", [str(EXAMPLES / "sudoku.txt")])
    app = WatchApp("sudoku", puzzles, lambda: runner)

    async def scenario(pilot) -> None:
        runner.gate.release()
        await wait_for(pilot, lambda: len(app.traces[0].segments) == 1)
        await pilot.press("n", "n")  # puzzle 3, while puzzle 1 is half done
        runner.gate.release()  # puzzle 1's second segment: then it gives way
        await wait_for(pilot, lambda: runner.started[-1] == 3 and not app.traces[0].segments)
        assert app.traces[0].status == "pending"  # dropped, to be run again later
        for _ in range(3 + 3 * 3):
            runner.gate.release()
        await settle(pilot)
        assert runner.started == [1, 3, 4, 1, 2]
        assert all(trace.finished and len(trace.segments) == 3 for trace in app.traces)

    run(app, scenario)


def test_bar_rows():
    assert bar_rows([0.0, 0.5, 1.0]) == ["  █", "▁██"]


# --------------------------------------------------------------------------- the command


def watch(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["watch", *args], input=input)


def test_export_writes_every_segment_as_json(tmp_path, models):
    out = tmp_path / "rollout.json"
    result = watch("sudoku", str(EXAMPLES / "sudoku.csv"), "-m", str(models["sudoku"]),
                   "--halt", "max", "--export", str(out))
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["task"] == "sudoku" and document["max_segments"] == SEGMENTS
    assert document["halt"] == "max" and document["device"] == "cpu"
    first = document["puzzles"][0]
    assert first["source"].endswith("sudoku.csv:2") and len(first["expected"]) == 81
    assert [s["segment"] for s in first["segments"]] == list(range(1, SEGMENTS + 1))
    segment = first["segments"][0]
    assert set(segment) == {"segment", "answer", "q_halt", "q_continue", "halted", "verified",
                            "changed_cells", "mean_confidence"}
    assert 0 < segment["q_halt"] < 1 and 0 < segment["mean_confidence"] <= 1
    assert [s["halted"] for s in first["segments"]] == [False] * (SEGMENTS - 1) + [True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rollout.json"]  # no temp files
    assert "Wrote 4 puzzles" in result.stderr


def test_export_from_stdin_to_stdout_with_a_bad_line(models):
    lines = (EXAMPLES / "sudoku.txt").read_text().splitlines()
    result = watch("sudoku", "-", "-m", str(models["sudoku"]), "--export", "-",
                   input=f"{lines[0]}\n123\n")
    assert result.exit_code == 3
    good, bad = json.loads(result.stdout)["puzzles"]
    assert good["source"] == "<stdin>:1" and 1 <= len(good["segments"]) <= SEGMENTS
    assert bad == {"index": 1, "source": "<stdin>:2", "error": bad["error"]}
    assert "Error: <stdin>:2:" in result.stderr


def test_export_matches_what_the_app_shows(tmp_path, models):
    out = tmp_path / "maze.json"
    assert watch("maze", str(EXAMPLES / "maze.txt"), "-m", str(models["maze"]), "--halt",
                 "max", "--export", str(out)).exit_code == 0
    exported = json.loads(out.read_text())["puzzles"][1]["segments"]
    app = make_app("maze", "maze.txt", models["maze"])

    async def scenario(pilot) -> None:
        await settle(pilot)
        shown = app.traces[1].segments
        assert [s.text for s in shown] == [s["answer"] for s in exported]
        assert [round(s.q_halt, 6) for s in shown] == [s["q_halt"] for s in exported]

    run(app, scenario)


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "nope", "--export", "x.json"], "no model named 'nope'"),
    (["--export", "missing/x.json"], "does not exist"),
])
def test_export_errors_are_one_line(tmp_path, models, capsys, monkeypatch, args, message):
    from hrm_cli.main import main

    monkeypatch.chdir(tmp_path)
    args = ["--model", str(models["sudoku"]), *args] if "--model" not in args else args
    code = main(["watch", "sudoku", str(EXAMPLES / "sudoku.txt"), *args])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err


def test_no_puzzle_in_the_input(tmp_path, models):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    result = watch("sudoku", str(empty), "-m", str(models["sudoku"]))
    assert result.exit_code == 1 and "no sudoku puzzle could be read" in result.output


def test_without_a_terminal_it_says_to_use_export(models):
    result = subprocess.run(
        [sys.executable, "-m", "hrm_cli", "watch", "sudoku", str(EXAMPLES / "sudoku.txt"),
         "-m", str(models["sudoku"])],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        start_new_session=True,  # no controlling terminal: /dev/tty cannot be opened
    )
    assert result.returncode == 1 and "needs a terminal" in result.stderr
    assert "--export" in result.stderr


def test_watch_does_not_import_textual_or_torch_until_it_runs():
    code = ("import sys, hrm_cli.main, hrm_cli.watch_cmd, hrm_cli.tui.trace; "
            "print(sorted(m for m in ('textual', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pty")
def test_keys_work_when_the_puzzles_come_from_a_pipe(models):
    """In a pseudo-terminal, with stdin a pipe: `q` typed on the terminal quits the app."""
    import fcntl
    import pty
    import struct
    import termios

    command = (f"cat {EXAMPLES / 'sudoku.txt'} | {sys.executable} -m hrm_cli watch sudoku - "
               f"-m {models['sudoku']}")
    pid, master = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.environ["TERM"] = "xterm-256color"
        os.execvp("sh", ["sh", "-c", command])
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    screen = b""
    deadline = time.monotonic() + 60
    try:
        while b"Puzzles (4)" not in screen:  # the app is drawn: the puzzles were read
            assert time.monotonic() < deadline, screen[-2000:]
            if select.select([master], [], [], 0.2)[0]:
                screen += os.read(master, 65536)
        os.write(master, b"q")
        while True:
            assert time.monotonic() < deadline, "q did not quit the app"
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if select.select([master], [], [], 0.2)[0]:
                # Keep draining, or the child blocks on output; EIO once it has closed the pty.
                with contextlib.suppress(OSError):
                    os.read(master, 65536)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(master)


# --------------------------------------------------------------------------- mazes of any size


@pytest.fixture(scope="module")
def grid_model(tmp_path_factory) -> Path:
    from hrm.model.grid import GridHRM, GridHRMConfig

    torch.manual_seed(0)
    model = GridHRM(GridHRMConfig.from_preset("tiny", vocab_size=6, seq_len=64))
    return save_bundle(model, tmp_path_factory.mktemp("grid") / "grid",
                       task=task_metadata("maze", 64, 6))


def big_mazes(tmp_path: Path) -> Path:
    from hrm.datasets import maze, maze_kinds

    grids = [maze_kinds.make("corridors", 60, 60, seed=0, index=0)[0],
             maze_kinds.make("walls", 9, 13, seed=0, index=1)[0]]
    path = tmp_path / "big.txt"
    path.write_text("\n\n".join(maze.format_grid(g) for g in grids) + "\n")
    return path


def test_a_grid_model_watches_a_60x60_maze_with_a_budget_for_its_size(tmp_path, grid_model):
    path = big_mazes(tmp_path)
    result = watch("maze", str(path), "-m", str(grid_model), "--halt", "max", "--export", "-")
    assert result.exit_code in (0, 3), result.output
    document = json.loads(result.stdout)
    assert document["max_segments"] is None  # it depends on each maze's size
    big, small = document["puzzles"]
    # the tiny grid preset's 4 segments on its 8x8 canvas, scaled with each maze's side
    assert len(big["segments"]) == 30 and len(small["segments"]) == 7
    assert len(big["segments"][-1]["answer"].splitlines()) == 60

    puzzles, notes = _read_puzzles("maze", [str(path)])
    app = WatchApp("maze", puzzles, lambda: load_engine("maze", str(grid_model), "cpu", "max",
                                                        None), source="big.txt", notes=notes)

    async def scenario(pilot) -> None:
        await settle(pilot)
        view = app.query_one(BoardView)
        assert "60x60" in view.frame.border_title
        # the densest layout, two cells per character (60 cells in 30 columns)
        assert view.layout_name == "2 cells/char"
        assert "of 30" in act_text(app)
        await pilot.press("z")  # zoom: the widest layout, scrolled
        assert view.layout_name == "2 chars/cell" and "z" in view.frame.border_subtitle

    run(app, scenario, (100, 32))
