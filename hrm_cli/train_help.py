"""`hrm train --help` on one screen, and every knob under its heading with `--help-all`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from hrm_cli.knobs import SECTIONS

# What `hrm train --help` shows: what to train, where, how long, how fast. Everything else
# is in `--help-all`, under the heading of the config it sets.
SHORT_HELP = frozenset({
    "data", "out", "resume", "init_from", "arch", "preset", "batch_size", "lr", "epochs",
    "steps", "device", "gpus", "nproc", "time_limit", "quiet", "help_all",
})
HEADINGS = {**SECTIONS, "launch": "Launch (several processes or machines)"}
_HELP_ALL = "hrm.help_all"


class TrainCommand(click.Command):
    """A command whose `--help` lists the common options and `--help-all` every one."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        full = ctx.meta.get(_HELP_ALL, False)
        help_option = self.get_help_option(ctx)
        options = [p for p in self.get_params(ctx)
                   if isinstance(p, click.Option) and p.get_help_record(ctx) is not None]
        shown = [p for p in options
                 if full or p.name in SHORT_HELP or p is help_option]
        groups: dict[str, list[tuple[str, str]]] = {"": []}
        for param in shown:
            names, text = param.get_help_record(ctx)  # type: ignore[misc]
            if param.name == "help_all" and not full:
                text = (f"Show the {len(options) - len(shown)} other options too (recipe, "
                        "model, logging, launch).")
            section = getattr(param, "section", "") if full else ""
            groups.setdefault(section, []).append((names, text))
        with formatter.section("Options"):
            formatter.write_dl(groups.pop(""))
        for section, heading in HEADINGS.items():
            if groups.get(section):
                with formatter.section(heading):
                    formatter.write_dl(groups[section])


def _show_all(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    ctx.meta[_HELP_ALL] = True
    click.echo(ctx.get_help(), color=ctx.color)
    ctx.exit()


def help_all_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--help-all", is_flag=True, expose_value=False, is_eager=True,
                        callback=_show_all,
                        help="Show every option and exit.")(function)


__all__ = ["SHORT_HELP", "TrainCommand", "help_all_option"]
