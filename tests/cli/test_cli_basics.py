import subprocess
import sys

from click.testing import CliRunner

from hrm_cli.main import cli, main


def test_help_lists_command_groups_and_exit_codes():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "datasets" in result.output
    assert "Exit codes" in result.output and "130" in result.output


def test_help_does_not_import_torch_or_numpy():
    code = (
        "import sys; from hrm_cli.main import main; "
        "rc = main(['--help']); "
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'; "
        "sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "hrm" in result.output
