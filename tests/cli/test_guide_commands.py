"""Every `hrm` command in README.md's and docs/'s code blocks exists, with the options it
is shown with: the guide cannot drift from the tool without a test failing."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from hrm_cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(?:bash|console|sh)\n(.*?)^```", re.S | re.M)


def shell_lines(text: str) -> list[str]:
    """Commands of bash and console blocks: continuations joined, console output dropped."""
    commands = []
    for block in BLOCK.findall(text):
        pending = ""
        console = any(line.startswith("$ ") for line in block.splitlines())
        for raw in block.splitlines():
            if console and not pending:
                if not raw.startswith("$ "):
                    continue
                raw = raw[2:]
            line = pending + raw.strip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            commands.append(line)
    return commands


def hrm_invocations(line: str) -> list[list[str]]:
    """The argument lists of every `hrm` call in a shell line (pipes, &&, ; and xargs)."""
    line = re.sub(r"\s#.*$", "", line)  # trailing comments
    calls = []
    for part in re.split(r"\|\||&&|\||;|\$\(|\)", line):
        try:
            words = shlex.split(part, posix=True)
        except ValueError:
            words = part.split()
        while words and (re.fullmatch(r"[A-Z_]+=\S*", words[0]) or words[0] in ("if", "then")):
            words = words[1:]
        if words and words[0] == "hrm":
            calls.append(words[1:])
    return calls


def check(args: list[str]) -> None:
    command: click.Command = cli
    ctx = click.Context(cli, info_name="hrm")
    path = ["hrm"]
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"`{' '.join(path)}` has no command {args[0]!r}"
        path.append(args[0])
        command, args = sub, args[1:]
        ctx = click.Context(command, info_name=path[-1], parent=ctx)
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    options |= {"--help", "-h"}
    for word in args:
        if word.startswith("-") and word not in ("-", "--"):
            name = word.split("=", 1)[0]
            if not name.startswith("--") and len(name) > 2:
                name = name[:2]  # -n5 style
            assert name in options, f"`{' '.join(path)}` has no option {name}"


CASES = [(page.name, args) for page in PAGES for line in shell_lines(page.read_text())
         for args in hrm_invocations(line)]


def test_the_guide_shows_commands():
    assert len(CASES) > 60
    assert {name for name, _ in CASES} >= {"README.md", "solving.md", "training.md"}


@pytest.mark.parametrize(("page", "args"), CASES,
                         ids=[f"{page}:{' '.join(args)[:50]}" for page, args in CASES])
def test_a_command_in_the_guide_exists(page, args):
    check(args)


def test_the_checker_catches_a_wrong_command_and_option():
    with pytest.raises(AssertionError, match="no command 'slove'"):
        check(["slove", "sudoku"])
    with pytest.raises(AssertionError, match="no option --halting-mode"):
        check(["solve", "sudoku", "--halting-mode", "max"])
