"""Downloads against a real HTTP server on 127.0.0.1: resume, verification, faults, archives."""

import hashlib
import io
import stat
import zipfile
from pathlib import Path

import pytest
from http_server import LocalServer

from hrm.datasets import download as dl
from hrm.datasets.download import (
    UnsafeArchiveError,
    download,
    extract_zip,
    partial_path,
    resolve_url,
)
from hrm.datasets.errors import DownloadError, OfflineError
from hrm.datasets.files import staged_dir

DATA = bytes(range(256)) * 40  # 10 KiB, every offset distinguishable
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(dl, "RETRY_BACKOFF_S", 0.01)
    monkeypatch.delenv("HRM_OFFLINE", raising=False)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_writes_verified_file_and_no_part(server, tmp_path):
    server.add("/f.bin", DATA)
    dest = tmp_path / "out" / "f.bin"
    assert download(server.url("/f.bin"), dest, size=len(DATA), sha256=SHA) == dest
    assert dest.read_bytes() == DATA
    assert leftovers(dest.parent) == ["f.bin"]
    assert server.requests[0].headers.get("Accept-Encoding") == "identity"


def test_resumes_with_range_after_cut_connection(server, tmp_path):
    server.add("/f.bin", DATA, cut_after=3000)
    dest = tmp_path / "f.bin"
    download(server.url("/f.bin"), dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    first, second = server.requests
    assert "Range" not in first.headers
    assert second.headers["Range"] == "bytes=3000-"
    assert not partial_path(dest).exists()


def test_failed_download_keeps_part_and_next_call_resumes(server, tmp_path):
    # Stands in for Ctrl-C or a crash: the .part stays, the destination never appears.
    server.add("/f.bin", DATA, cut_after=4096)
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="run the command again to resume"):
        download(server.url("/f.bin"), dest, size=len(DATA), retries=1)
    assert not dest.exists()
    assert partial_path(dest).read_bytes() == DATA[:4096]

    download(server.url("/f.bin"), dest, size=len(DATA), sha256=SHA, retries=1)
    assert dest.read_bytes() == DATA
    assert server.requests[-1].headers["Range"] == "bytes=4096-"


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.add("/f.bin", DATA, ignore_range=True)
    dest = tmp_path / "f.bin"
    partial_path(dest).write_bytes(b"x" * 500)  # stale bytes that must not survive
    download(server.url("/f.bin"), dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    assert server.requests[0].headers["Range"] == "bytes=500-"


def test_whole_part_answered_416_is_verified_and_kept(server, tmp_path):
    server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    partial_path(dest).write_bytes(DATA)  # interrupted right before the rename
    download(server.url("/f.bin"), dest, sha256=SHA)
    assert dest.read_bytes() == DATA
    assert len(server.requests) == 1


def test_part_longer_than_file_answered_416_restarts(server, tmp_path):
    server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    partial_path(dest).write_bytes(b"y" * (len(DATA) + 10))
    download(server.url("/f.bin"), dest)
    assert dest.read_bytes() == DATA
    assert [("Range" in r.headers) for r in server.requests] == [True, False]


def test_wrong_checksum_deletes_download_and_caches_nothing(server, tmp_path):
    server.add("/f.bin", DATA[::-1])  # wrong content, right size
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        download(server.url("/f.bin"), dest, size=len(DATA), sha256=SHA)
    assert server.url("/f.bin") in str(info.value)
    assert leftovers(tmp_path) == []


def test_wrong_size_from_server_is_an_error(server, tmp_path):
    server.add("/f.bin", DATA + b"extra")
    with pytest.raises(DownloadError, match=f"{len(DATA)} were expected"):
        download(server.url("/f.bin"), tmp_path / "f.bin", size=len(DATA))
    assert leftovers(tmp_path) == []


def test_404_names_url_and_status(server, tmp_path):
    with pytest.raises(DownloadError) as info:
        download(server.url("/missing.csv"), tmp_path / "missing.csv")
    message = str(info.value)
    assert server.url("/missing.csv") in message and "HTTP 404" in message
    assert len(server.requests) == 1  # a 404 is not retried
    assert leftovers(tmp_path) == []


def test_server_errors_are_retried_then_reported(server, tmp_path):
    server.add("/f.bin", status=503)
    with pytest.raises(DownloadError, match=r"HTTP 503.*after 3 attempts"):
        download(server.url("/f.bin"), tmp_path / "f.bin", retries=3)
    assert len(server.requests) == 3


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_offline_mode_makes_no_request(server, tmp_path, monkeypatch, value):
    monkeypatch.setenv("HRM_OFFLINE", value)
    server.add("/f.bin", DATA)
    with pytest.raises(OfflineError) as info:
        download(server.url("/f.bin"), tmp_path / "f.bin")
    assert server.url("/f.bin") in str(info.value)
    assert "unset HRM_OFFLINE" in str(info.value)
    assert server.requests == []


def test_endpoint_variables_replace_canonical_hosts(monkeypatch):
    monkeypatch.setenv("HRM_HF_ENDPOINT", "http://127.0.0.1:9/hf/")
    monkeypatch.delenv("HRM_GITHUB_ENDPOINT", raising=False)
    url = "https://huggingface.co/datasets/a/b/resolve/main/train.csv"
    assert resolve_url(url) == "http://127.0.0.1:9/hf/datasets/a/b/resolve/main/train.csv"
    assert resolve_url("https://github.com/a/b.zip") == "https://github.com/a/b.zip"
    assert resolve_url("https://huggingface.community/x") == "https://huggingface.community/x"


# --- archives -----------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, link_target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link_target)
    path.write_bytes(buffer.getvalue())
    return path


def test_extract_zip_strips_single_top_folder(tmp_path):
    archive = make_zip(
        tmp_path / "a.zip",
        {
            "repo-main/README.md": b"hi",
            "repo-main/data/training/t1.json": b"{}",
        },
    )
    target = tmp_path / "out"
    target.mkdir()
    extract_zip(archive, target)
    assert (target / "README.md").read_bytes() == b"hi"
    assert (target / "data" / "training" / "t1.json").read_bytes() == b"{}"


@pytest.mark.parametrize(
    "members, symlinks, reason",
    [
        ({"repo/ok.txt": b"ok", "repo/../../evil.txt": b"evil"}, None, "'..'"),
        ({"ok.txt": b"ok", "../evil.txt": b"evil"}, None, "'..'"),
        ({"ok.txt": b"ok", "/tmp/evil.txt": b"evil"}, None, "absolute path"),
        ({"ok.txt": b"ok"}, {"link": "/etc/passwd"}, "symbolic link"),
    ],
    ids=["dotdot-nested", "dotdot", "absolute", "symlink"],
)
def test_malicious_zip_is_rejected_before_writing_anything(tmp_path, members, symlinks, reason):
    archive = make_zip(tmp_path / "bad.zip", members, symlinks)
    root = tmp_path / "cache"
    target = root / "datasets" / "x"
    with pytest.raises(UnsafeArchiveError, match=reason), staged_dir(target) as staging:
        extract_zip(archive, staging)
    assert not target.exists()
    assert leftovers(root / "datasets") == []  # no staging folder left
    assert not (tmp_path / "evil.txt").exists() and not (root / "evil.txt").exists()


def test_staged_dir_replaces_target_only_on_success(tmp_path):
    target = tmp_path / "d"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_dir(target) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("interrupted")
    assert leftovers(target) == ["old.txt"]
    with staged_dir(target) as staging:
        (staging / "new.txt").write_text("new")
    assert leftovers(target) == ["new.txt"]
    assert leftovers(tmp_path) == ["d"]


def test_not_a_zip_is_a_download_error(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"<html>not a zip</html>")
    with pytest.raises(DownloadError, match="not a valid zip"):
        extract_zip(archive, tmp_path)
