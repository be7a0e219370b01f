from __future__ import annotations

from pathlib import Path

import pytest

# The sample log lines and APEL's values for them (a copy of shared/formats, so a clone of the
# repository tests itself; test_fixture_copy_is_current checks the copy when shared/ is beside it).
FORMATS_DIR = Path(__file__).resolve().parent / "fixtures" / "formats"
SHARED_FORMATS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "formats"


@pytest.fixture(scope="session")
def formats_dir() -> Path:
    if not (FORMATS_DIR / "EXPECTED.md").is_file():
        pytest.fail(f"sample formats not found in {FORMATS_DIR}")
    return FORMATS_DIR
