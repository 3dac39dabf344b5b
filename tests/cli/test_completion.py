import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hrm_cli.completion_cmd import (
    COMPLETE_VAR,
    GENERATED_BY,
    SCRIPT_NAMES,
    SHELLS,
    click_version,
    completion_script,
)
from hrm_cli.main import cli, main

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "official-hrm" / "model"


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_scripts_are_up_to_date(shell):
    committed = (REPO / "completions" / SCRIPT_NAMES[shell]).read_text()
    header = committed.splitlines()[-1]
    assert header.startswith(GENERATED_BY)
    if header != f"{GENERATED_BY}{click_version()})":
        # Each click release words the scripts a little differently: compare exactly only
        # with the click that wrote them, and otherwise check the contract they rely on.
        assert COMPLETE_VAR in committed and "hrm" in committed
        pytest.skip(f"scripts were generated with another click ({header})")
    assert committed == completion_script(shell), (
        f"completions/{SCRIPT_NAMES[shell]} is stale: regenerate it with "
        f"`hrm completion {shell} > completions/{SCRIPT_NAMES[shell]}`"
    )


def _bash_complete(words: list[str], env: dict[str, str]) -> list[str]:
    """Run the committed bash script in a real bash and return COMPREPLY."""
    quoted = " ".join(f"'{w}'" for w in words)
    script = (
        f"source '{REPO / 'completions' / 'hrm.bash'}'\n"
        "complete -p hrm >/dev/null || exit 9\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
        "_hrm_completion hrm\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_real_bash_completes_commands_tasks_models_and_datasets(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HRM_HOME", str(home))
    assert (
        main(["models", "import", str(FIXTURE_MODEL), "--name", "my-sudoku", "--task", "sudoku"])
        == 0
    )
    env = {
        **os.environ,
        "HRM_HOME": str(home),
        # the script calls `hrm`: use the one installed next to this Python
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    assert _bash_complete(["hrm", "so"], env) == ["solve"]
    assert _bash_complete(["hrm", "solve", ""], env) == ["sudoku", "maze", "arc"]
    models = _bash_complete(["hrm", "solve", "sudoku", "--model", "my"], env)
    assert models == ["my-sudoku"]
    pullable = _bash_complete(["hrm", "models", "pull", "hrm-"], env)
    assert "hrm-sudoku-extreme" in pullable and "my-sudoku" not in pullable
    assert _bash_complete(["hrm", "datasets", "fetch", "arc"], env) == ["arc-agi-1", "arc-agi-2"]
    assert "sudoku-extreme" in _bash_complete(["hrm", "datasets", "build", "sud"], env)


@pytest.mark.parametrize(
    ("shell", "relative"),
    [
        ("bash", "data/bash-completion/completions/hrm"),
        ("zsh", "home/.zfunc/_hrm"),
        ("fish", "config/fish/completions/hrm.fish"),
    ],
)
def test_install_writes_where_the_shell_looks(tmp_path, monkeypatch, shell, relative):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    result = CliRunner().invoke(cli, ["completion", shell, "--install"])
    assert result.exit_code == 0
    target = tmp_path / relative
    assert result.stdout.strip() == str(target)
    assert target.read_text() == completion_script(shell)
    assert "installed" in result.stderr


def test_print_and_unknown_shell():
    result = CliRunner().invoke(cli, ["completion", "zsh"])
    assert result.exit_code == 0 and "#compdef hrm" in result.output
    assert CliRunner().invoke(cli, ["completion", "tcsh"]).exit_code == 2
