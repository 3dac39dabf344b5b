"""Hub downloads against a fake hub, the archive fetcher and zip extraction, on 127.0.0.1."""

import hashlib
import io
import stat
import zipfile
from pathlib import Path

import pytest
from hub_server import FakeHub, Hostile, commit_of

from hrm.datasets import cache
from hrm.datasets import download as dl
from hrm.datasets.download import (
    UnsafeArchiveError,
    extract_zip,
    fetch_archive,
    hub_download,
    hub_endpoint,
    resolve_url,
)
from hrm.datasets.errors import DownloadError, OfflineError

DATA = bytes(range(256)) * 40  # 10 KiB, every offset distinguishable
SHA = hashlib.sha256(DATA).hexdigest()
REPO = "owner/toy"


@pytest.fixture
def hub(hrm_home, monkeypatch):
    with FakeHub() as server:
        monkeypatch.setenv("HRM_HF_ENDPOINT", server.base_url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield server


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def make_zip(members: dict[str, bytes], symlinks: dict[str, str] | None = None,
             compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, link_target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link_target)
    return buffer.getvalue()


# --- the hub ------------------------------------------------------------------------------


def test_hub_download_pins_the_commit_checks_the_sha_and_reuses_the_cache(hub, hrm_home):
    hub.add_file("dataset", REPO, "train.csv", DATA)
    got = hub_download(REPO, "train.csv", quiet=True)
    assert got.path.read_bytes() == DATA and got.path.is_relative_to(hrm_home / "hub")
    assert (got.revision, got.size, got.sha256) == (commit_of(REPO), len(DATA), SHA)
    assert got.url == f"https://huggingface.co/datasets/{REPO}/resolve/{got.revision}/train.csv"
    assert len(hub.hits("/cdn/")) == 1
    hub_download(REPO, "train.csv", quiet=True)
    assert len(hub.hits("/cdn/")) == 1  # the hub cache answered


def test_hub_download_resumes_a_cut_connection(hub):
    hub.add_file("dataset", REPO, "train.csv", DATA, cut_after=3000, cuts=1)
    assert hub_download(REPO, "train.csv", quiet=True).path.read_bytes() == DATA
    assert len(hub.hits("/cdn/")) == 2


def test_a_file_unlike_the_hub_sha256_is_deleted(hub, hrm_home):
    hub.add_file("dataset", REPO, "train.csv", DATA, claimed_sha256="ab" * 32)
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        hub_download(REPO, "train.csv", quiet=True)
    assert "\n" not in str(info.value)
    assert not list((hrm_home / "hub").rglob("blobs/*"))


def test_pinned_size_and_sha256_are_checked(hub):
    hub.add_file("dataset", REPO, "train.csv", DATA)
    with pytest.raises(DownloadError, match="expected 5"):
        hub_download(REPO, "train.csv", size=5, quiet=True)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        hub_download(REPO, "train.csv", sha256="0" * 64, quiet=True)


def test_hub_404_is_one_line(hub):
    with pytest.raises(DownloadError) as info:
        hub_download(REPO, "missing.csv", quiet=True)
    message = str(info.value)
    assert "HTTP 404" in message and "missing.csv" in message and "\n" not in message


@pytest.mark.parametrize("variable", ["HRM_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_makes_no_request(hub, monkeypatch, variable):
    hub.add_file("dataset", REPO, "train.csv", DATA)
    monkeypatch.setenv(variable, "1")
    with pytest.raises(OfflineError, match=f"unset {variable}"):
        hub_download(REPO, "train.csv", quiet=True)
    assert hub.requests == []


def test_endpoint_variables(monkeypatch):
    monkeypatch.delenv("HRM_HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HRM_GITHUB_ENDPOINT", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/mirror/")
    assert hub_endpoint() == "http://127.0.0.1:9/mirror"
    monkeypatch.setenv("HRM_HF_ENDPOINT", "http://127.0.0.1:9/hf/")
    url = "https://huggingface.co/datasets/a/b/resolve/main/train.csv"
    assert resolve_url(url) == "http://127.0.0.1:9/hf/datasets/a/b/resolve/main/train.csv"
    assert resolve_url("https://github.com/a/b.zip") == "https://github.com/a/b.zip"
    assert resolve_url("https://huggingface.community/x") == "https://huggingface.community/x"


# --- archives -----------------------------------------------------------------------------


def test_fetch_archive_writes_a_checked_zip_and_nothing_else(hub, tmp_path):
    archive = make_zip({"repo/a.json": b"{}"})
    hub.add_hostile("/a.zip", Hostile("bytes", data=archive))
    dest = tmp_path / "out" / "a.zip"
    fetch_archive(hub.url("/a.zip"), dest, size=len(archive),
                  sha256=hashlib.sha256(archive).hexdigest(), quiet=True)
    assert dest.read_bytes() == archive
    assert leftovers(dest.parent) == ["a.zip"]
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_archive(hub.url("/a.zip"), tmp_path / "b.zip", sha256="0" * 64, quiet=True)
    assert leftovers(tmp_path) == ["out"]


def test_server_errors_are_retried_then_reported(hub, tmp_path):
    hub.add_hostile("/a.zip", Hostile("status", status=503))
    with pytest.raises(DownloadError, match=r"HTTP 503.*after 3 attempts"):
        fetch_archive(hub.url("/a.zip"), tmp_path / "a.zip", quiet=True)
    assert len(hub.hits("/a.zip")) == 3
    assert leftovers(tmp_path) == []


def test_the_stall_deadline_is_configurable(monkeypatch):
    monkeypatch.setenv("HRM_DOWNLOAD_STALL_S", "2.5")
    assert dl.stall_seconds() == 2.5
    monkeypatch.setenv("HRM_DOWNLOAD_STALL_S", "soon")
    assert dl.stall_seconds() == dl.STALL_S <= 55  # a 1-byte-every-5-s drip fails in a minute


def test_extract_zip_strips_single_top_folder(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(make_zip({"repo-main/README.md": b"hi",
                                  "repo-main/data/training/t1.json": b"{}"}))
    target = tmp_path / "out"
    target.mkdir()
    assert extract_zip(archive, target) == ["README.md", "data/training/t1.json"]
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
    archive = tmp_path / "bad.zip"
    archive.write_bytes(make_zip(members, symlinks))
    target = tmp_path / "cache" / "x"
    target.mkdir(parents=True)
    with pytest.raises(UnsafeArchiveError, match=reason):
        extract_zip(archive, target)
    assert leftovers(target) == []
    assert not (tmp_path / "evil.txt").exists()


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(make_zip({"repo/zeros.json": b"0" * (40 * 1024**2)},
                                 compression=zipfile.ZIP_DEFLATED))
    assert archive.stat().st_size < 100 * 1024
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        extract_zip(archive, target)
    assert leftovers(target) == []
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        extract_zip(archive, target, max_ratio=10**6, max_total=1024**2)


def test_not_a_zip_is_a_download_error(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"<html>not a zip</html>")
    with pytest.raises(DownloadError, match="not a valid zip"):
        extract_zip(archive, tmp_path)


def test_staging_names_carry_the_pid_and_only_dead_writers_are_cleaned(tmp_path, hrm_home):
    import os
    import subprocess
    import sys

    target = hrm_home / "datasets" / "x"
    target.parent.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
        live = target.with_name(f".x{cache.STAGING_MARK}{sleeper.pid}-aaaa")
        stale = target.with_name(f".x{cache.STAGING_MARK}{dead}-bbbb")
        live.mkdir()
        stale.mkdir()
        with cache.staging_dir(target) as staging:
            assert staging.name.startswith(f".x{cache.STAGING_MARK}{os.getpid()}-")
        assert live.exists() and not stale.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_staged_dir_replaces_target_only_on_success(tmp_path):
    from hrm.datasets.files import staged_dir

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


def test_a_damaged_copy_in_the_hub_cache_is_downloaded_again(hub):
    hub.add_file("dataset", REPO, "train.csv", DATA)
    first = hub_download(REPO, "train.csv", quiet=True)
    first.path.resolve().write_bytes(DATA[::-1])  # bit rot in the hub cache, same size
    again = hub_download(REPO, "train.csv", quiet=True)
    assert again.path.read_bytes() == DATA and again.sha256 == SHA
    assert len(hub.hits("/cdn/")) == 2
