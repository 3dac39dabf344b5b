"""`hrm models list|info|pull|import|rm|path`, against a local HTTP server for `pull`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import OFFICIAL
from hub_server import FakeHub, commit_of

from hrm_cli.main import cli, main

RELEASE = OFFICIAL / "model"
REPO = "sapientinc/HRM-checkpoint-sudoku-extreme"
PUZZLE = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."


pytestmark = pytest.mark.usefixtures("hrm_home", "no_shipped_models")


@pytest.fixture
def server(monkeypatch):
    with FakeHub() as srv:
        monkeypatch.setenv("HRM_HF_ENDPOINT", srv.base_url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        for name in ("checkpoint", "all_config.yaml"):
            srv.add_file("model", REPO, name, (RELEASE / name).read_bytes(),
                         lfs=name == "checkpoint")
        yield srv


@pytest.fixture
def bundle(tiny_sudoku_bundle) -> Path:
    return tiny_sudoku_bundle


def models(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["models", *args], input=input)


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_empty_cache():
    assert models("list").stdout == ""  # piped: one line per model, and there are none
    assert json.loads(models("list", "--format", "json").stdout) == []


def test_import_list_info_path_rm(bundle, hrm_home):
    imported = models("import", str(bundle))
    assert imported.exit_code == 0, imported.output
    folder = hrm_home / "models" / "tiny-sudoku"
    assert imported.stdout == f"{folder}\n" and "imported tiny-sudoku" in imported.stderr

    listing = models("list").stdout.splitlines()
    assert len(listing) == 1
    name, kind, task, params, size, path, source = listing[0].split("\t")
    assert (name, kind, task, path, source) == ("tiny-sudoku", "cached", "sudoku", str(folder),
                                                "unit test")
    assert int(params) > 0 and int(size) > 0
    [row] = json.loads(models("list", "--format", "json").stdout)
    assert row["metrics"] == {"exact_accuracy": 0.25}

    info = models("info", "tiny-sudoku")
    assert info.exit_code == 0
    for text in ("task        sudoku", "hidden_size: 32", "exact_accuracy: 0.25", "unit test"):
        assert text in info.stdout
    as_json = json.loads(models("info", "tiny-sudoku", "--format", "json").stdout)
    assert as_json["architecture"]["seq_len"] == 81 and as_json["manifest"]["task"] == "sudoku"
    assert models("path", "tiny-sudoku").stdout == f"{folder}\n"

    declined = models("rm", "tiny-sudoku", input="n\n")
    assert declined.exit_code == 0 and folder.exists() and "Nothing removed" in declined.stderr
    confirmed = models("rm", "tiny-sudoku", input="y\n")
    assert confirmed.exit_code == 0 and not folder.exists()
    models("import", str(bundle))
    assert models("rm", "tiny-sudoku", "--yes").exit_code == 0 and not folder.exists()


def test_rm_without_an_answer_or_of_something_not_cached(bundle, capsys, tmp_path):
    models("import", str(bundle))
    unanswered = models("rm", "tiny-sudoku", input="")  # stdin ends without an answer
    assert unanswered.exit_code == 1 and "pass --yes" in unanswered.stderr
    code, _, err = run_main(["models", "rm", "nothing", "--yes"], capsys)
    assert code == 1 and "no model named" in err
    code, _, err = run_main(["models", "rm", str(bundle), "--yes"], capsys)  # a path: refused
    assert code == 1 and "not in the cache" in err and bundle.exists()


@pytest.mark.parametrize("name", ["../escape", "a/b/c", ".hidden", "-x"])
def test_bad_names_are_refused(bundle, capsys, tmp_path, name):
    code, _, err = run_main(["models", "import", str(bundle), "--name", name], capsys)
    assert code == 1 and "invalid model name" in err and err.count("\n") == 1
    assert not (tmp_path / "escape").exists()


def test_import_an_original_checkpoint(hrm_home):
    result = models("import", str(RELEASE), "--name", "release")
    assert result.exit_code == 0, result.output
    info = json.loads(models("info", "release", "--format", "json").stdout)
    assert info["task"] == "sudoku" and info["architecture"]["hidden_size"] == 64
    assert info["provenance"]["training"]["epochs"] == 20000


def test_info_on_a_release_checkpoint_path():
    info = models("info", str(RELEASE))
    assert info.exit_code == 0 and "release config:" in info.stdout and "kind        release" in \
        info.stdout


def test_pull_then_solve_with_it(server, hrm_home, tmp_path, capsys):
    result = models("pull", "hrm-sudoku-extreme")
    assert result.exit_code == 0, result.output
    folder = hrm_home / "models" / "sapientinc" / "HRM-checkpoint-sudoku-extreme"
    assert result.stdout == f"{folder}\n"
    assert "downloading" in result.stderr and "is ready" in result.stderr

    [row] = json.loads(models("list", "--format", "json").stdout)
    assert row["name"] == REPO and row["aliases"] == ["hrm-sudoku-extreme"]
    info = models("info", REPO).stdout
    assert f"https://huggingface.co/{REPO}/resolve/{commit_of(REPO)}/checkpoint" in info

    again = models("pull", REPO)
    assert again.exit_code == 0 and "already cached" in again.stderr

    puzzles = tmp_path / "p.txt"
    puzzles.write_text(PUZZLE + "\n")
    for model in (["--model", "hrm-sudoku-extreme"], []):  # by alias, and as the only one
        solved = CliRunner().invoke(cli, ["solve", "sudoku", str(puzzles), *model,
                                          "--format", "jsonl"])
        assert solved.exit_code == 3, solved.output  # the fixture's weights are random
        assert json.loads(solved.stdout)["source"] == f"{puzzles}:1"


def test_pull_offline_uses_only_the_cache(server, monkeypatch, capsys):
    monkeypatch.setenv("HRM_OFFLINE", "1")
    code, out, err = run_main(["models", "pull", "hrm-sudoku-extreme"], capsys)
    assert code == 1 and out == "" and "HRM_OFFLINE" in err and "Traceback" not in err
    assert server.requests == []
    monkeypatch.delenv("HRM_OFFLINE")
    assert models("pull", "hrm-sudoku-extreme", "-q").exit_code == 0
    monkeypatch.setenv("HRM_OFFLINE", "1")
    assert models("pull", "hrm-sudoku-extreme", "-q").exit_code == 0


def test_pull_errors(server, capsys):
    code, _, err = run_main(["models", "pull", "hrm-maze-30x30-hard", "-q"], capsys)
    assert code == 1 and "HTTP 404" in err and err.count("\n") == 1
    code, _, err = run_main(["models", "pull", "whatever", "-q"], capsys)
    assert code == 1 and "unknown model" in err and "hrm-sudoku-extreme" in err
    code, _, err = run_main(["models", "pull", "someone/thing", "-q"], capsys)
    assert code == 1 and "--task" in err


def test_list_on_a_terminal_shows_a_table_and_what_can_be_pulled(bundle, monkeypatch):
    import types

    from hrm_cli import models_cmd

    models("import", str(bundle))
    terminal = types.SimpleNamespace(stdout=types.SimpleNamespace(isatty=lambda: True))
    monkeypatch.setattr(models_cmd, "sys", terminal)
    result = models("list")
    assert result.exit_code == 0
    assert "tiny-sudoku" in result.stdout and "sudoku" in result.stdout
    assert "hrm models pull" in result.stdout and "hrm-maze-30x30-hard" in result.stdout


def _header(payload: bytes, claimed: int | None = None) -> bytes:
    import struct

    return struct.pack("<Q", len(payload) if claimed is None else claimed) + payload


@pytest.mark.parametrize("damage", [
    _header(b"[1, 2, 3]"),                              # JSON, but not an object
    _header(b"\xff\xfe not json"),                       # not JSON at all
    _header(b'{"w": {"dtype": "F32", "shape": "big"}}'),  # a tensor without a shape
    _header(b'{"a":', claimed=10**12),                   # a header longer than the file
    b"\x01\x02",                                         # shorter than the length field
    None,                                                # the file is gone
], ids=["list", "not-json", "bad-shape", "huge-length", "truncated", "missing"])
def test_a_broken_model_is_listed_as_broken_with_the_command_that_removes_it(
        bundle, hrm_home, capsys, damage):
    models("import", str(bundle))
    weights = hrm_home / "models" / "tiny-sudoku" / "model.safetensors"
    if damage is None:
        weights.unlink()
    else:
        weights.write_bytes(damage)

    code, out, err = run_main(["models", "list"], capsys)
    assert code == 0 and err == ""
    [line] = out.splitlines()
    fields = line.split("\t")
    assert fields[0] == "tiny-sudoku" and fields[3] == ""  # parameters unknown
    assert fields[6].startswith("broken: ") and str(weights) in fields[6]
    assert fields[6].endswith("remove it with `hrm models rm tiny-sudoku --yes`")
    [row] = json.loads(models("list", "--format", "json").stdout)
    assert row["broken"] and row["remove"] == "hrm models rm tiny-sudoku --yes"

    code, out, err = run_main(["models", "info", "tiny-sudoku"], capsys)
    assert code == 0 and "status      broken: " in out and "hrm models rm tiny-sudoku" in out

    puzzles = hrm_home / "p.txt"
    puzzles.write_text(PUZZLE + "\n")
    code, out, err = run_main(["solve", "sudoku", str(puzzles), "--model", "tiny-sudoku"], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "is damaged" in err and "hrm models rm tiny-sudoku --yes" in err

    code, _, _ = run_main(["models", "rm", "tiny-sudoku", "--yes"], capsys)
    assert code == 0 and not weights.parent.exists()


def test_a_changed_weights_file_is_refused_when_loaded(bundle, hrm_home, capsys):
    models("import", str(bundle))
    weights = hrm_home / "models" / "tiny-sudoku" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # a flipped bit in a tensor: the header is sound, the sha256 is not
    weights.write_bytes(bytes(data))
    puzzles = hrm_home / "p.txt"
    puzzles.write_text(PUZZLE + "\n")
    code, out, err = run_main(["solve", "sudoku", str(puzzles), "--model", "tiny-sudoku"], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "sha256" in err and "hrm models rm tiny-sudoku --yes" in err


def test_pull_of_a_damaged_cached_checkpoint_names_force(server, hrm_home, capsys):
    assert models("pull", "hrm-sudoku-extreme", "-q").exit_code == 0
    folder = hrm_home / "models" / "sapientinc" / "HRM-checkpoint-sudoku-extreme"
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    code, out, err = run_main(["models", "pull", "hrm-sudoku-extreme"], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "damaged" in err and "hrm models pull hrm-sudoku-extreme --force" in err
    code, out, _ = run_main(["models", "pull", "hrm-sudoku-extreme", "--force", "-q"], capsys)
    assert code == 0 and out == f"{folder}\n"
    assert models("info", "hrm-sudoku-extreme").stdout.count("broken") == 0
