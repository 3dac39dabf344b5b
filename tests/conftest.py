import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from threads import torch_threads

# CI runs the property tests derandomized, so a run is reproducible and a landing is not
# blocked by a new random example; locally they explore fresh examples each run.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

FIXTURES = Path(__file__).parent / "fixtures"
OFFICIAL = FIXTURES / "official-hrm"


@pytest.fixture
def official_datasets() -> Path:
    return OFFICIAL / "datasets"


@pytest.fixture
def hrm_home(tmp_path, monkeypatch) -> Path:
    """A fresh cache folder (HRM_HOME), the network allowed, and quick download retries."""
    from hrm.datasets import download

    monkeypatch.setenv("HRM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HRM_OFFLINE", raising=False)
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.01)
    return tmp_path / "home"


@pytest.fixture
def one_thread() -> Iterator[None]:
    # Tiny models run fastest on one thread, and a shared 2-core machine stalls OpenMP
    # barriers when another process holds a core.
    with torch_threads(1):
        yield


@pytest.fixture
def no_shipped_models(tmp_path, monkeypatch) -> None:
    """The model store of an install without shipped defaults (they exist for some tasks)."""
    from hrm.inference import store

    empty = tmp_path / "no-shipped-models"
    empty.mkdir()
    monkeypatch.setattr(store, "shipped_dir", lambda: empty)


@pytest.fixture
def tiny_sudoku_bundle(tmp_path) -> Path:
    """A bundle of an untrained tiny 9x9 Sudoku HRM (seed 0), as `hrm models import` takes."""
    import torch

    from hrm.datasets.tasks import task_metadata
    from hrm.model import HRM, HRMConfig, save_bundle

    torch.manual_seed(0)
    model = HRM(HRMConfig.from_preset("tiny", vocab_size=11, seq_len=81))
    return save_bundle(model, tmp_path / "tiny-sudoku", task=task_metadata("sudoku", 81, 11),
                       provenance={"source": "unit test"}, metrics={"exact_accuracy": 0.25})
