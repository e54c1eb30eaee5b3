from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real public puzzle data beside the project (../shared/data); absent in a user's clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            "../shared/data is absent (it sits beside the project only on the team's machines and CI)"
        )
    return SHARED_DATA
