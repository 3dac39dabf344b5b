"""Options every command shares (`--device`, `--quiet`, `--format`), each defined once,
and the arguments of the commands that run a model on puzzles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from hrm.datasets.task_table import TASK_NAMES
from hrm_cli.completion import model_names

F = TypeVar("F", bound=Callable)
def device_option(function: F) -> F:
    """`--device`: where a model runs (solve, watch, train, eval)."""
    return click.option(
        "--device",
        default="auto",
        show_default=True,
        metavar="DEVICE",
        help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.",
    )(function)


def quiet_option(help: str = "No progress bar.") -> Callable[[F], F]:
    """`--quiet/-q`: nothing on stderr but errors (and what `help` says still shows)."""
    return click.option("--quiet", "-q", is_flag=True, help=help)


def format_option(*choices: str, help: str) -> Callable[[F], F]:
    """`--format` among `choices`, the first the default; the value arrives as `fmt`."""
    return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0],
                        show_default=True, help=help)


class TaskChoice(click.Choice):
    """A choice of task names, read from the task table when used (so a task registered
    after this module was imported is a choice too); `where` keeps only the tasks whose
    `Task` passes it (it imports the task modules, so it runs only when the choice is)."""

    def __init__(self, where: Callable[[Any], bool] | None = None) -> None:
        self.where = where
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        if self.where is None:
            return tuple(TASK_NAMES)
        from hrm.datasets.tasks import tasks_where

        return tuple(tasks_where(self.where))

    @choices.setter
    def choices(self, value: Any) -> None:
        pass  # always the table's


def puzzle_model_options(function: F) -> F:
    """TASK [FILE|-]... with --model, --device, --halt, --max-segments and --dtype (solve,
    watch)."""
    decorators = [
        click.argument("task", type=TaskChoice()),
        click.argument("inputs", nargs=-1, metavar="[FILE|-]...", type=click.Path(allow_dash=True)),
        click.option(
            "--model",
            "-m",
            "model_spec",
            metavar="NAME|PATH",
            shell_complete=model_names,
            help="A cached model (`hrm models list`), a bundle folder or an original "
            "checkpoint [default: the task's shipped default model].",
        ),
        device_option,
        click.option(
            "--halt",
            type=click.Choice(["checked", "adaptive", "max"]),
            default="checked",
            show_default=True,
            help="checked: stop a puzzle when the model's Q head says halt, unless its "
            "answer breaks the puzzle's rules (then it runs on, up to the budget; ARC has no "
            "rules to check); adaptive: whenever the Q head says halt; max: always run "
            "--max-segments segments (as the original evaluation).",
        ),
        click.option(
            "--max-segments",
            type=click.IntRange(min=1),
            default=None,
            help="Segment budget per puzzle [default: the model's trained maximum, more "
            "for a maze larger than a grid model's training canvas]; more than trained is "
            "allowed (inference-time scaling).",
        ),
        click.option(
            "--dtype",
            type=click.Choice(["auto", "float32", "bfloat16"]),
            default="auto",
            show_default=True,
            help="Activation dtype. auto: bfloat16 on CUDA, float32 elsewhere (on a CPU, "
            "bfloat16 is faster where native, AVX512-BF16 or AMX, but changes some answers).",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function
