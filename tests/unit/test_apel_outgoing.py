"""Messages queued in a dirq QueueSimple directory are read back the way ssmsend reads them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from dirq.QueueSimple import QueueSimple

from batchacct.apel.messages import job_messages, summary_messages, sync_messages
from batchacct.apel.outgoing import queue_messages
from batchacct.apel.reader import read_message
from tests.unit.test_apel_messages import JOB, SUMMARY, SYNC, sync_rows

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
ELEMENT = re.compile(r"[0-9a-f]{8}/[0-9a-f]{14}")


def test_ssmsend_reads_what_we_queue(tmp_path: Path) -> None:
    outgoing = tmp_path / "apel" / "outgoing"  # created, parents too
    messages = [
        *job_messages([JOB, {**JOB, "local_job_id": "2"}], max_records=1),
        *summary_messages([SUMMARY]),
        *sync_messages(sync_rows(30), max_records=10),
    ]
    names = queue_messages(outgoing, messages)
    assert len(names) == len(messages) == 6
    assert all(ELEMENT.fullmatch(name) for name in names)
    assert len(set(names)) == len(names)
    assert not list(outgoing.rglob("*.tmp"))

    # ssmsend's loop: iterate, lock (skip what is locked), get, send, remove; then purge.
    queue = QueueSimple(str(outgoing))
    assert queue.count() == len(messages)
    received: dict[str, bytes] = {}
    for name in queue:
        if not queue.lock(name):
            continue
        received[name] = queue.get(name)
        queue.remove(name)
    queue.purge()
    assert queue.count() == 0

    assert sorted(received) == sorted(names)
    by_name = dict(zip(names, messages, strict=True))
    for name, body in received.items():
        assert body == by_name[name].text.encode("utf-8")
        parsed = read_message(body.decode("utf-8"), now=NOW)
        assert (parsed.kind, len(parsed.records)) == (by_name[name].kind, by_name[name].records)
    assert sum(len(read_message(b.decode(), now=NOW).records) for b in received.values()) == 33


def test_browsing_leaves_messages_queued(tmp_path: Path) -> None:
    names = queue_messages(tmp_path, sync_messages([SYNC]), fsync=False)
    queue = QueueSimple(str(tmp_path))
    for name in queue:
        assert queue.lock(name)
        assert not queue.lock(name)  # a second sender skips it
        queue.unlock(name)
    assert queue.count() == 1
    assert [name for name in QueueSimple(str(tmp_path))] == names


def test_nothing_to_queue(tmp_path: Path) -> None:
    assert queue_messages(tmp_path / "q", []) == []
    assert QueueSimple(str(tmp_path / "q")).count() == 0


def test_non_ascii_text_is_stored_as_utf8(tmp_path: Path) -> None:
    row = {**JOB, "global_user_name": "/C=DE/O=GermanGrid/CN=Jürgen Müller"}
    [message] = job_messages([row])
    [name] = queue_messages(tmp_path, [message])
    assert (tmp_path / name).read_bytes() == message.text.encode("utf-8")
    assert len((tmp_path / name).read_bytes()) == message.size
