"""`hrm completion SHELL`: print or install the shell completion script."""

from __future__ import annotations

import os
from pathlib import Path

import click

SHELLS = ("bash", "zsh", "fish")
SCRIPT_NAMES = {"bash": "hrm.bash", "zsh": "_hrm", "fish": "hrm.fish"}
COMPLETE_VAR = "_HRM_COMPLETE"


def completion_script(shell: str) -> str:
    """The script click generates for `hrm`; it asks `hrm` itself for every completion, so
    new commands, cached models and dataset names complete without regenerating it."""
    from click.shell_completion import get_completion_class

    from hrm_cli.main import cli

    completion_class = get_completion_class(shell)
    if completion_class is None:
        raise click.BadParameter(f"unsupported shell {shell!r}")
    return completion_class(cli, {}, "hrm", COMPLETE_VAR).source()


def install_path(shell: str) -> Path:
    """Where each shell looks for completions without editing its start-up file
    (zsh: a folder the user adds to `fpath` once)."""
    home = Path.home()
    data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return {
        "bash": data / "bash-completion" / "completions" / "hrm",
        "zsh": home / ".zfunc" / "_hrm",
        "fish": config / "fish" / "completions" / "hrm.fish",
    }[shell]


NEXT_STEPS = {
    "bash": "new bash sessions load it (needs the bash-completion package)",
    "zsh": "add `fpath+=~/.zfunc; autoload -Uz compinit; compinit` to ~/.zshrc if it is "
    "not there yet, then start a new shell",
    "fish": "new fish sessions load it",
}


@click.command(
    epilog="""\b
Examples:
  hrm completion bash > ~/.local/share/bash-completion/completions/hrm
  hrm completion zsh > ~/.zfunc/_hrm
  hrm completion fish --install
"""
)
@click.argument("shell", type=click.Choice(SHELLS))
@click.option(
    "--install",
    is_flag=True,
    help="Write the script where SHELL looks for completions and say where.",
)
def completion(shell: str, install: bool) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    Commands, options, task names, cached and pullable model names and dataset names
    complete; the script calls `hrm` for them, so it never goes stale.
    """
    script = completion_script(shell)
    if not install:
        click.echo(script, nl=False)
        return
    target = install_path(shell)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(script)
    os.replace(temporary, target)
    click.echo(str(target))
    click.echo(f"installed the {shell} completion: {NEXT_STEPS[shell]}", err=True)
