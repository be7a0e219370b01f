"""Put APEL messages into the SSM outgoing queue, a python-dirq QueueSimple (apel-facts §4).

``directory`` is the queue itself: the ``path`` of sender.cfg's ``[messaging]`` section (APEL's
default ``/var/spool/apel/outgoing``, i.e. ``<dir_location>/outgoing`` of the unloader). dirq
lays it out as ``<8 hex: insertion minute>/<14 hex: seconds, microseconds, a digit per
process>``, writes each element as ``.tmp``, then hard-links it to its final name, so ``ssmsend``
never sees half a message. The element body is the plain UTF-8 text of the message, unsigned:
ssmsend signs it. Its element name ``<dir>/<file>`` becomes the message's ``empa-id``, which is
why `queue_messages` returns the names.

dirq itself does not fsync. A publisher records what it queued after this returns, so every
element file, its directory and the queue directory are fsynced first (``fsync=False`` skips it,
e.g. in tests). If queueing stops half way, the elements already added stay queued and will be
sent; sending one again later is harmless, because the APEL server replaces records on their key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from dirq.QueueSimple import QueueSimple

from batchacct.apel.messages import Message


def queue_messages(
    directory: Path, messages: Iterable[Message], *, fsync: bool = True
) -> list[str]:
    """Add each message to the queue at ``directory`` (created if missing); their element names."""
    directory.mkdir(parents=True, exist_ok=True)
    queue = QueueSimple(str(directory))
    names: list[str] = []
    synced_dirs: set[str] = set()
    for message in messages:
        name = str(queue.add(message.text.encode("utf-8")))
        names.append(name)
        if fsync:
            _fsync(directory / name)
            synced_dirs.add(name.split("/", 1)[0])
    if fsync:
        # Each element's directory once, after its last element: the links are what must last.
        for sub in sorted(synced_dirs):
            _fsync(directory / sub)
        _fsync(directory)
    return names


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
