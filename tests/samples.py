"""Helpers the parser tests share: the sample files' lines, and UTC times written briefly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def sample_lines(formats_dir: Path, name: str) -> list[str]:
    """The lines of one file of ``shared/formats`` (its copy in ``tests/fixtures/formats``)."""
    return (formats_dir / name).read_text(encoding="utf-8").splitlines()


def utc(text: str) -> datetime:
    """``2026-10-01T10:00:00`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
