"""`hrm watch TASK [FILE|-]...`: watch a model reason, segment by segment, in a terminal UI.

Inputs, model and options are those of `hrm solve` (same readers, same model resolution).
The puzzles are read completely before the UI starts: a pipe is then at its end, and the
keyboard is read from the terminal (/dev/tty) instead. `--export` writes the rollouts as
JSON without a UI. Textual and torch are imported only when needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hrm_cli.console import progress_bar
from hrm_cli.errors import EXIT_ERROR, EXIT_OK, EXIT_UNSOLVED
from hrm_cli.options import puzzle_model_options
from hrm_cli.paths import check_output_name
from hrm_cli.puzzle_input import STDIN, check_sources, read_items

if TYPE_CHECKING:
    from hrm.datasets.tasks import Puzzle
    from hrm_cli.tui.engine import Engine

MAX_UI_PUZZLES = 1000  # the list is for browsing; --export has no limit
EXPORT_BATCH = 64

EPILOG = """\b
Examples:
  hrm watch sudoku examples/sudoku.txt --model my-sudoku
  hrm datasets generate maze -n 5 | hrm watch maze - --halt max --max-segments 32
  hrm watch arc task.json --export rollout.json

\b
Keys:
  ← →  step through segments    Home/End  first/last    space  play/pause
  + -  playback speed           n/p  next/previous puzzle     z  zoom the board
  ?    help                     q    quit

\b
Exit codes:
  0  quit normally (--export: written)
  1  error: missing file, no puzzle in the input, no terminal, the model could not be loaded
  3  --export: written, but some input item could not be read
"""


@click.command(epilog=EPILOG)
@puzzle_model_options
@click.option("--speed", type=click.FloatRange(min=0.5, max=16), default=2.0,
              show_default=True, help="Playback speed in segments per second (+/- in the UI).")
@click.option("--export", "export_path", metavar="FILE",
              type=click.Path(dir_okay=False, allow_dash=True), callback=check_output_name,
              help="Write every puzzle's segments (answers, Q values, verdicts, confidence) "
              "as JSON to FILE (`-`: stdout) instead of opening the UI.")
@click.option("--force", is_flag=True, help="With --export: replace FILE if it exists.")
def watch(task: str, inputs: tuple[str, ...], model_spec: str | None, device: str, halt: str,
          max_segments: int | None, dtype: str, speed: float, export_path: str | None,
          force: bool) -> None:
    """Watch the model reason on the puzzles in FILEs (or stdin, `-`), segment by segment.

    TASK is sudoku, maze or arc; inputs are read as by `hrm solve`. The board shows the
    answer after each ACT segment (confidence, changes, rule breaks, differences from a
    known answer), the ACT panel the Q head's halt/continue probabilities and where
    adaptive halting stops. A bad input item is reported on stderr and skipped.
    """
    sources = list(inputs) or [STDIN]
    check_sources(sources)
    if export_path is None and not inputs and sys.stdin.isatty():
        raise click.UsageError("give a puzzle FILE, or pipe puzzles in: "
                               "`cat puzzles.txt | hrm watch TASK -`")
    if export_path is not None:
        code = _export(task, sources, export_path, model_spec, device, halt, max_segments,
                       dtype, force)
        click.get_current_context().exit(code)

    puzzles, notes = _read_puzzles(task, sources, limit=MAX_UI_PUZZLES)
    _attach_terminal()
    click.get_current_context().exit(
        _run_app(task, sources, puzzles, notes, model_spec, device, halt, max_segments, dtype,
                 speed))


# --------------------------------------------------------------------------- input


def _read_puzzles(task: str, sources: list[str], limit: int | None = None
                  ) -> tuple[list[Puzzle], list[str]]:
    """Every puzzle (up to `limit`) and a note per unreadable item, also told on stderr."""
    from hrm.datasets.errors import PuzzleParseError
    from hrm.datasets.tasks import get_task

    puzzles: list[Puzzle] = []
    notes: list[str] = []
    for item in read_items(get_task(task), sources):
        if isinstance(item, PuzzleParseError):
            notes.append(f"{item.location}: {item.message}")
            click.echo(f"Error: {notes[-1]}", err=True)
            continue
        if limit is not None and len(puzzles) == limit:
            notes.append(f"only the first {limit} puzzles are shown")
            break
        puzzles.append(item)
    if not puzzles:
        where = ", ".join("stdin" if s == STDIN else s for s in sources)
        raise click.ClickException(f"no {task} puzzle could be read from {where}")
    return puzzles, notes


def _attach_terminal() -> None:
    """Make fd 0 the terminal: Textual reads keys from it, and after a pipe it is at EOF.

    Textual's Linux driver reads keys from `sys.__stdin__`'s descriptor (0) and draws on
    stderr; so fd 0 is pointed at the controlling terminal, and both must be terminals.
    """
    if sys.platform != "win32" and not os.isatty(0):
        with contextlib.suppress(OSError):  # no controlling terminal: the check below says so
            tty = os.open("/dev/tty", os.O_RDWR)
            os.dup2(tty, 0)
            os.close(tty)
    if not (os.isatty(0) and sys.__stderr__ is not None and sys.__stderr__.isatty()):
        raise click.ClickException("hrm watch needs a terminal (for the keyboard and the "
                                   "screen); use --export FILE to record the segments as JSON")


def _run_app(task: str, sources: list[str], puzzles: list[Puzzle], notes: list[str],
             model_spec: str | None, device: str, halt: str, max_segments: int | None,
             dtype: str, speed: float) -> int:
    from hrm_cli.tui.app import WatchApp

    def load() -> Engine:  # runs in the app's worker thread, so torch loads behind the UI
        from hrm_cli.tui.engine import load_engine

        return load_engine(task, model_spec, device, halt, max_segments, dtype)

    source = ", ".join("stdin" if s == STDIN else s for s in sources)
    app = WatchApp(task, puzzles, load, source=source, speed=speed, notes=notes)
    app.run()
    if app.failure:
        click.echo(f"Error: {app.failure}", err=True)  # still on screen after the UI closes
        return EXIT_ERROR
    return app.return_code or EXIT_OK


# --------------------------------------------------------------------------- export


def _export(task: str, sources: list[str], path: str, model_spec: str | None, device: str,
            halt: str, max_segments: int | None, dtype: str = "auto",
            force: bool = False) -> int:
    """Roll out every puzzle in batches and write one JSON document (atomically)."""
    from hrm.datasets.errors import PuzzleParseError
    from hrm.datasets.tasks import get_task
    from hrm_cli.tui.engine import load_engine
    from hrm_cli.tui.trace import PuzzleTrace, export_puzzle

    target_folder = Path(path).parent
    if path != STDIN and not target_folder.is_dir():  # fail before the model runs
        raise click.ClickException(f"{path}: the folder {target_folder} does not exist")
    if path != STDIN and Path(path).exists() and not force:
        raise click.UsageError(f"{path} exists; use --force to replace it")
    adapter = get_task(task)
    engine = load_engine(task, model_spec, device, halt, max_segments, dtype)
    records: list[dict[str, Any]] = []
    batch: list[tuple[int, PuzzleTrace]] = []
    failed = 0  # input items that could not be read, or do not fit the model

    def flush() -> None:
        for row, segment in engine.rollout([trace.puzzle for _, trace in batch]):
            batch[row][1].segments.append(segment)
        for index, trace in batch:
            trace.finished = True
            records[index] = export_puzzle(index, trace, adapter)
            progress.advance(bar)
        batch.clear()

    with progress_bar() as progress:
        bar = progress.add_task("rolling out", total=None)
        for index, item in enumerate(read_items(adapter, sources)):
            if isinstance(item, PuzzleParseError):
                failed += 1
                click.echo(f"Error: {item.location}: {item.message}", err=True)
                records.append({"index": index, "source": item.location, "error": item.message})
                continue
            trace = PuzzleTrace(item)
            try:
                engine.check(item)
            except PuzzleParseError as exc:  # read, but it does not fit the model
                failed += 1
                trace.error = exc.message
                click.echo(f"Error: {item.location}: {exc.message}", err=True)
            records.append(export_puzzle(index, trace, adapter))  # replaced once rolled out
            if trace.error is None:
                batch.append((index, trace))
            if len(batch) == EXPORT_BATCH:
                flush()
        if batch:
            flush()

    if all("input" not in record for record in records):
        raise click.ClickException(f"no {task} puzzle could be read")
    document = {"task": task, "model": engine.name, "device": engine.device,
                "halt": engine.halt, "max_segments": engine.fixed_budget, "puzzles": records}
    _write_json(path, document, force)
    if path != STDIN:
        click.echo(f"Wrote {len(records)} puzzle{'s' * (len(records) != 1)} to {path}.",
                   err=True)
    return EXIT_UNSOLVED if failed else EXIT_OK


def _write_json(path: str, document: dict[str, Any], force: bool) -> None:
    """Write to stdout, or to a temporary file beside `path` renamed over it when complete:
    an interrupted export never leaves a truncated file."""
    from hrm.datasets.files import staged_file

    text = json.dumps(document, indent=2) + "\n"
    if path == STDIN:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    # Checked again as the file goes into place: one may have appeared during the rollout.
    with staged_file(Path(path), overwrite=force, encoding="utf-8") as handle:
        handle.write(text)
