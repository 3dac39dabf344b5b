"""`hrm solve TASK [FILE|-]...`: solve puzzles with a model and verify every answer."""

from __future__ import annotations

import json
import math
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from hrm_cli.console import progress_bar
from hrm_cli.errors import EXIT_ERROR, EXIT_OK, EXIT_UNSOLVED
from hrm_cli.options import format_option, puzzle_model_options, quiet_option
from hrm_cli.puzzle_input import STDIN, check_sources, read_items

if TYPE_CHECKING:
    from hrm.datasets.tasks import Puzzle, Task
    from hrm.inference.solver import InputError, Solver, SolveResult


FORMATS = ("auto", "pretty", "lines", "jsonl", "json", "csv")
CSV_COLUMNS = ("index", "source", "input", "answer", "solved", "status", "segments", "attempts",
               "q_halt", "seconds", "error", "reason")

EPILOG = """\b
Examples:
  hrm solve sudoku puzzle.txt
  hrm datasets generate sudoku -n 100 | hrm solve sudoku - --format jsonl | jq .solved
  hrm solve maze mazes.txt --model hrm-maze-30x30-hard --halt max --max-segments 32
  hrm solve sudoku hard.txt --attempts 1    # one rollout each, no retries
  hrm solve arc task.json --device cuda

\b
Output (stdout):
  pretty  grids on a terminal: givens bold, filled cells coloured, bad cells red
  lines   one line per input item, the answer in one-line form (default when
          piped); an item that could not be read gets an empty line
  jsonl   per puzzle: index, source (file:line), input, answer (in the input's
          layout), solved, status (solved, unsolved, unsolvable, unverified),
          segments, attempts, q_halt, seconds; an unsolvable puzzle adds reason; a
          bad item gives {index, source, error} instead
  json    the same records as one JSON list; csv: the same as CSV rows

\b
Exit codes:
  0  every puzzle solved (ARC queries without a known answer count as done)
  1  error: missing file, no model, bad option value; or no puzzle could be read
  3  finished, but some puzzle was not solved (or has no solution: `unsolvable`, found
     by the rules before the model runs) or some input item could not be read
"""


@click.command(epilog=EPILOG)
@puzzle_model_options
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=64,
              show_default=True, help="Puzzles solved at once (the rows of every model "
              "call); a puzzle that halts gives its row to the next one at once.")
@click.option("--attempts", type=click.IntRange(min=1), metavar="N",
              help="Retry a puzzle whose answer breaks the rules on up to N-1 symmetric "
              "copies (sudoku: relabelled, transposed, shuffled; maze: rotated, flipped; at "
              "most 8 for a maze) and keep the first answer that passes. Only the rules "
              "decide, never a known answer. [default: what the model recommends: 8 for "
              "default:sudoku, else 1]")
@format_option(*FORMATS, help="auto: pretty on a terminal, lines when piped.")
@quiet_option("No progress bar, model line or summary on stderr (input errors still).")
def solve(task: str, inputs: tuple[str, ...], model_spec: str | None, device: str, halt: str,
          max_segments: int | None, dtype: str, batch_size: int, attempts: int | None, fmt: str,
          quiet: bool) -> None:
    """Solve the puzzles in FILEs (or stdin, `-`) and verify every answer.

    TASK is sudoku, maze or arc. Inputs take the formats `hrm datasets` reads: puzzle
    lines, grids, the published CSV, JSON; ARC task JSON (each test input is a puzzle) or
    JSON Lines of tasks. Without FILE, stdin is read. From a pipe, answers appear as
    puzzles arrive. A bad input item is reported on stderr as `Error: file:line: problem`
    (and as an error record) and the rest is still solved.
    """
    sources = list(inputs) or [STDIN]
    check_sources(sources)
    if fmt == "auto":
        fmt = "pretty" if sys.stdout.isatty() else "lines"

    solver = _make_solver(task, model_spec, device, halt, max_segments, dtype, batch_size,
                          attempts, quiet)
    adapter = solver.task

    writer = _writer(fmt, adapter)
    tally = {"solved": 0, "unsolved": 0, "unsolvable": 0, "unverified": 0, "errors": 0}
    started = time.perf_counter()
    # A bar only when stderr is a terminal and the answers go elsewhere: on a terminal, pretty
    # output and a live bar would fight over the screen.
    with progress_bar(quiet or sys.stdout.isatty()) as progress:
        bar = progress.add_task("solving", total=None)
        for record in solver.solve_items(read_items(adapter, sources)):
            _count(record, tally)
            writer.write(record)
            progress.advance(bar)
    writer.close()

    if not quiet:
        _summary(tally, time.perf_counter() - started)
    click.get_current_context().exit(_exit_code(tally))


def _exit_code(tally: dict[str, int]) -> int:
    read = tally["solved"] + tally["unsolved"] + tally["unsolvable"] + tally["unverified"]
    if read == 0:
        return EXIT_ERROR  # nothing in the input was a puzzle: the input is wrong
    incomplete = tally["unsolved"] or tally["unsolvable"] or tally["errors"]
    return EXIT_UNSOLVED if incomplete else EXIT_OK


def _make_solver(task: str, model_spec: str | None, device: str, halt: str,
                 max_segments: int | None, dtype: str, batch_size: int,
                 attempts: int | None, quiet: bool) -> Solver:
    from hrm.inference.solver import load_solver

    solver, name = load_solver(task, model_spec, device, halt=halt, max_segments=max_segments,
                               batch_size=batch_size, attempts=attempts, dtype=dtype)
    if not quiet:
        implicit = "" if model_spec else " (no --model given)"
        budget = f"up to {max_segments or solver.model.config.halt_max_steps} segments"
        if solver.model.any_size and not max_segments:
            side = math.isqrt(solver.model.config.seq_len)
            budget += f", more on grids larger than {side}x{side}"
        tries = f", up to {solver.attempts} attempts" if solver.attempts > 1 else ""
        dtype_name = str(solver.model.forward_dtype).removeprefix("torch.")
        click.echo(f"Solving with {name}{implicit} on {solver.model.device} ({dtype_name}), "
                   f"halt {halt}, {budget}{tries}.", err=True)
    return solver


# --------------------------------------------------------------------------- output


def _is_error(record: SolveResult | InputError) -> bool:
    from hrm.inference.solver import InputError

    return isinstance(record, InputError)


def _status(record: SolveResult) -> str:
    if record.unsolvable is not None:
        return "unsolvable"
    return {True: "solved", False: "unsolved", None: "unverified"}[record.verdict]


def _count(record: SolveResult | InputError, tally: dict[str, int]) -> None:
    if _is_error(record):
        tally["errors"] += 1
        click.echo(f"Error: {record.location}: {record.message}", err=True)
    else:
        tally[_status(record)] += 1


def record_dict(record: SolveResult | InputError, adapter: Task) -> dict[str, Any]:
    """The JSON/CSV record of one input item."""
    if _is_error(record):
        return {"index": record.index, "source": record.location, "error": record.message}
    puzzle: Puzzle = record.puzzle
    data = {
        "index": record.index,
        "source": puzzle.location,
        "input": adapter.format_input(puzzle),
        "answer": adapter.format_answer(puzzle, record.answer),
        "solved": record.solved,
        "status": _status(record),
        "segments": record.segments,
        "attempts": record.attempts,
        "q_halt": round(record.q_halt, 6),
        "seconds": round(record.seconds, 6),
    }
    if record.unsolvable is not None:
        data["reason"] = record.unsolvable
    if puzzle.name:
        data["name"] = puzzle.name
    return data


class _Writer:
    def __init__(self, adapter: Task):
        self.adapter = adapter

    def write(self, record: SolveResult | InputError) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the output (closing brackets); called only when every record is out."""

    @staticmethod
    def emit(text: str) -> None:
        # Flushed per record, so a reader of the pipe sees each answer as soon as it exists.
        sys.stdout.write(text)
        sys.stdout.flush()


class _LinesWriter(_Writer):
    def write(self, record: SolveResult | InputError) -> None:
        # One line per input item, so answers stay aligned with their input (`paste`): an
        # item that could not be read (reported on stderr) or an ARC prediction without a
        # readable grid gets an empty line. An error of a whole source (an empty input) is
        # no item and gets none.
        if _is_error(record) and record.error.line is None:
            return
        answer = None if _is_error(record) else record.answer
        self.emit(("" if answer is None else self.adapter.one_line(answer)) + "\n")


class _JsonlWriter(_Writer):
    def write(self, record: SolveResult | InputError) -> None:
        self.emit(json.dumps(record_dict(record, self.adapter)) + "\n")


class _JsonWriter(_Writer):
    """A JSON list, written record by record, so it too streams."""

    def __init__(self, adapter: Task):
        super().__init__(adapter)
        self.count = 0

    def write(self, record: SolveResult | InputError) -> None:
        prefix = "[\n  " if self.count == 0 else ",\n  "
        self.emit(prefix + json.dumps(record_dict(record, self.adapter)))
        self.count += 1

    def close(self) -> None:
        self.emit("\n]\n" if self.count else "[]\n")


class _CsvWriter(_Writer):
    def __init__(self, adapter: Task):
        super().__init__(adapter)
        self.header = False

    def write(self, record: SolveResult | InputError) -> None:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
        if not self.header:
            writer.writeheader()
            self.header = True
        row = record_dict(record, self.adapter)
        writer.writerow({k: str(v).lower() if isinstance(v, bool) else v for k, v in row.items()})
        self.emit(buffer.getvalue())


class _PrettyWriter(_Writer):
    def __init__(self, adapter: Task):
        super().__init__(adapter)
        from hrm_cli.console import stdout_console

        self.console = stdout_console()

    def write(self, record: SolveResult | InputError) -> None:
        from rich.text import Text

        if _is_error(record):
            return  # reported on stderr
        status = _status(record)
        header = Text(record.puzzle.location, style="bold")
        if record.puzzle.name:
            header.append(f"  {record.puzzle.name}")
        label, style = {
            "solved": ("  ✓ solved", "bold green"),
            "unsolved": ("  ✗ NOT solved", "bold red"),
            "unverified": ("  ? unverified (no expected output)", "bold yellow"),
            "unsolvable": (f"  ✗ unsolvable: {record.unsolvable}", "bold red"),
        }[status]
        header.append(label, style=style)
        if status != "unsolvable":  # the model did not run
            header.append(f"  ·  {record.segments} segment{'s' * (record.segments != 1)}"
                          f"  ·  halt p={record.q_halt:.2f}  ·  {record.seconds:.3f} s",
                          style="dim")
        self.console.print(header, soft_wrap=True)
        self.console.print(self.adapter.render_rich(record.puzzle, record.answer))
        if status == "unsolved":
            # Also in words, for terminals without colour (NO_COLOR) where red cells vanish.
            self.console.print(_bad_cells_note(self.adapter.bad_cells(record.puzzle,
                                                                      record.answer)),
                               style="red", soft_wrap=True)
        self.console.print()


def _bad_cells_note(bad: Any, limit: int = 8) -> str:
    """'2 wrong cells: r1c1, r1c2' (1-based rows and columns), or a general note."""
    import numpy as np

    if bad is None or not bad.any():
        return "the answer breaks the rules (no single cell to blame)"
    cells = [f"r{r + 1}c{c + 1}" for r, c in np.argwhere(bad)]
    shown = ", ".join(cells[:limit]) + (f" and {len(cells) - limit} more"
                                         if len(cells) > limit else "")
    return f"{len(cells)} wrong cell{'s' * (len(cells) != 1)}: {shown}"


def _writer(fmt: str, adapter: Task) -> _Writer:
    writers = {"pretty": _PrettyWriter, "lines": _LinesWriter, "jsonl": _JsonlWriter,
               "json": _JsonWriter, "csv": _CsvWriter}
    return writers[fmt](adapter)


def _summary(tally: dict[str, int], seconds: float) -> None:
    read = tally["solved"] + tally["unsolved"] + tally["unsolvable"] + tally["unverified"]
    parts = [f"{tally['solved']} of {read} puzzle{'s' * (read != 1)} solved"]
    if tally["unsolved"]:
        parts.append(f"{tally['unsolved']} not solved")
    if tally["unsolvable"]:
        parts.append(f"{tally['unsolvable']} unsolvable (no solution by the rules)")
    if tally["unverified"]:
        parts.append(f"{tally['unverified']} unverified")
    if tally["errors"]:
        parts.append(f"{tally['errors']} input error{'s' * (tally['errors'] != 1)}")
    rate = f", {read / seconds:.1f} puzzles/s" if read and seconds > 0 else ""
    click.echo(f"{'; '.join(parts)} ({seconds:.2f} s{rate}).", err=True)
