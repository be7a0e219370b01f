"""HTCondor's per-job history directory: one finished job's ClassAd per file.

Each file is read whole, once. Batches of files go through the same path as lines do: produce,
wait for the broker, then one transaction that stores the registry rows and quarantine rows.
Only then are files moved: a file that cannot be used (no GlobalJobId, a broken ad, empty) goes
to ``quarantine/`` beside them, and, with ``delete_processed``, a used file is deleted. Files are
left in place by default; the registry says they are done, so they are not read again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import lzma
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from batchacct import metrics
from batchacct.collector import QUARANTINE_DIR, FileCollector, PassStats, store_rejections
from batchacct.errors import Reason, Rejection
from batchacct.files import decompressed
from batchacct.parsers import is_file_aware, is_grouped, parse_grouped, parse_line, parse_lines
from batchacct.records import Record

log = logging.getLogger(__name__)

FILES_PER_BATCH = 2000


@dataclass
class _HistoryFile:
    path: Path
    st: os.stat_result
    file_id: str
    lines: int
    context: str | None
    results: list[Record | tuple[Record, ...] | Rejection | None] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def quarantined(self) -> bool:
        return bool(self.rejections)


class HistoryDirCollector(FileCollector):
    def __init__(
        self,
        *args: Any,
        delete_processed: bool = False,
        move_files: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.delete_processed = delete_processed
        self.move_files = move_files  # a replay reads the directory and changes nothing in it

    def candidate_files(self) -> list[Path]:
        directory = self.config.directory
        if directory is None or not directory.is_dir():
            return []
        settled_before = time.time() - self.config.settle_seconds
        paths = []
        for entry in os.scandir(directory):
            if (
                entry.name != QUARANTINE_DIR
                and entry.is_file()
                and fnmatch.fnmatch(entry.name, self.config.pattern)
                and entry.stat().st_mtime <= settled_before
            ):
                paths.append(Path(entry.path))
        return sorted(paths)

    def run_once(self) -> PassStats:
        total = PassStats()
        candidates = self.candidate_files()
        known = self._registered([str(p) for p in candidates])
        todo = []
        for path in candidates:
            size_and_state = known.get(str(path))
            if size_and_state is None or size_and_state[0] != _size(path):
                todo.append(path)
            elif self.delete_processed and self.move_files and size_and_state[1] == "done":
                # Read before --delete-processed was set: its records are acknowledged.
                path.unlink(missing_ok=True)
        for start in range(0, len(todo), FILES_PER_BATCH):
            total.add(self._collect_batch(todo[start : start + FILES_PER_BATCH]))
        metrics.CHECKPOINT_LAG.labels(self.config.source_format).set(0)
        self.publish_registry_counts()
        return total

    def _registered(self, paths: list[str]) -> dict[str, tuple[int, str]]:
        """Path -> (size, state) of the listed files the registry already holds."""
        if not self.use_checkpoints or not paths:
            return {}
        rows = self.conn.execute(
            "SELECT path, size, state FROM collector_files WHERE collector = %s AND path = ANY(%s)",
            (self.config.collector_id, paths),
        ).fetchall()
        return {path: (size, state) for path, size, state in rows}

    def _read(self, path: Path) -> _HistoryFile | None:
        try:
            packed = path.read_bytes()
            st = path.stat()
        except FileNotFoundError:
            return None  # removed between listing and reading
        try:
            content = decompressed(packed)
        except (OSError, EOFError, lzma.LZMAError):
            content = b""  # a broken archive: quarantined as an unusable file
        lines = content.splitlines()
        file_id = hashlib.sha1(content, usedforsecurity=False).hexdigest()
        context = None
        if is_file_aware(self.parser) and lines:
            context = lines[0].decode("utf-8", "surrogateescape")
            self.parser.begin_file(context)
        item = _HistoryFile(path, st, file_id, len(lines), context)
        if not content.strip():
            empty = Rejection(
                self.config.source_format,
                self.config.site,
                str(path),
                1,
                Reason.MALFORMED.value,
                "empty history file" if not packed.strip() else "unreadable compressed file",
                "",
            )
            item.results = [empty]
        elif is_grouped(self.parser) and _one_entry(content):
            # The usual per-job file, one ad and nothing else: no need to look for separators.
            item.results = [parse_line(self.parser, content.rstrip(b"\r\n"), str(path), 1)]
        elif is_grouped(self.parser):
            results, _ = parse_grouped(self.parser, lines, str(path), 1, final=True)
            item.results = [result for _, result in results]
        else:
            item.results = [result for _, result in parse_lines(self.parser, lines, str(path))]
        if any(isinstance(r, Rejection) for r in item.results):
            if self.move_files:
                # The rejection names the file where it will be: in quarantine/.
                moved = str(self._quarantine_path(path))
                item.results = [
                    replace(r, file=moved) if isinstance(r, Rejection) else r for r in item.results
                ]
            item.rejections = [r for r in item.results if isinstance(r, Rejection)]
        return item

    def _collect_batch(self, paths: list[Path]) -> PassStats:
        items = [item for item in map(self._read, paths) if item is not None]
        stats, _ = self.emit(r for item in items for r in item.results)
        stats.files_read = len(items)
        stats.lines = sum(item.lines for item in items)
        metrics.LINES_READ.labels(self.config.source_format).inc(stats.lines)
        with self.conn.transaction():
            for item in items:
                if item.rejections:
                    store_rejections(
                        self.conn, item.rejections, self.config.machine_name, item.context
                    )
            if self.use_checkpoints:
                self._register(items)
        if self.move_files:
            for item in items:
                self._move_or_delete(item)
        metrics.LAST_CHECKPOINT.labels(self.config.source_format).set_to_current_time()
        if items:
            log.info(
                "history files read",
                extra={
                    "files": len(items),
                    "records": stats.records,
                    "quarantined": sum(item.quarantined for item in items),
                },
            )
        return stats

    @staticmethod
    def _quarantine_path(path: Path) -> Path:
        return path.parent / QUARANTINE_DIR / path.name

    def _register(self, items: list[_HistoryFile]) -> None:
        rows = []
        for item in items:
            records = sum(
                len(r) if isinstance(r, tuple) else 1
                for r in item.results
                if r is not None and not isinstance(r, Rejection)
            )
            first = item.rejections[0] if item.rejections else None
            path = self._quarantine_path(item.path) if first else item.path
            rows.append(
                (
                    self.config.collector_id,
                    item.file_id,
                    str(path),
                    item.st.st_ino,
                    item.st.st_dev,
                    item.st.st_size,
                    item.st.st_size,
                    item.lines,
                    records,
                    len(item.rejections),
                    sum(r is None for r in item.results),
                    "quarantined" if first else "done",
                    self.config.source_format,
                    self.config.site,
                    f"{first.reason}: {first.detail}" if first else None,
                )
            )
        with self.conn.cursor() as cur:
            cur.executemany(
                """
                INSERT INTO collector_files (collector, file_id, path, inode, device, "offset",
                    size, lines, records, rejected, ignored, state, source_format, site, detail)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (collector, file_id) DO UPDATE SET
                    path = excluded.path, inode = excluded.inode, device = excluded.device,
                    "offset" = excluded."offset", size = excluded.size, lines = excluded.lines,
                    records = excluded.records, rejected = excluded.rejected,
                    ignored = excluded.ignored, state = excluded.state,
                    detail = excluded.detail, last_seen = now()
                """,
                rows,
            )

    def _move_or_delete(self, item: _HistoryFile) -> None:
        try:
            if item.quarantined:
                target = self._quarantine_path(item.path)
                target.parent.mkdir(exist_ok=True)
                item.path.rename(target)
                first = item.rejections[0]
                metrics.FILES_QUARANTINED.labels(self.config.source_format, first.reason).inc()
                log.warning(
                    "history file quarantined",
                    extra={
                        "path": str(item.path),
                        "reason": first.reason,
                        "detail": first.detail,
                    },
                )
            elif self.delete_processed:
                item.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            log.error(
                "cannot move or delete a history file",
                extra={"path": str(item.path), "error": err.strerror},
            )


def _one_entry(content: bytes) -> bool:
    """No blank or banner line inside: the whole file is one entry."""
    body = content.strip()
    return (
        b"\n\n" not in body and b"\n\r\n" not in body and b"\n*" not in body and b"\n--" not in body
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1
