"""`hrm eval`: a run or a model on a built dataset's split, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from hrm.model.config import FORWARD_DTYPES
from hrm_cli.completion import model_names
from hrm_cli.console import progress_bar, stdout_console
from hrm_cli.options import device_option, format_option, quiet_option
from hrm_cli.train_progress import variant_votes

POSITIVE = click.IntRange(min=1)


@click.command(
    "eval",
    epilog="""\b
Examples:
  hrm eval runs/sudoku-20250101-120000                    # on the run's own dataset
  hrm eval runs/maze-1/model --data data/maze-30x30-hard-1k --max-segments 32
  hrm eval runs/arc-1 --data data/arc-agi-1-aug-1000 --format json | jq .arc
  hrm eval default:sudoku --data data/sudoku-test --dtype bfloat16 --device cpu
  hrm eval default:sudoku --data data/sudoku-test --attempts 8   # as hrm solve retries
""",
)
@click.argument("target", metavar="RUN_DIR|MODEL", shell_complete=model_names)
@click.option("--data", type=click.Path(file_okay=False),
              help="Built dataset folder [a run's own dataset].")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@device_option
@click.option("--batch-size", type=POSITIVE, default=256, show_default=True,
              help="Global evaluation batch.")
@click.option("--max-segments", type=POSITIVE,
              help="Segment budget; more than in training scales inference time "
                   "[the trained halt_max_steps; for a grid model, more on grids larger "
                   "than its training canvas, as hrm solve gives them].")
@click.option("--dtype", type=click.Choice(FORWARD_DTYPES),
              help="Activation dtype [the model's own: auto = bfloat16 on GPUs, float32 on "
                   "the CPU].")
@click.option("--attempts", type=click.IntRange(min=1), default=1, show_default=True,
              metavar="N",
              help="Also solve the split as `hrm solve --attempts N` does (sudoku, maze): "
                   "adaptive halting, a rule-breaking answer retried under up to N-1 "
                   "symmetries; reports the share solved within 1, 2, 4, ... N attempts.")
@format_option("table", "json", help="A table, or JSON for scripts (the same numbers).")
@quiet_option()
def eval_command(target: str, data: str | None, split: str, device: str, batch_size: int,
                 max_segments: int | None, dtype: str | None, attempts: int, fmt: str,
                 quiet: bool) -> None:
    """Evaluate a run (its final model, else its latest checkpoint) or a model.

    MODEL is a bundle folder or a name `hrm models list` shows (default:sudoku, a cached
    model or an alias such as hrm-sudoku-extreme).

    Reports exact accuracy (every labelled token right), token accuracy, accuracy by
    segment budget (1, 2, 4, 8, 16, ... up to --max-segments) and with adaptive halting
    (the model's own Q head decides when to stop), and for ARC pass@1/pass@2 after undoing
    the augmentations and voting over them, as the original evaluation does.

    With --attempts N the split is then also solved as `hrm solve` solves it: the rules,
    never the labels, decide which answers to retry and keep; the first attempt repeats
    the adaptive rollout (N-1 more only for the examples that failed). Under torchrun
    this part runs on rank 0 alone.
    """
    from hrm.datasets.format import load_identifiers
    from hrm.datasets.tasks import get_task
    from hrm.inference.attempts import check_retries, evaluate_attempts
    from hrm.inference.errors import InferenceError
    from hrm.train.data import EvalLoader
    from hrm.train.distributed import World, resolve_device, setup, teardown
    from hrm.train.errors import TrainingError
    from hrm.train.evaluate import check_model_fits, evaluate, load_eval_target
    from hrm.train.recipes import check_task

    world = World.from_env() or World()
    torch_device = resolve_device(device, world)
    setup(world, torch_device)
    try:
        loaded = load_eval_target(target, torch_device)
        if dtype is not None:
            loaded.model.config.forward_dtype = dtype
        if data is None and loaded.data is None:
            raise click.UsageError("give --data DIR: a bundle does not say what it was "
                                   "trained on")
        folder = Path(data or loaded.data)
        try:
            loader = EvalLoader(folder, batch_size, rank=world.rank,
                                world_size=world.world_size, split=split)
        except ValueError as exc:
            raise TrainingError(f"{folder}: {exc}") from None
        if loaded.task is not None:
            check_task(loaded.task, loader.metadata, folder)
        check_model_fits(loaded.model, loader.metadata, folder)
        if attempts > 1:
            try:
                check_retries(loaded.task)
            except InferenceError as exc:
                raise click.UsageError(str(exc)) from None
        votes = loaded.task is not None and get_task(loaded.task).votes_over_variants
        identifiers = load_identifiers(folder) if votes else None
        with progress_bar(quiet or not world.is_main) as progress:
            bar = progress.add_task(f"eval {split}", total=len(loader))
            result = evaluate(loaded.model, loader, max_segments=max_segments,
                              task=loaded.task, identifiers=identifiers, split=split,
                              progress=lambda done, total: progress.update(bar, completed=done))
    finally:
        teardown()
    if result is None:
        return  # not rank 0
    report = {"model": str(loaded.source), "task": loaded.task, "data": str(folder),
              "dtype": str(loaded.model.forward_dtype).removeprefix("torch."),
              **result.to_dict()}
    if attempts > 1:
        with progress_bar(quiet) as progress:
            bar = progress.add_task(f"solve {split}, up to {attempts} attempts",
                                    total=result.examples)
            retried = evaluate_attempts(
                loaded.model, loaded.task, folder, attempts=attempts, split=split,
                max_segments=max_segments, batch_size=batch_size,
                progress=lambda done, total: progress.update(bar, completed=done))
        report["attempts"] = retried.to_dict()
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        _print_eval_table(report)


def _print_eval_table(report: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout_console()
    title = (f"{report['task'] or 'model'} · {report['split']} split · {report['examples']} "
             f"examples · {report['model']}")
    summary = Table(title=title, show_header=False, title_justify="left")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    summary.add_row(f"exact accuracy ({report['max_segments']} segments)",
                    f"{report['exact_accuracy']:.2%}")
    summary.add_row("token accuracy", f"{report['token_accuracy']:.2%}")
    adaptive = report["adaptive"]
    summary.add_row("exact accuracy, adaptive halting", f"{adaptive['exact_accuracy']:.2%}")
    summary.add_row("mean segments, adaptive halting", f"{adaptive['mean_segments']:.2f}")
    for name, votes in variant_votes(report):
        summary.add_row(f"{name.upper()} pass@1 ({votes['tasks']} tasks)",
                        f"{votes['pass@1']:.2%}")
        summary.add_row(f"{name.upper()} pass@2", f"{votes['pass@2']:.2%}")
    console.print(summary)

    budgets = Table(title="by segment budget", title_justify="left")
    budgets.add_column("segments", justify="right")
    budgets.add_column("exact", justify="right")
    budgets.add_column("token", justify="right")
    for budget, values in report["by_segments"].items():
        budgets.add_row(budget, f"{values['exact_accuracy']:.2%}",
                        f"{values['token_accuracy']:.2%}")
    console.print(budgets)

    if "attempts" in report:
        retried = report["attempts"]
        # A line, not a table title: a title wraps to the width of this narrow table.
        console.print(f"up to {retried['attempts']} attempts, as hrm solve retries: "
                      f"{retried['mean_segments']:.2f} segments per example")
        table = Table()
        table.add_column("attempts", justify="right")
        table.add_column("solved", justify="right")
        for k, solved in retried["solved_within"].items():
            table.add_row(k, f"{solved:.2%}")
        console.print(table)
        if retried["other_answers"]:
            console.print(f"{retried['other_answers']} solved by another valid answer than "
                          "the label")


__all__ = ["eval_command"]
