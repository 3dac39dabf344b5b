import os
from pathlib import Path

import pytest
from hypothesis import settings

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
