"""`hrm models`: list, inspect, pull, import and remove models in the model cache."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from hrm_cli.completion import installed_model_names, pullable_model_names
from hrm_cli.console import human_size

if TYPE_CHECKING:
    from hrm.inference.store import ModelEntry

from hrm_cli.options import TaskChoice, format_option, quiet_option

ENVIRONMENT_HELP = """\b
Names:
  default:<task>       the model shipped for a task: sudoku (9x9), maze (any size to 64x64)
  NAME, OWNER/NAME     a cached model; the original release's checkpoints are cached as
                       their hub ids, e.g. sapientinc/HRM-checkpoint-sudoku-extreme, also
                       known by the aliases hrm-sudoku-extreme, hrm-maze-30x30-hard, hrm-arc-2
  PATH                 a bundle folder or an original checkpoint, used in place

\b
Environment:
  HRM_HOME             cache folder (models/ inside it)
  HRM_OFFLINE=1        never use the network (HF_HUB_OFFLINE=1 too)
  HRM_HF_ENDPOINT      replaces https://huggingface.co (a mirror or a local server);
                       HF_ENDPOINT too
"""



def _epilog(*examples: str) -> str:
    """Examples first, then the names and environment every `hrm models` command shares."""
    lines = "\n".join(f"  {example}" for example in examples)
    return f"\b\nExamples:\n{lines}\n\n{ENVIRONMENT_HELP}"


@click.group(epilog=ENVIRONMENT_HELP)
def models() -> None:
    """List, pull, import and remove models."""


def _note(message: str, quiet: bool = False) -> None:
    if not quiet:
        click.echo(message, err=True)


def _aliases(entry: ModelEntry) -> list[str]:
    from hrm.inference.store import known_model

    known = known_model(entry.name)
    return [known.alias] if known and entry.kind == "cached" else []


def _broken_text(entry: ModelEntry) -> str | None:
    if not entry.broken:
        return None
    return f"broken: {entry.broken}; remove it with `{entry.remove_hint}`"


def _row(entry: ModelEntry) -> dict[str, Any]:
    broken = _broken_text(entry)
    return {
        "name": entry.name,
        "aliases": _aliases(entry),
        "kind": entry.kind,
        "task": entry.task,
        "parameters": entry.parameters(),
        "size_bytes": entry.size_bytes(),
        "source": broken or entry.describe(),
        "metrics": entry.metrics,
        "path": str(entry.path),
        "broken": entry.broken,
        "remove": entry.remove_hint if entry.broken else None,
    }


# --------------------------------------------------------------------------- list


@models.command("list", epilog=_epilog(
    "hrm models list",
    "hrm models list --format json | jq -r '.[].name'",
))
@format_option("table", "json",
               help="table: a table on a terminal, tab-separated lines when piped; json: a list.")
def list_command(fmt: str) -> None:
    """List the shipped default models and the cached ones.

    Piped output has one tab-separated line per model: name, kind (shipped or cached),
    task, parameters, size in bytes, folder, source. A damaged cached model is listed with
    "broken: WHAT IS WRONG; remove it with `hrm models rm NAME --yes`" as its source.
    """
    from hrm.inference.store import KNOWN_MODELS, list_models

    rows = [_row(entry) for entry in list_models()]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not sys.stdout.isatty():
        for row in rows:
            fields = ("name", "kind", "task", "parameters", "size_bytes", "path", "source")
            click.echo("\t".join("" if row[key] is None else str(row[key]) for key in fields))
        return
    from rich.markup import escape
    from rich.table import Table

    from hrm_cli.console import stdout_console

    console = stdout_console()
    if rows:
        table = Table(title="Models")
        for column in ("name", "task", "kind", "parameters", "size", "source"):
            table.add_column(column, justify="right" if column in ("parameters", "size")
                             else "left", overflow="fold")
        for row in rows:
            name = row["name"] + "".join(f"\n[dim]alias {a}[/]" for a in row["aliases"])
            params = f"{row['parameters']:,}" if row["parameters"] is not None else "-"
            source = f"[red]{escape(row['source'])}[/]" if row["broken"] else row["source"]
            table.add_row(name, row["task"] or "?", row["kind"], params,
                          human_size(row["size_bytes"]), source)
        console.print(table)
    else:
        console.print("No models installed: none is shipped yet and the cache is empty.")
    cached = {row["name"] for row in rows}
    missing = [m for m in KNOWN_MODELS if m.repo not in cached]
    if missing:
        console.print("\nAvailable with `hrm models pull NAME`:")
        for model in missing:
            console.print(f"  {model.alias:<22} {model.task:<7} {model.repo}")


# --------------------------------------------------------------------------- info, path


@models.command(epilog=_epilog(
    "hrm models info default:sudoku",
    "hrm models info hrm-sudoku-extreme --format json | jq .metrics",
))
@click.argument("name", metavar="NAME|PATH", shell_complete=installed_model_names)
@format_option("text", "json", help="Readable text, or JSON for scripts.")
def info(name: str, fmt: str) -> None:
    """Show a model's task, architecture, provenance and metrics."""
    from hrm.inference.store import find_model

    entry = find_model(name)
    data = _row(entry)
    data["architecture"] = entry.architecture
    data["task_config"] = entry.config.get("task", {})
    data["provenance"] = entry.provenance
    data["manifest"] = entry.manifest
    if entry.kind == "release":
        from hrm.model import read_official_config

        data["release_config"] = read_official_config(entry.path)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, default=str))
        return
    lines = [
        f"name        {entry.name}" + (f" (alias {', '.join(data['aliases'])})"
                                       if data["aliases"] else ""),
        f"kind        {entry.kind}",
        *([f"status      {data['source']}"] if entry.broken else []),
        f"task        {entry.task or 'unknown'}",
        f"path        {entry.path}",
        f"size        {human_size(data['size_bytes'])}",
    ]
    if data["parameters"] is not None:
        lines.append(f"parameters  {data['parameters']:,}")
    if entry.manifest.get("created"):
        lines.append(f"added       {entry.manifest['created']}")
    for title, section in (("architecture", entry.architecture),
                           ("task", data["task_config"]),
                           ("provenance", entry.provenance),
                           ("metrics", entry.metrics),
                           ("release config", data.get("release_config", {}))):
        if section:
            lines.append(f"{title}:")
            lines += [f"  {key}: {_flat(value)}" for key, value in section.items()]
    if not entry.metrics and entry.kind != "release":
        lines.append("metrics: none recorded")
    click.echo("\n".join(lines))


def _flat(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


@models.command(epilog=_epilog(
    "hrm models path default:maze",
    "ls \"$(hrm models path hrm-sudoku-extreme)\"",
))
@click.argument("name", metavar="NAME|PATH", shell_complete=installed_model_names)
def path(name: str) -> None:
    """Print a model's folder."""
    from hrm.inference.store import find_model

    click.echo(str(find_model(name).path))


# --------------------------------------------------------------------------- pull, import


@models.command(short_help="Download and convert an original checkpoint.", epilog=_epilog(
    "hrm models pull hrm-sudoku-extreme",
    "hrm models pull someone/HRM-sudoku-finetune --task sudoku",
))
@click.argument("name", shell_complete=pullable_model_names)
@click.option("--task", type=TaskChoice(), default=None,
              help="The task of a hub repository hrm does not know.")
@click.option("--force", is_flag=True, help="Download and convert again even if cached.")
@quiet_option("No progress bar or messages on stderr.")
def pull(name: str, task: str | None, force: bool, quiet: bool) -> None:
    """Download a checkpoint of the original release, convert and cache it.

    The cache folder is printed on stdout.
    NAME is one of the original release's checkpoints on the Hugging Face hub
    (sapientinc/HRM-checkpoint-sudoku-extreme, sapientinc/HRM-checkpoint-maze-30x30-hard,
    sapientinc/HRM-checkpoint-ARC-2, or their aliases hrm-sudoku-extreme,
    hrm-maze-30x30-hard, hrm-arc-2), or any OWNER/NAME hub repository with `checkpoint`
    and `all_config.yaml` (give --task). Downloads resume after an interruption: run the
    same command again.
    """
    from hrm.datasets import cache
    from hrm.inference.store import canonical_name
    from hrm.inference.store import pull as pull_model

    target = cache.model_cache_dir(canonical_name(name))
    was_cached = cache.is_complete(target) and not force
    try:
        entry = pull_model(name, task=task, force=force, quiet=quiet,
                           note=lambda message: _note(message, quiet))
    except KeyboardInterrupt:
        click.echo(f"Files already downloaded are kept: run `hrm models pull {name}` again "
                   "to continue.", err=True)
        raise
    if was_cached:
        _note(f"{entry.name} is already cached.", quiet)
    _note(f"{entry.name} is ready ({entry.task}); solve with "
          f"`hrm solve {entry.task} FILE --model {entry.name}`.", quiet)
    click.echo(str(entry.path))


@models.command("import", epilog=_epilog(
    "hrm models import runs/sudoku-20250101-120000/model --name my-sudoku",
    "hrm models import ~/Downloads/HRM-checkpoint-sudoku-extreme/checkpoint",
))
@click.argument("source", metavar="PATH")
@click.option("--name", default=None, help="Cache name [default: the folder's name].")
@click.option("--task", type=TaskChoice(), default=None,
              help="The task it solves [default: from the bundle, or guessed from the "
              "token layout].")
@click.option("--force", is_flag=True, help="Replace a cached model of the same name.")
@quiet_option("No messages on stderr.")
def import_command(source: str, name: str | None, task: str | None, force: bool,
                   quiet: bool) -> None:
    """Add a model from local files to the cache.

    The cache folder is printed on stdout.
    PATH is one of our bundle folders (config.json + model.safetensors), or an original
    checkpoint: the `checkpoint` file, or its folder with `all_config.yaml`.
    """
    from hrm.inference.store import import_model

    entry = import_model(source, name=name, task=task, force=force,
                         note=lambda message: _note(message, quiet))
    _note(f"imported {entry.name} ({entry.task}); solve with "
          f"`hrm solve {entry.task} FILE --model {entry.name}`.", quiet)
    click.echo(str(entry.path))


# --------------------------------------------------------------------------- rm


@models.command(epilog=_epilog(
    "hrm models rm my-sudoku",
    "hrm models rm sapientinc/HRM-checkpoint-ARC-2 --yes",
))
@click.argument("name", shell_complete=installed_model_names)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def rm(name: str, yes: bool) -> None:
    """Remove a cached model."""
    from hrm.inference.store import find_model, remove

    entry = find_model(name)
    if entry.kind != "cached":
        raise click.ClickException(f"{name} is a {entry.kind} model, not in the cache: "
                                   "nothing to remove")
    if not yes:
        try:
            confirmed = click.confirm(f"Remove {entry.name} ({entry.path})?", err=True)
        except click.Abort:
            raise click.ClickException("nothing removed (no answer); pass --yes to remove "
                                       "without asking") from None
        if not confirmed:
            click.echo("Nothing removed.", err=True)
            return
    folder = remove(entry.name)
    click.echo(f"Removed {entry.name} ({folder}).", err=True)
