"""`hrm datasets`: list, fetch, generate, build and inspect puzzle datasets."""

from __future__ import annotations

import click

from hrm_cli.lazy import LazyGroup

SUBCOMMANDS: dict[str, tuple[str, str, str]] = {}


@click.group(cls=LazyGroup, lazy_commands=SUBCOMMANDS)
def datasets() -> None:
    """Fetch, generate, build and inspect puzzle datasets."""
