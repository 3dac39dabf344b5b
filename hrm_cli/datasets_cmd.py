"""`hrm datasets`: list, fetch, generate, build and inspect puzzle datasets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hrm_cli.completion import dataset_names
from hrm_cli.console import human_size, progress_bar, stderr_console
from hrm_cli.lazy import LazyGroup
from hrm_cli.options import TaskChoice, format_option, quiet_option
from hrm_cli.paths import InputPath, check_input_path, check_output_name

if TYPE_CHECKING:
    from hrm.datasets.tasks import BuildInputs

SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "list": ("hrm_cli.datasets_sources_cmd", "list_command", "List the known remote datasets."),
    "fetch": (
        "hrm_cli.datasets_sources_cmd",
        "fetch_command",
        "Download a dataset into the cache.",
    ),
}


@click.group(cls=LazyGroup, lazy_commands=SUBCOMMANDS)
def datasets() -> None:
    """Fetch, generate, build and inspect puzzle datasets."""


# --------------------------------------------------------------------------- generate


@datasets.command(
    epilog="""\b
Examples:
  hrm datasets generate sudoku --count 1000 --seed 1 --out train.csv
  hrm datasets generate sudoku --count 100 --min-rating 10 --workers 4 > hard.csv
  hrm datasets generate maze --count 1000 --min-path 110 --out maze-hard.csv
"""
)
@click.argument("task", type=TaskChoice(lambda task: task.generator_options is not None))
@click.option(
    "--count",
    "-n",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="How many puzzles to write.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Random seed; puzzle i depends only on (seed, i, size).",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    callback=check_output_name,
    help="CSV file to write ('-' for stdout).",
)
@click.option(
    "--size",
    type=int,
    default=None,
    help="Sudoku: 4, 9 or 16 (default 9). Maze: side 2..64 (default 30).",
)
@click.option(
    "--min-rating",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Sudoku: minimum difficulty (dead ends of a depth-first solver).",
)
@click.option(
    "--max-rating", type=click.IntRange(min=0), default=None, help="Sudoku: maximum difficulty."
)
@click.option(
    "--clues",
    type=click.IntRange(min=1),
    default=None,
    help="Sudoku: stop removing clues at this count [default: minimal puzzles, where no "
    "clue can go without losing the unique solution].",
)
@click.option(
    "--min-path",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Maze: keep mazes whose shortest path has more cells (Maze-Hard: 110).",
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (output does not depend on this).",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@quiet_option()
def generate(
    task,
    count,
    seed,
    out,
    size,
    min_rating,
    max_rating,
    clues,
    min_path,
    workers,
    force,
    quiet,
) -> None:
    """Generate puzzles and solutions offline (CSV).

    The layout is `source,question,answer,rating`, as Sudoku-Extreme and Maze-Hard on the
    Hugging Face hub. Sudoku ratings count the dead ends a depth-first solver with
    singles propagation meets (like the published tdoku backtrack counts); maze ratings
    count the cells of the shortest path.
    """
    from hrm.datasets.tasks import GeneratorOptionError, get_task, tasks_where

    spec = get_task(task)
    given = {"min_rating": min_rating or None, "max_rating": max_rating, "clues": clues,
             "min_path": min_path or None}
    given = {name: value for name, value in given.items() if value is not None}
    for name in given.keys() - spec.generator_options:
        takers = tasks_where(lambda other, name=name: name in (other.generator_options or ()))
        raise click.UsageError(f"--{name.replace('_', '-')} applies to {', '.join(takers)}, "
                               f"not {task}")
    try:
        rows = spec.generate(count, seed, size, workers, **given)
    except GeneratorOptionError as exc:
        if exc.option:
            raise click.BadParameter(str(exc), param_hint=exc.option) from None
        raise click.UsageError(str(exc)) from None
    _write_csv(_usage_errors(rows), out, count, force, quiet, f"generating {task}")


def _usage_errors(rows):
    """The rows; a setting the generator finds impossible only once running is exit 2."""
    from hrm.datasets.tasks import GeneratorOptionError

    try:
        yield from rows
    except GeneratorOptionError as exc:
        raise click.UsageError(str(exc)) from None


def _write_csv(rows, out: str, count: int, force: bool, quiet: bool, label: str) -> None:
    import csv

    from hrm.datasets.files import staged_file

    if out == "-":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("source", "question", "answer", "rating"))
        for row in rows:
            writer.writerow(row)
            sys.stdout.flush()
        return
    target = Path(out)
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists; use --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(target, overwrite=force, newline="") as handle, \
            progress_bar(quiet) as progress:
        task_id = progress.add_task(label, total=count)
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("source", "question", "answer", "rating"))
        for row in rows:
            writer.writerow(row)
            progress.advance(task_id)
    if not quiet:
        stderr_console().print(f"wrote {count} puzzles to {target}")


# --------------------------------------------------------------------------- build


@datasets.command(
    short_help="Build a training dataset (HRM format).",
    epilog="""\b
Examples:
  hrm datasets build sudoku-extreme --subsample 1000 --aug 1000
  hrm datasets build train.csv --test test.csv --aug 100 --out data/my-sudoku
  hrm datasets build maze-30x30-hard-1k --aug 7
  hrm datasets build maze11.csv --test maze11-test.csv --canvas 12 --out data/maze11
  hrm datasets build arc-agi-1 concept-arc --aug 1000 --out data/arc-1-aug-1000
"""
)
@click.argument("sources", nargs=-1, required=True, shell_complete=dataset_names)
@click.option(
    "--test",
    "test_csv",
    type=InputPath(dir_okay=False),
    help="CSV of test puzzles, when SOURCE is a single training CSV.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False),
    default=None,
    callback=check_output_name,
    help="Output folder [default: data/<source>[-sub<N>][-aug<N>]].",
)
@click.option(
    "--subsample",
    type=click.IntRange(min=1),
    default=None,
    help="Keep this many training puzzles, drawn at random (sudoku, maze).",
)
@click.option(
    "--aug",
    type=click.IntRange(min=0),
    default=None,
    help="Augmented variants per training puzzle [default: sudoku 0, maze 0, "
    "ARC 1000]. Mazes: 0..7 dihedral transforms (7 = all 8 symmetries).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of every random draw [default: 0; ARC 42 as the original].",
)
@click.option(
    "--min-rating",
    type=click.IntRange(min=0),
    default=None,
    help="Drop puzzles rated below this (sudoku, maze).",
)
@click.option(
    "--canvas",
    type=click.IntRange(min=2, max=30),
    default=None,
    help="Mazes: put each maze in the top-left corner of an NxN grid of walls. A wall border "
    "keeps the flattened rows from touching, and one model then serves every size up to N.",
)
@click.option("--force", is_flag=True, help="Replace --out if it already holds a dataset.")
@quiet_option()
def build(sources, test_csv, out, subsample, aug, seed, min_rating, canvas, force,
          quiet) -> None:
    """Build a training dataset in the original HRM format.

    SOURCES is a known dataset name (fetched into the cache first if needed), a CSV in the
    published layout, a folder holding train.csv and test.csv, or a folder of ARC task
    folders (e.g. training/ and evaluation/). ARC builds may combine several sources. The
    output folder is printed on stdout.
    """
    from hrm.datasets.tasks import get_task, tasks_where

    task, name, inputs = _resolve_build_sources(sources, test_csv)
    spec = get_task(task)
    given = {"subsample": subsample, "min_rating": min_rating, "canvas": canvas}
    for option in (o for o, value in given.items() if value is not None):
        if option not in spec.build_options:
            takers = tasks_where(lambda other, option=option: option in other.build_options)
            raise click.UsageError(f"--{option.replace('_', '-')} applies to "
                                   f"{' and '.join(takers) or 'no task'} builds, not {task}")
    aug = aug if aug is not None else spec.build_defaults.get("aug", 0)
    seed = seed if seed is not None else spec.build_defaults.get("seed", 0)
    try:
        spec.check_build(aug)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--aug") from None
    if out is None:
        suffix = (f"-sub{subsample}" if subsample else "") + (f"-aug{aug}" if aug else "")
        out = Path("data") / f"{name}{suffix}"
    out = Path(out)
    from hrm.datasets.format import check_output_folder

    check_output_folder(out, force)  # refuse before the work, not after it

    options = {k: v for k, v in given.items() if v is not None}
    with progress_bar(quiet) as progress:
        bar = progress.add_task(f"building {out.name}", total=None)

        def report(split: str | None, done: int, total: int) -> None:
            where = f"{out.name}/{split}" if split else out.name
            progress.update(bar, description=f"building {where}", completed=done, total=total)

        spec.build(inputs, out, aug=aug, seed=seed, overwrite=force, progress=report,
                   **options)
    click.echo(str(out))


def _resolve_build_sources(sources: tuple[str, ...], test_csv: str | None
                           ) -> tuple[str, str, BuildInputs]:
    """The task, the default output name and the inputs, from what the user named."""
    from hrm.datasets import sources as registry
    from hrm.datasets.builders import detect_csv_task
    from hrm.datasets.tasks import BuildInputs, get_task, tasks_where

    tasks, names, inputs = set(), [], BuildInputs()
    for item in sources:
        path = Path(item)
        if item in registry.SOURCES:
            source = registry.get_source(item)
            if not registry.is_fetched(source):
                stderr_console().print(f"{item} is not cached yet: fetching it first")
            folder = registry.fetch(source)
            tasks.add(source.task)
            names.append(item)
            found = get_task(source.task).source_inputs(folder, source)
            inputs.csv = found.csv or inputs.csv
            inputs.folders += found.folders
        elif path.is_file():
            tasks.add(detect_csv_task(path))
            names.append(path.stem)
            inputs.csv = {"train": path}
        elif path.is_dir() and (path / "train.csv").is_file():
            tasks.add(detect_csv_task(path / "train.csv"))
            names.append(path.name)
            inputs.csv = {
                s: path / f"{s}.csv" for s in ("train", "test") if (path / f"{s}.csv").is_file()
            }
        elif path.is_dir():
            found = [(name, get_task(name).find_inputs(path))
                     for name in tasks_where(lambda task: task.builds_from == "folders")]
            task, subsets = next(((n, f) for n, f in found if f), (None, []))
            if task is None:
                raise click.BadParameter(
                    f"{item}: holds neither train.csv nor task folders of "
                    f"{' or '.join(n for n, _ in found) or 'any task'}", param_hint="SOURCES"
                )
            tasks.add(task)
            names.append(path.name)
            inputs.folders += subsets
        else:
            known = ", ".join(registry.SOURCES)
            try:
                check_input_path(item)
            except FileNotFoundError:
                # A missing input is exit 1 in every command; name the datasets in case it
                # was meant as one.
                raise click.ClickException(
                    f"{item}: no such file or folder, nor a known dataset ({known})") from None
            raise click.ClickException(f"{item}: neither a file nor a folder")
    if len(tasks) != 1:
        raise click.UsageError(f"the sources mix tasks ({', '.join(sorted(tasks))})")
    task = tasks.pop()
    if not get_task(task).combines_sources and len(sources) > 1:
        raise click.UsageError(
            f"{task} builds take one source (use --test for the test CSV)"
        )
    if test_csv is not None:
        if get_task(task).builds_from != "csv":
            raise click.UsageError("--test applies to CSV sources")
        inputs.csv["test"] = Path(test_csv)
    return task, "-".join(names), inputs


# --------------------------------------------------------------------------- info


@datasets.command()
@click.argument("folder", type=InputPath(file_okay=False))
@format_option("table", "json", help="A table, or JSON for scripts.")
def info(folder: str, fmt: str) -> None:
    """Summarise a built dataset's splits and sizes.

    \b
    Example:
      hrm datasets info data/sudoku-extreme-sub1000-aug1000
    """
    import json

    from hrm.datasets.format import list_splits, load_identifiers, load_split

    root = Path(folder)
    splits = list_splits(root)
    if not splits:
        raise click.BadParameter(
            f"{root}: no split folders with dataset.json (is it built?)", param_hint="FOLDER"
        )
    identifiers = load_identifiers(root)
    summary = {"path": str(root), "identifiers": len(identifiers), "splits": {}}
    for name in splits:
        split = load_split(root, name)
        for set_name, puzzle_set in split.sets.items():
            size = sum(f.stat().st_size for f in (root / name).glob(f"{set_name}__*.npy"))
            summary["splits"][name if set_name == "all" else f"{name}/{set_name}"] = {
                "groups": puzzle_set.num_groups,
                "puzzles": puzzle_set.num_puzzles,
                "examples": puzzle_set.num_examples,
                "seq_len": split.metadata.seq_len,
                "vocab_size": split.metadata.vocab_size,
                "dtype": str(puzzle_set.inputs.dtype),
                "puzzle_identifiers": split.metadata.num_puzzle_identifiers,
                "bytes": size,
            }
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
        return
    from rich.table import Table

    from hrm_cli.console import stdout_console

    table = Table(title=f"{root}  ({len(identifiers)} puzzle identifiers)")
    # Short headers, so the table fits an 80-column terminal; JSON has the full names.
    columns = {"groups": "groups", "puzzles": "puzzles", "examples": "examples",
               "seq_len": "tokens", "vocab_size": "vocab", "dtype": "dtype", "bytes": "size"}
    table.add_column("split")
    for header in columns.values():
        table.add_column(header, justify="right", no_wrap=True)
    for name, row in summary["splits"].items():
        cells = [f"{row[c]:,}" if isinstance(row[c], int) else row[c] for c in columns]
        cells[-1] = human_size(row["bytes"])
        table.add_row(name, *cells)
    stdout_console().print(table)
