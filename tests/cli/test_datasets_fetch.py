"""`hrm datasets list` and `hrm datasets fetch`, end to end against a local HTTP server.

HRM_HOME points at a temporary folder and HRM_HF_ENDPOINT / HRM_GITHUB_ENDPOINT at a fake
hub on 127.0.0.1 that answers as Hugging Face does and serves archives as GitHub does.
"""

import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hub_server import FakeHub, Hostile

from hrm.datasets import download as dl
from hrm.datasets.errors import DownloadError, OfflineError
from hrm_cli.main import cli, main

SUDOKU_REPO = "sapientinc/sudoku-extreme"
HF_SUDOKU = f"/datasets/{SUDOKU_REPO}/resolve/main"
TRAIN = b"source,question,answer,rating\n" + b"t,1.3,123,0\n" * 2000
TEST = b"source,question,answer,rating\nt,.2.,123,1\n"
ARC_ZIP = "/fchollet/ARC-AGI/archive/refs/heads/master.zip"
TASK = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HRM_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(dl, "RETRY_BACKOFF_S", 0.01)
    with FakeHub() as srv:
        monkeypatch.setenv("HRM_HF_ENDPOINT", srv.base_url)
        monkeypatch.setenv("HRM_GITHUB_ENDPOINT", srv.base_url)
        yield srv


def run(*args):
    return CliRunner().invoke(cli, ["datasets", *args])


def serve_sudoku(server, **train_behaviour):
    # Hugging Face answers /resolve/ of LFS files with a redirect to its CDN; so does this one.
    server.add_file("dataset", SUDOKU_REPO, "train.csv", TRAIN, **train_behaviour)
    server.add_file("dataset", SUDOKU_REPO, "test.csv", TEST, lfs=False)


def test_fetch_downloads_resumes_and_prints_the_path(server, tmp_path):
    serve_sudoku(server, cut_after=5000, cuts=1)
    result = run("fetch", "sudoku-extreme")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "home" / "datasets" / "sudoku-extreme"
    assert result.stdout == f"{folder}\n"  # data only on stdout
    assert "Fetching sudoku-extreme" in result.stderr
    assert (folder / "train.csv").read_bytes() == TRAIN
    assert (folder / "test.csv").read_bytes() == TEST
    assert len(server.hits("/cdn/")) == 2  # cut once, then finished, via the redirect

    count = len(server.requests)
    again = run("fetch", "sudoku-extreme")
    assert again.exit_code == 0
    assert again.stdout == f"{folder}\n"
    assert "already cached" in again.stderr
    assert len(server.requests) == count


def test_fetch_quiet_prints_only_the_path(server, tmp_path):
    serve_sudoku(server)
    result = run("fetch", "sudoku-extreme", "--quiet")
    assert result.exit_code == 0
    assert result.stdout.strip().endswith("sudoku-extreme")
    assert result.stderr == ""


def test_fetch_force_downloads_again(server):
    serve_sudoku(server)
    assert run("fetch", "sudoku-extreme", "-q").exit_code == 0
    count = len(server.requests)
    assert run("fetch", "sudoku-extreme", "-q", "--force").exit_code == 0
    assert len(server.requests) > count


def test_fetch_arc_from_github_archive(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ARC-AGI-master/data/training/007bbfb7.json", json.dumps(TASK))
        zf.writestr("ARC-AGI-master/data/evaluation/00576224.json", json.dumps(TASK))
    server.add_hostile(ARC_ZIP, Hostile("bytes", data=buffer.getvalue()))
    result = run("fetch", "arc-agi-1", "-q")
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip())
    assert json.loads((folder / "data/training/007bbfb7.json").read_text()) == TASK

    from hrm.datasets.sources import arc_task_dirs

    assert set(arc_task_dirs("arc-agi-1")) == {"training", "evaluation"}


def test_unknown_name_is_a_usage_error_listing_names(server):
    result = run("fetch", "sudoku")
    assert result.exit_code == 2
    assert "unknown dataset 'sudoku'" in result.stderr
    assert "sudoku-extreme, maze-30x30-hard-1k, arc-agi-1" in result.stderr
    assert server.requests == []


def test_download_error_is_one_line_exit_1(server, capsys):
    result = run("fetch", "sudoku-extreme", "-q")
    assert result.exit_code == 1 and isinstance(result.exception, DownloadError)

    assert main(["datasets", "fetch", "sudoku-extreme", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: could not download ") and "HTTP 404" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_offline_fetch_is_refused_without_requests(server, monkeypatch):
    monkeypatch.setenv("HRM_OFFLINE", "1")
    result = run("fetch", "maze-30x30-hard-1k")
    assert result.exit_code == 1 and isinstance(result.exception, OfflineError)
    assert "HRM_OFFLINE" in str(result.exception)
    assert server.requests == []


def test_list_plain_when_piped_then_shows_cached(server, tmp_path):
    result = run("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [
        "sudoku-extreme",
        "maze-30x30-hard-1k",
        "arc-agi-1",
        "arc-agi-2",
        "concept-arc",
    ]
    assert all(line.split("\t")[3] == "missing" for line in lines)

    serve_sudoku(server)
    run("fetch", "sudoku-extreme", "-q")
    row = run("list").stdout.splitlines()[0].split("\t")
    assert row[3] == "cached"
    assert row[4] == str(tmp_path / "home" / "datasets" / "sudoku-extreme")


def test_list_json(server):
    result = run("list", "--format", "json")
    rows = json.loads(result.stdout)
    sudoku = rows[0]
    assert sudoku["name"] == "sudoku-extreme" and sudoku["task"] == "sudoku"
    assert sudoku["status"] == "missing"
    # URLs are shown as they will be requested, after the endpoint override
    assert sudoku["files"][0]["url"] == server.url(f"{HF_SUDOKU}/train.csv")


def test_help_documents_endpoints():
    result = run("fetch", "--help")
    assert result.exit_code == 0
    for variable in ("HRM_HOME", "HRM_OFFLINE", "HRM_HF_ENDPOINT", "HRM_GITHUB_ENDPOINT"):
        assert variable in result.output
