"""The model store: shipped defaults, the cache, name resolution, pull and import."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from conftest import OFFICIAL
from hub_server import FakeHub

from hrm.datasets.errors import DownloadError, HRMDataError, OfflineError
from hrm.datasets.tasks import IncompatibleModelError, task_metadata
from hrm.inference import store
from hrm.inference.store import ModelNotFoundError, ModelStoreError
from hrm.model import HRM, CheckpointError, HRMConfig, save_bundle

RELEASE = OFFICIAL / "model"
SUDOKU_REPO = "sapientinc/HRM-checkpoint-sudoku-extreme"


pytestmark = pytest.mark.usefixtures("hrm_home")


@pytest.fixture
def server(monkeypatch):
    with FakeHub() as srv:
        monkeypatch.setenv("HRM_HF_ENDPOINT", srv.base_url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield srv


def serve_release(server: FakeHub, repo: str = SUDOKU_REPO, **checkpoint_behaviour) -> None:
    for name in ("checkpoint", "all_config.yaml"):
        server.add_file("model", repo, name, (RELEASE / name).read_bytes(),
                        lfs=name == "checkpoint",  # as on the hub: the YAML is a git file
                        **(checkpoint_behaviour if name == "checkpoint" else {}))


def make_bundle(folder: Path, task: str = "sudoku", vocab: int = 11, seq_len: int = 81,
                named: bool = True) -> Path:
    torch.manual_seed(0)
    model = HRM(HRMConfig.from_preset("tiny", vocab_size=vocab, seq_len=seq_len))
    meta = task_metadata(task, seq_len, vocab) if named else {}
    return save_bundle(model, folder, task=meta, provenance={"source": "unit test"},
                       metrics={"exact_accuracy": 0.0})


# --------------------------------------------------------------------------- shipped


def test_every_shipped_model_says_how_it_was_trained():
    # Never random weights: anything shipped must say how it was trained and how it scores.
    for entry in store.shipped_models():
        assert entry.provenance and entry.metrics, entry.path
    assert store.shipped_dir().name == "defaults"


def test_no_model_message_names_the_ways_to_get_one(no_shipped_models):
    with pytest.raises(ModelNotFoundError) as info:
        store.resolve(None, "sudoku")
    message = str(info.value)
    assert "\n" not in message
    for hint in ("hrm models pull hrm-sudoku-extreme", "hrm models import", "hrm train sudoku"):
        assert hint in message
    with pytest.raises(ModelNotFoundError, match="no shipped default"):
        store.find_model("default:sudoku")


# --------------------------------------------------------------------------- import


def test_import_a_bundle_then_list_find_resolve_and_remove(tmp_path, hrm_home,
                                                          no_shipped_models):
    source = make_bundle(tmp_path / "my-model")
    entry = store.import_model(source)
    assert entry.name == "my-model" and entry.kind == "cached" and entry.task == "sudoku"
    assert entry.path == hrm_home / "models" / "my-model"
    assert sorted(p.name for p in entry.path.iterdir()) == [
        ".complete.json", "config.json", "model.safetensors"]
    assert [e.name for e in store.list_models()] == ["my-model"]
    assert store.find_model("my-model").path == entry.path
    assert store.resolve(None, "sudoku").name == "my-model"  # the only one for the task
    with pytest.raises(ModelNotFoundError):
        store.resolve(None, "maze")

    model, info = store.load(entry)
    assert info.task["name"] == "sudoku" and not model.training
    assert entry.parameters() == sum(t.numel() for t in model.state_dict().values())

    with pytest.raises(ModelStoreError, match="already in the cache"):
        store.import_model(source)
    store.import_model(source, force=True)
    store.import_model(source, name="second")
    with pytest.raises(ModelNotFoundError, match="several"):
        store.resolve(None, "sudoku")

    assert store.remove("second") == hrm_home / "models" / "second"
    assert not (hrm_home / "models" / "second").exists()
    with pytest.raises(ModelNotFoundError):
        store.remove("second")


def test_import_checks_the_task(tmp_path):
    source = make_bundle(tmp_path / "b")
    with pytest.raises(ModelStoreError, match="made for sudoku"):
        store.import_model(source, task="maze")
    unnamed = make_bundle(tmp_path / "u", vocab=13, seq_len=49, named=False)
    with pytest.raises(ModelStoreError, match="--task"):
        store.import_model(unnamed)
    with pytest.raises(IncompatibleModelError):
        store.import_model(unnamed, task="sudoku")


@pytest.mark.parametrize("name", ["../evil", "a/b/c", ".hidden", "x y", "/abs"])
def test_names_cannot_escape_the_cache(tmp_path, name):
    source = make_bundle(tmp_path / "b")
    with pytest.raises(HRMDataError, match="name"):
        store.import_model(source, name=name)
    assert not (tmp_path / "evil").exists()


def test_import_an_original_release_checkpoint(tmp_path):
    entry = store.import_model(RELEASE, name="release")
    assert entry.task == "sudoku"
    model, info = store.load(entry)
    reference = store.import_release(RELEASE)
    assert model.config == reference.config
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert info.provenance["training"]["data_path"] == "data/sudoku-extreme-1k-aug-1000"
    file_entry = store.import_model(RELEASE / "checkpoint", name="from-file")
    assert file_entry.task == "sudoku"


def test_a_path_is_used_in_place(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    assert store.find_model(str(bundle)).kind == "bundle"
    assert store.find_model(str(bundle / "config.json")).path == bundle
    release = store.find_model(str(RELEASE))
    assert release.kind == "release"
    model, info = store.load(release, task="sudoku")
    assert model.config.seq_len == 81 and info.task["name"] == "sudoku"
    with pytest.raises(ModelNotFoundError, match="neither a bundle"):
        store.find_model(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="no model named"):
        store.find_model("nothing-here")


def test_a_training_run_means_its_final_model(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"format": "hrm-train-run"}))
    with pytest.raises(ModelNotFoundError, match="a training run without its final model"):
        store.find_model(str(run))
    make_bundle(run / "model")
    entry = store.find_model(str(run))
    assert entry.kind == "bundle" and entry.path == run / "model"


def test_a_cached_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    store.import_model(make_bundle(tmp_path / "b"), name="mine")
    (tmp_path / "cwd" / "mine").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cwd")
    assert store.find_model("mine").kind == "cached"
    with pytest.raises(ModelNotFoundError, match="neither a bundle"):
        store.find_model("./mine")


def test_arc_puzzle_identifiers_travel_with_the_bundle(tmp_path):
    source = make_bundle(tmp_path / "arc-model", "arc", 12, 900)
    (source / "identifiers.json").write_text(json.dumps(["<blank>", "0d3d703e", "a85d4709"]))
    entry = store.import_model(source)
    assert (entry.path / "identifiers.json").is_file()
    _, info = store.load(entry)
    assert store.puzzle_identifiers(info) == {"<blank>": 0, "0d3d703e": 1, "a85d4709": 2}
    _, plain = store.load(store.import_model(make_bundle(tmp_path / "s"), name="s"))
    assert store.puzzle_identifiers(plain) is None


def test_remove_refuses_shipped_models():
    with pytest.raises(ModelStoreError, match="shipped"):
        store.remove("default:sudoku")


# --------------------------------------------------------------------------- pull


def test_pull_downloads_converts_and_caches(server, hrm_home):
    serve_release(server)
    entry = store.pull("hrm-sudoku-extreme", quiet=True)
    folder = hrm_home / "models" / "sapientinc" / "HRM-checkpoint-sudoku-extreme"
    assert entry.name == SUDOKU_REPO and entry.path == folder and entry.task == "sudoku"
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    assert not list((hrm_home / "hub").rglob("blobs/*"))  # the raw checkpoint is gone
    config = json.loads((folder / "config.json").read_text())
    assert config["task"] == {"name": "sudoku", "seq_len": 81, "vocab_size": 11}
    assert config["provenance"]["repo"] == SUDOKU_REPO
    assert config["provenance"]["url"].startswith("https://huggingface.co/")
    assert len(config["provenance"]["sha256"]) == 64
    assert store.find_model("hrm-sudoku-extreme").path == folder  # alias
    assert store.find_model(SUDOKU_REPO).path == folder
    model, _ = store.load(entry)
    assert model.config == store.import_release(RELEASE).config

    count = len(server.requests)
    store.pull(SUDOKU_REPO, quiet=True)  # cached: no request
    assert len(server.requests) == count
    store.pull(SUDOKU_REPO, quiet=True, force=True)
    assert len(server.hits("/cdn/")) == 2  # both times the checkpoint

    store.remove("hrm-sudoku-extreme")
    assert not (hrm_home / "models" / "sapientinc").exists()  # the empty owner folder went too


def test_pull_survives_a_cut_download(server, hrm_home):
    serve_release(server, cut_after=100_000, cuts=1)
    entry = store.pull(SUDOKU_REPO, quiet=True)
    assert len(server.hits("/cdn/")) == 2
    assert entry.manifest["downloaded"][0]["sha256"] == hashlib.sha256(
        (RELEASE / "checkpoint").read_bytes()).hexdigest()


def test_pull_offline(server, monkeypatch, no_shipped_models):
    serve_release(server)
    monkeypatch.setenv("HRM_OFFLINE", "1")
    with pytest.raises(OfflineError, match="HRM_OFFLINE"):
        store.pull("hrm-sudoku-extreme", quiet=True)
    assert server.requests == []
    monkeypatch.delenv("HRM_OFFLINE")
    store.pull("hrm-sudoku-extreme", quiet=True)
    monkeypatch.setenv("HRM_OFFLINE", "1")
    assert store.pull("hrm-sudoku-extreme", quiet=True).task == "sudoku"  # from the cache
    assert store.resolve(None, "sudoku").name == SUDOKU_REPO


def test_pull_other_repositories_needs_a_task(server):
    serve_release(server, "someone/my-hrm")
    with pytest.raises(ModelStoreError, match="--task"):
        store.pull("someone/my-hrm", quiet=True)
    assert store.pull("someone/my-hrm", task="sudoku", quiet=True).name == "someone/my-hrm"
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        store.pull("no-such-model", quiet=True)


def test_pull_a_missing_file_and_a_broken_checkpoint(server, hrm_home):
    with pytest.raises(DownloadError, match="404"):
        store.pull("hrm-maze-30x30-hard", quiet=True)
    repo = "sapientinc/HRM-checkpoint-ARC-2"
    server.add_file("model", repo, "checkpoint", b"not a checkpoint")
    server.add_file("model", repo, "all_config.yaml", (RELEASE / "all_config.yaml").read_bytes())
    with pytest.raises(CheckpointError, match="checkpoint"):
        store.pull("hrm-arc-2", quiet=True)
    assert store.cached_models() == []
    assert not list((hrm_home / "hub").rglob("blobs/*"))  # the next attempt downloads again
    assert not list((hrm_home / "models").rglob("*staging*"))
