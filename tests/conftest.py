from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
OFFICIAL = FIXTURES / "official-hrm"


@pytest.fixture
def official_datasets() -> Path:
    return OFFICIAL / "datasets"
