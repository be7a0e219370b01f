"""Reading accounting files: compression detection, file identity, line batches from an offset."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
}
IDENTITY_BYTES = 65536


def compression_of(path: Path) -> str:
    with open(path, "rb") as f:
        return compression_of_bytes(f.read(6))


def compression_of_bytes(head: bytes) -> str:
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return "none"


def decompressed(content: bytes) -> bytes:
    """A whole small file's content, decompressed when it is gzip, bzip2 or xz."""
    kind = compression_of_bytes(content[:6])
    if kind == "gzip":
        return gzip.decompress(content)
    if kind == "bzip2":
        return bz2.decompress(content)
    if kind == "xz":
        return lzma.decompress(content)
    return content


def open_content(path: Path, compression: str) -> IO[bytes]:
    """The file's content as a binary stream (decompressed when needed)."""
    if compression == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if compression == "bzip2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    return open(path, "rb")


def first_line(path: Path, compression: str) -> bytes | None:
    """The file's first complete line (with its newline); None while it has none."""
    with open_content(path, compression) as f:
        first = f.readline(IDENTITY_BYTES)
    if not first.endswith(b"\n") and len(first) < IDENTITY_BYTES:
        return None
    return first


def line_identity(first: bytes) -> str:
    """A stable id for a file's content: the hash of its first complete line.

    Every accounting line names a job and a time, so the first line identifies the file through
    renames, rotation and compression, and it does not change as the file grows.
    """
    return hashlib.sha1(first, usedforsecurity=False).hexdigest()


def file_identity(path: Path, compression: str) -> str | None:
    """:func:`line_identity` of the file; None while it has no complete first line."""
    first = first_line(path, compression)
    return None if first is None else line_identity(first)


def skip_bytes(stream: IO[bytes], count: int, compression: str) -> int:
    """Move ``count`` bytes into the content; returns how many could be skipped."""
    if compression == "none":
        stream.seek(count)
        return stream.tell()
    skipped = 0
    while skipped < count:
        chunk = stream.read(min(1 << 20, count - skipped))
        if not chunk:
            break
        skipped += len(chunk)
    return skipped


def line_batches(
    stream: IO[bytes], max_lines: int, *, take_partial_last_line: bool
) -> Iterator[tuple[list[bytes], int]]:
    """Yield ``(lines, bytes consumed)`` batches of complete lines from the current position.

    A last line without its newline may still be being written; it is held back (not consumed)
    unless ``take_partial_last_line``.
    """
    while True:
        lines = stream.readlines(max_lines * 200)
        if not lines:
            return
        if len(lines) > max_lines:
            # readlines' hint is in bytes; keep batches bounded in lines too.
            for i in range(0, len(lines), max_lines):
                part = lines[i : i + max_lines]
                yield from _hold_back(
                    part, take_partial_last_line, last=i + max_lines >= len(lines)
                )
        else:
            yield from _hold_back(lines, take_partial_last_line, last=True)
        if not lines[-1].endswith(b"\n"):
            return


def _hold_back(
    lines: list[bytes], take_partial: bool, *, last: bool
) -> Iterator[tuple[list[bytes], int]]:
    if last and lines and not lines[-1].endswith(b"\n") and not take_partial:
        lines = lines[:-1]
    if lines:
        yield lines, sum(len(line) for line in lines)


def content_size(path: Path, compression: str) -> int | None:
    """Size of a plain file; None for compressed files (unknown without reading them)."""
    return path.stat().st_size if compression == "none" else None
