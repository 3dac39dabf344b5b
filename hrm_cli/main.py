"""The `hrm` entry point: a click group whose commands are imported only when run.

`hrm --help` must start fast, so nothing here imports torch, numpy or a command module.
"""

from __future__ import annotations

import sys

import click

from hrm_cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, format_user_error
from hrm_cli.lazy import LazyGroup, OutputClosed

EXIT_CODES_HELP = """\b
Exit codes:
  0    success (also when the reader of stdout goes away: `hrm ... | head`)
  1    error (missing or bad input file, failed download, missing model, full
       disk, unusable path, closed stdout, ...)
  2    usage error (unknown option, bad argument, output file exists without --force)
  3    finished, but some puzzles were not solved (the answer broke the rules, or
       the puzzle has no solution), or training stopped at --time-limit (resume it)
  130  interrupted (Ctrl-C); training writes a checkpoint first
"""

# name -> (module, attribute, one-line help). Help lives here so listing needs no import.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "datasets": (
        "hrm_cli.datasets_cmd",
        "datasets",
        "Fetch, generate, build and inspect puzzle datasets.",
    ),
    "solve": ("hrm_cli.solve_cmd", "solve", "Solve puzzles from files or stdin, verified."),
    "models": ("hrm_cli.models_cmd", "models", "List, pull, import and remove models."),
    "train": ("hrm_cli.train_cmd", "train", "Train a model on a built dataset (CPU or GPUs)."),
    "eval": ("hrm_cli.eval_cmd", "eval_command", "Evaluate a run or bundle on a dataset."),
    "doctor": ("hrm_cli.doctor_cmd", "doctor", "Versions, devices, cache: for bug reports."),
    "completion": ("hrm_cli.completion_cmd", "completion", "Print or install shell completion."),
    "watch": ("hrm_cli.watch_cmd", "watch", "Watch the model reason, segment by segment (TUI)."),
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="hrm-toolkit", prog_name="hrm")
def cli() -> None:
    """Hierarchical Reasoning Models on puzzles: data, training, solving, watching.

    HRM is a small recurrent transformer that solves Sudoku, mazes and ARC grids by
    iterating in latent space. Every answer `hrm` prints is checked against the puzzle's
    rules: the model is a reasoning model, not a fast classical solver.
    """


def main(argv: list[str] | None = None) -> int:
    """Run the CLI, turning known user errors into one-line messages and exit codes."""
    _guard_standard_streams()
    try:
        # Without standalone mode click returns the code of `ctx.exit(n)` instead of exiting.
        code = cli.main(args=argv, prog_name="hrm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except (BrokenPipeError, OutputClosed):
        # The reader went away (`hrm ... | head`): stop quietly, as other Unix tools do.
        _silence_stdout()
        return 0
    except Exception as exc:
        message = format_user_error(exc)
        if message is None:
            raise
        if isinstance(exc, OSError):
            _silence_stdout()  # if stdout was what failed, the exit's flush would fail again
        click.echo(f"Error: {message}", err=True)
        return EXIT_ERROR
    return code if isinstance(code, int) else 0


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, dropping what is still buffered for it."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


class _ClosedStdout:
    """sys.stdout when the shell closed it (`hrm ... >&-`): commands that write no data to
    stdout still run; one that does fails with one line (exit 1)."""

    encoding = "utf-8"
    errors = "strict"

    def write(self, text: str) -> int:
        import errno

        raise OSError(errno.EBADF, "stdout is closed; redirect it instead (> FILE or "
                      "> /dev/null)")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1


def _guard_standard_streams() -> None:
    """Keep descriptors 0-2 open whatever the shell did (`<&-`, `>&-`, `2>&-`).

    A closed standard descriptor would be handed to the next file opened, and then output
    meant for stdout (from us or from a worker process) would land in that file.
    """
    import os

    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            _hold(fd)
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()  # type: ignore[assignment]
    if sys.stdin is None:
        sys.stdin = open(os.devnull)  # noqa: SIM115 (for the life of the process)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115


def _hold(fd: int) -> None:
    import os

    opened = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: `fd` itself
    if opened != fd:
        os.dup2(opened, fd)
        os.close(opened)


def entry_point() -> None:
    sys.exit(main())


__all__ = ["EXIT_ERROR", "EXIT_USAGE", "cli", "entry_point", "main"]
