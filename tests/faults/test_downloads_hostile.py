"""`hrm datasets fetch` against a hostile server on 127.0.0.1: nothing bad is ever cached.

Each case runs the real command (`hrm_cli.main.main`) with HRM_GITHUB_ENDPOINT and
HRM_HF_ENDPOINT pointing at a server that misbehaves in one way. Every case must end with
exit 1, one line on stderr, no complete cache entry and no leftovers, within seconds.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from hub_server import FakeHub, Hostile

from hrm.datasets import download as dl
from hrm_cli.main import main

ARC_ZIP = "/fchollet/ARC-AGI/archive/refs/heads/master.zip"
SUDOKU_REPO = "sapientinc/sudoku-extreme"
TASK = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}


@pytest.fixture
def hostile(hrm_home, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HRM_DOWNLOAD_STALL_S", "1")
    with FakeHub() as server:
        monkeypatch.setenv("HRM_HF_ENDPOINT", server.base_url)
        monkeypatch.setenv("HRM_GITHUB_ENDPOINT", server.base_url)
        yield server


def fetch(name: str, capsys, *args: str) -> tuple[int, str, str, float]:
    start = time.monotonic()
    code = main(["datasets", "fetch", name, "-q", *args])
    out, err = capsys.readouterr()
    return code, out, err, time.monotonic() - start


def assert_nothing_cached(home: Path, name: str, capsys) -> None:
    assert main(["datasets", "list"]) == 0
    rows = {line.split("\t")[0]: line.split("\t")[3]
            for line in capsys.readouterr().out.splitlines()}
    assert rows[name] == "missing"
    datasets = home / "datasets"
    leftovers = [p.name for p in datasets.iterdir()] if datasets.exists() else []
    assert leftovers == []  # no entry, no staging folder, no partial archive


def arc_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """About 400 KB that expands to 400 MB (one file of zeros, deflated)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf, \
            zf.open("ARC-AGI-master/data/training/bomb.json", "w", force_zip64=True) as member:
        block = b"0" * (4 * 1024**2)
        for _ in range(100):
            member.write(block)
    return buffer.getvalue()


def one_error_line(err: str) -> str:
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_captive_portal_on_the_archive_url(hostile, hrm_home, capsys):
    hostile.add_hostile(ARC_ZIP, Hostile("html"))
    code, out, err, _ = fetch("arc-agi-1", capsys)
    assert code == 1 and out == ""
    assert "web page (text/html)" in one_error_line(err)
    assert_nothing_cached(hrm_home, "arc-agi-1", capsys)


def test_captive_portal_on_the_hub(hostile, hrm_home, capsys):
    for path in (f"/datasets/{SUDOKU_REPO}/resolve/main/train.csv",
                 f"/datasets/{SUDOKU_REPO}/resolve/main/test.csv"):
        hostile.add_hostile(path, Hostile("html"))
    code, out, err, _ = fetch("sudoku-extreme", capsys)
    assert code == 1 and out == ""
    assert "did not answer as a Hugging Face hub" in one_error_line(err)
    assert_nothing_cached(hrm_home, "sudoku-extreme", capsys)


def test_a_body_that_is_not_a_zip(hostile, hrm_home, capsys):
    hostile.add_hostile(ARC_ZIP, Hostile("bytes", data=b"Service temporarily unavailable\n"))
    code, _, err, _ = fetch("arc-agi-1", capsys)
    assert code == 1 and "is not a zip archive" in one_error_line(err)
    assert_nothing_cached(hrm_home, "arc-agi-1", capsys)


def test_an_endless_body_stops_at_the_cap(hostile, hrm_home, capsys, monkeypatch):
    monkeypatch.setattr(dl, "MAX_ARCHIVE_BYTES", 4 * 1024**2)
    hostile.add_hostile(ARC_ZIP, Hostile("endless"))
    code, _, err, seconds = fetch("arc-agi-1", capsys)
    assert code == 1 and "more than 4,194,304 bytes" in one_error_line(err)
    assert seconds < 10
    assert_nothing_cached(hrm_home, "arc-agi-1", capsys)


def test_a_slow_drip_fails_at_the_stall_deadline(hostile, hrm_home, capsys):
    # A byte every 0.2 s keeps every read timeout happy; only the deadline stops it.
    hostile.add_hostile(ARC_ZIP, Hostile("drip", interval_s=0.2))
    code, _, err, seconds = fetch("arc-agi-1", capsys)
    assert code == 1 and "stalled" in one_error_line(err)
    assert seconds < 5
    assert_nothing_cached(hrm_home, "arc-agi-1", capsys)


def test_a_silent_server_fails_at_the_stall_deadline(hostile, hrm_home, capsys):
    hostile.add_hostile(ARC_ZIP, Hostile("drip", interval_s=30, data=b"P" * 10))
    code, _, err, seconds = fetch("arc-agi-1", capsys)
    assert code == 1 and "no data for 1 s" in one_error_line(err)
    assert seconds < 5


def test_a_zip_bomb_is_refused(hostile, hrm_home, capsys, zip_bomb):
    assert len(zip_bomb) < 500_000
    hostile.add_hostile(ARC_ZIP, Hostile("bytes", data=zip_bomb))
    code, _, err, seconds = fetch("arc-agi-1", capsys)
    assert code == 1 and "zip bomb" in one_error_line(err)
    assert seconds < 5
    assert_nothing_cached(hrm_home, "arc-agi-1", capsys)


def test_path_traversal_in_the_archive_is_refused(hostile, hrm_home, tmp_path, capsys):
    hostile.add_hostile(ARC_ZIP, Hostile("bytes", data=arc_zip({
        "ARC-AGI-master/data/training/a.json": json.dumps(TASK).encode(),
        "ARC-AGI-master/../../../../escaped.json": b"{}",
    })))
    code, _, err, _ = fetch("arc-agi-1", capsys)
    assert code == 1 and "outside the target folder" in one_error_line(err)
    assert not list(tmp_path.rglob("escaped.json"))
    assert_nothing_cached(hrm_home, "arc-agi-1", capsys)


def test_a_redirect_loop_is_refused_quickly(hostile, hrm_home, capsys):
    hostile.add_hostile(ARC_ZIP, Hostile("redirect_loop"))
    code, _, err, seconds = fetch("arc-agi-1", capsys)
    assert code == 1 and "redirect loop" in one_error_line(err)
    assert seconds < 5 and len(hostile.hits(ARC_ZIP)) <= dl.MAX_REDIRECTS + 1
    assert_nothing_cached(hrm_home, "arc-agi-1", capsys)


def test_a_short_body_is_never_cached(hostile, hrm_home, capsys):
    whole = arc_zip({"ARC-AGI-master/data/training/a.json": json.dumps(TASK).encode() * 50})
    hostile.add_hostile(ARC_ZIP, Hostile("short", data=whole[: len(whole) // 2],
                                         declared=len(whole)))
    code, _, err, _ = fetch("arc-agi-1", capsys)
    assert code == 1 and "nothing was cached" in one_error_line(err)
    assert_nothing_cached(hrm_home, "arc-agi-1", capsys)


def test_a_damaged_cached_copy_is_noticed_and_force_is_the_cure(hostile, hrm_home, capsys):
    original = b"source,question,answer,rating\n" + b"t,1.3,123,0\n" * 500
    hostile.add_file("dataset", SUDOKU_REPO, "train.csv", original)
    hostile.add_file("dataset", SUDOKU_REPO, "test.csv", b"source,question,answer,rating\n",
                     lfs=False)
    code, out, _, _ = fetch("sudoku-extreme", capsys)
    assert code == 0
    train = Path(out.strip()) / "train.csv"
    damaged = bytearray(train.read_bytes())
    damaged[100] ^= 1  # one flipped bit, the size unchanged
    train.write_bytes(bytes(damaged))

    code, out, err, _ = fetch("sudoku-extreme", capsys)
    assert code == 1 and out == ""
    assert "hrm datasets fetch sudoku-extreme --force" in one_error_line(err)
    assert main(["datasets", "build", "sudoku-extreme", "--out", str(hrm_home / "b"), "-q"]) == 1
    assert "--force" in capsys.readouterr().err

    code, out, _, _ = fetch("sudoku-extreme", capsys, "--force")
    assert code == 0 and (Path(out.strip()) / "train.csv").read_bytes() == original
