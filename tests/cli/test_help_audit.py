"""Every command's --help: a description, every option explained, and examples.

Walks the real click tree (lazy commands are loaded), so a new command or option without
help text fails here.
"""

import click
import pytest
from click.testing import CliRunner

from hrm_cli.main import cli


def _leaf_commands() -> list[tuple[str, click.Command]]:
    found = []

    def walk(prefix: list[str], command: click.Command) -> None:
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                walk([*prefix, name], command.get_command(ctx, name))
        else:
            found.append((" ".join(prefix), command))

    walk([], cli)
    return found


LEAVES = _leaf_commands()


def test_the_walk_finds_every_command():
    names = {name for name, _ in LEAVES}
    assert {"solve", "train", "eval", "watch", "doctor", "completion", "datasets build",
            "datasets generate", "models pull", "models rm"} <= names


@pytest.mark.parametrize(("name", "command"), LEAVES, ids=[name for name, _ in LEAVES])
def test_command_help_is_complete(name, command):
    assert command.help and command.help.strip(), f"hrm {name}: no description"
    undocumented = [param.opts[0] for param in command.params
                    if isinstance(param, click.Option) and not param.hidden
                    and not (param.help or "").strip()]
    assert not undocumented, f"hrm {name}: options without help: {undocumented}"
    result = CliRunner().invoke(cli, [*name.split(), "--help"], terminal_width=100,
                                prog_name="hrm")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"hrm {name} --help shows no example"
    examples = result.output.split("Example", 1)[1]
    assert f"hrm {name}" in examples, f"hrm {name}: the examples do not run this command"


@pytest.mark.parametrize("group", ["datasets", "models"])
def test_group_listing_is_not_truncated(group):
    result = CliRunner().invoke(cli, [group, "--help"], terminal_width=80, prog_name="hrm")
    assert result.exit_code == 0
    assert "..." not in result.output.split("Commands:", 1)[1]
