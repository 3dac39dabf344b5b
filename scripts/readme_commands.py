"""The commands README.md tells users to run, read from README itself, so that the checks
run exactly what it shows:

- ``setup``: the first of the "Two commands" (set up and solve);
- ``test``: the second (set up and run the tests); scripts/test.sh holds the same line;
- ``quickstart``: every ``$ `` command of the "Quick start (offline)" section.

``python scripts/readme_commands.py script`` prints a bash script that runs ``setup`` and
then the quick start in one shell (the setup activates the venv the quick start uses), each
command echoed first; a command of `hrm datasets` must also print what README shows, as
their outputs do not depend on the machine. scripts/check_readme.sh runs it.
Standard library only: it runs before any environment exists.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
# Outputs that are the same on every machine (seeded data, no floats), compared exactly.
COMPARED = ("hrm datasets ",)


@dataclass(frozen=True)
class Command:
    text: str
    """The command, continuation lines joined with a space."""
    output: tuple[str, ...] = ()
    """The lines README shows after it (console blocks only)."""


def section(readme: str, title: str) -> str:
    """The text of the level-2 section `title`, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    if match is None:
        raise ValueError(f"README.md has no section '## {title}'")
    return match.group(1)


def blocks(text: str, language: str) -> list[list[str]]:
    """The lines of each fenced block of `language`."""
    return [body.split("\n")
            for body in re.findall(rf"^```{language}\n(.*?)\n```$", text, re.M | re.S)]


def _join(lines: list[str]) -> str:
    """Lines ending in a backslash continued by the next, as the shell reads them."""
    return " ".join(line.rstrip("\\").strip() for line in lines)


def two_commands(readme: str) -> list[Command]:
    """README's "Two commands": setup-and-solve, then setup-and-test."""
    found = []
    for lines in blocks(section(readme, "Two commands"), "bash"):
        found.append(Command(_join(lines)))
    if len(found) != 2:
        raise ValueError(f"README.md's 'Two commands' has {len(found)} bash blocks, not 2")
    return found


def quick_start(readme: str) -> list[Command]:
    """Every `$ ` command of the quick start, with the output README shows for it."""
    found: list[Command] = []
    for lines in blocks(section(readme, "Quick start (offline)"), "console"):
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                raise ValueError(f"quick start: output without a command: {lines[i]!r}")
            command = [lines[i][2:]]
            while command[-1].endswith("\\"):
                i += 1
                command.append(lines[i])
            i += 1
            output = []
            while i < len(lines) and not lines[i].startswith("$ "):
                output.append(lines[i])
                i += 1
            found.append(Command(_join(command), tuple(output)))
    if not found:
        raise ValueError("README.md's quick start shows no commands")
    return found


def check_script(readme: str) -> str:
    """A bash script: the setup command, then the quick start, stopping at the first error
    or at an `hrm datasets` output that differs from README's."""
    setup = two_commands(readme)[0]
    # A pipeline's status is its last command's, as in the shell a reader types into:
    # `hrm solve ... | jq ...` is fine although hrm exits 3 for the unsolved puzzles.
    lines = ["set -eu", f"echo {shlex.quote('$ ' + setup.text)}", setup.text]
    for command in quick_start(readme):
        lines.append(f"echo {shlex.quote('$ ' + command.text)}")
        if command.text.startswith(COMPARED) and command.output:
            expected = "\n".join(command.output)
            lines += [
                # README's lines carry no trailing blanks (rich pads a centred title).
                f"out=$(set -o pipefail; {{ {command.text}; }} 2>&1 "
                "| sed 's/[[:space:]]*$//')",
                'printf "%s\\n" "$out"',
                f"if [ \"$out\" != {shlex.quote(expected)} ]; then",
                f"  echo {shlex.quote('README.md shows another output for: ' + command.text)}"
                " >&2",
                "  exit 1",
                "fi",
            ]
        else:
            lines.append(command.text)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    what = argv[0] if argv else ""
    readme = (Path(argv[1]) if len(argv) > 1 else README).read_text(encoding="utf-8")
    if what == "setup":
        print(two_commands(readme)[0].text)
    elif what == "test":
        print(two_commands(readme)[1].text)
    elif what == "quickstart":
        print("\n".join(command.text for command in quick_start(readme)))
    elif what == "script":
        print(check_script(readme), end="")
    else:
        print(f"usage: {Path(sys.argv[0]).name} setup|test|quickstart|script [README.md]",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
