"""Reading accounting files: compression by content, identity through compression, batches."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path

import pytest

from batchacct.files import compression_of, file_identity, line_batches, open_content, skip_bytes

CONTENT = b"first line\nsecond line\nthird line\n"


@pytest.mark.parametrize(
    ("name", "pack", "expected"),
    [
        ("plain", lambda b: b, "none"),
        ("gzip", gzip.compress, "gzip"),
        ("bzip2", bz2.compress, "bzip2"),
        ("xz", lzma.compress, "xz"),
    ],
)
def test_compression_is_detected_by_content_and_identity_survives_it(
    tmp_path: Path, name: str, pack: object, expected: str
) -> None:
    path = tmp_path / f"acct.{name}.log"  # the name says nothing: the bytes decide
    path.write_bytes(pack(CONTENT))  # type: ignore[operator]
    assert compression_of(path) == expected
    plain = tmp_path / "plain"
    plain.write_bytes(CONTENT)
    assert file_identity(path, expected) == file_identity(plain, "none")
    with open_content(path, expected) as stream:
        assert skip_bytes(stream, len(b"first line\n"), expected) == len(b"first line\n")
        assert stream.read() == b"second line\nthird line\n"


def test_a_file_without_a_complete_first_line_has_no_identity(tmp_path: Path) -> None:
    path = tmp_path / "growing"
    path.write_bytes(b"still being writ")
    assert file_identity(path, "none") is None
    path.write_bytes(b"")
    assert file_identity(path, "none") is None


def test_batches_hold_back_a_partial_last_line_unless_told() -> None:
    data = b"a\nb\nc\npartial"
    held = list(line_batches(io.BytesIO(data), 2, take_partial_last_line=False))
    assert held == [([b"a\n", b"b\n"], 4), ([b"c\n"], 2)]
    taken = list(line_batches(io.BytesIO(data), 10, take_partial_last_line=True))
    assert taken == [([b"a\n", b"b\n", b"c\n", b"partial"], len(data))]
