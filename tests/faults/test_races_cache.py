"""Two real `hrm` processes writing the same cache entry at once: one whole result or one
clear error, never a mix; and a live process's staging folder is never swept away."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock
from hub_server import FakeHub

SUDOKU_REPO = "sapientinc/sudoku-extreme"
TRAIN = b"source,question,answer,rating\n" + b"t,1.3,123,0\n" * 20_000
TEST = b"source,question,answer,rating\nt,.2.,123,1\n"
WAITING = "waiting for another hrm process"


@pytest.fixture
def env(hrm_home) -> dict[str, str]:
    environment = {**os.environ, "HRM_HOME": str(hrm_home)}
    for variable in ("HRM_OFFLINE", "HF_HUB_OFFLINE"):
        environment.pop(variable, None)
    return environment


@pytest.fixture
def bundle(tiny_sudoku_bundle) -> Path:
    return tiny_sudoku_bundle


def hrm(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hrm_cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_stderr_files(paths: list[Path], text: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(p.exists() and text in p.read_text() for p in paths):
            return
        time.sleep(0.05)


def test_two_imports_of_one_name_give_one_model_and_one_error(bundle, hrm_home, env, tmp_path):
    target = hrm_home / "models" / "same"
    # Hold the entry's lock (where `hrm.datasets.cache.entry_lock` keeps it) so that both
    # imports are past their first check before either can write: the race is then
    # certain, not a matter of timing.
    logs = [tmp_path / f"err{i}.txt" for i in range(2)]
    (hrm_home / ".locks").mkdir(parents=True)
    with FileLock(str(hrm_home / ".locks" / "models--same.lock")):
        procs = []
        for log in logs:
            with open(log, "w") as err:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "hrm_cli", "models", "import", str(bundle),
                     "--name", "same"], env=env, text=True, stdout=subprocess.PIPE,
                    stderr=err))
        wait_for_stderr_files(logs, WAITING, seconds=20)
    codes = [p.wait(timeout=60) for p in procs]
    outs = [p.stdout.read() for p in procs]
    errs = [log.read_text() for log in logs]
    assert sorted(codes) == [0, 1], errs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert outs[winner] == f"{target}\n" and outs[loser] == ""
    assert "already in the cache" in errs[loser] and "Traceback" not in errs[loser]
    assert errs[loser].count("Error:") == 1
    assert sorted(p.name for p in target.iterdir()) == [
        ".complete.json", "config.json", "model.safetensors"]
    weights = (target / "model.safetensors").read_bytes()
    assert weights == (bundle / "model.safetensors").read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["same"]  # no staging left behind


def test_two_fetches_of_one_dataset_download_once_and_agree(hrm_home, env):
    with FakeHub() as hub:
        hub.add_file("dataset", SUDOKU_REPO, "train.csv", TRAIN, delay_s=1.0)
        hub.add_file("dataset", SUDOKU_REPO, "test.csv", TEST, lfs=False)
        env = {**env, "HRM_HF_ENDPOINT": hub.base_url}
        procs = [hrm("datasets", "fetch", "sudoku-extreme", env=env) for _ in range(2)]
        results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in procs]
        cdn_gets = len(hub.hits("/cdn/"))
    folder = hrm_home / "datasets" / "sudoku-extreme"
    assert [code for code, _, _ in results] == [0, 0], results
    assert [out for _, out, _ in results] == [f"{folder}\n"] * 2
    assert cdn_gets == 1  # the second process waited, then used the first one's copy
    assert hashlib.sha256((folder / "train.csv").read_bytes()).digest() == \
        hashlib.sha256(TRAIN).digest()
    assert (folder / "test.csv").read_bytes() == TEST
    assert sorted(p.name for p in folder.parent.iterdir()) == ["sudoku-extreme"]


def test_a_live_writers_staging_folder_survives_another_import(bundle, hrm_home, env):
    models = hrm_home / "models"
    models.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
        live = models / f".same.staging-{sleeper.pid}-0a0a0a0a"
        stale = models / f".same.staging-{dead}-0b0b0b0b"
        for folder in (live, stale):
            folder.mkdir()
            (folder / "config.json").write_text("{}")
        proc = hrm("models", "import", str(bundle), "--name", "same", "--force", env=env)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        assert live.exists(), "a live process's staging folder was removed"
        assert not stale.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_two_pulls_of_one_checkpoint_download_once_and_agree(hrm_home, env):
    from conftest import OFFICIAL

    repo = "sapientinc/HRM-checkpoint-sudoku-extreme"
    with FakeHub() as hub:
        for name in ("checkpoint", "all_config.yaml"):
            hub.add_file("model", repo, name, (OFFICIAL / "model" / name).read_bytes(),
                         lfs=name == "checkpoint", delay_s=1.0 if name == "checkpoint" else 0)
        env = {**env, "HRM_HF_ENDPOINT": hub.base_url}
        procs = [hrm("models", "pull", "hrm-sudoku-extreme", env=env) for _ in range(2)]
        results = [(p.wait(timeout=90), p.stdout.read(), p.stderr.read()) for p in procs]
        cdn_gets = len(hub.hits("/cdn/"))
    folder = hrm_home / "models" / "sapientinc" / "HRM-checkpoint-sudoku-extreme"
    assert [code for code, _, _ in results] == [0, 0], results
    assert [out for _, out, _ in results] == [f"{folder}\n"] * 2
    assert cdn_gets == 1
    assert sorted(p.name for p in folder.iterdir()) == [
        ".complete.json", "config.json", "model.safetensors"]
