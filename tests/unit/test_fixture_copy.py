from __future__ import annotations

import filecmp

from tests.conftest import FORMATS_DIR, SHARED_FORMATS_DIR


def test_fixture_copy_is_current() -> None:
    """tests/fixtures/formats is a copy of shared/formats; when shared/ is beside the clone
    (as in CI), the two must not drift."""
    if not SHARED_FORMATS_DIR.is_dir():
        return  # a clone on its own: the copy is all there is
    names = sorted(p.name for p in SHARED_FORMATS_DIR.iterdir())
    _match, mismatch, errors = filecmp.cmpfiles(
        SHARED_FORMATS_DIR, FORMATS_DIR, names, shallow=False
    )
    assert (mismatch, errors) == ([], [])
