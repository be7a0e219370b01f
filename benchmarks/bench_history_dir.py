"""HTCondor per-job history files through the whole collector, per second.

Run: ``python -m benchmarks.bench_history_dir [--files 20000]`` (``make bench``). It starts its
own embedded stack, writes ``--files`` realistic HTCondor-CE history files (one ad each, about
80 lines) into a directory, then times one pass of ``HistoryDirCollector``: list, read each file
from disk, parse, produce both halves to the broker and wait for its acknowledgement, and
register every file in PostgreSQL. A second pass over the same directory (nothing new) is timed
too: what a collector in follow mode pays per interval for files it keeps.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from batchacct import db, stack
from batchacct.collector import CollectorConfig
from batchacct.history_dir import HistoryDirCollector
from batchacct.kafka import TrackedProducer
from batchacct.parsers import ParserConfig, make_parser
from batchacct.settings import CommonSettings
from benchmarks.bench_parser_condor import write_history_dir
from benchmarks.results import record


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=20_000)
    args = p.parse_args()
    with stack.temporary("batchacct-bench-") as info, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "history"
        directory.mkdir()
        write_history_dir(directory, args.files)
        settings = CommonSettings(
            kafka_bootstrap_servers=info.bootstrap_servers,
            database_url=info.database_url,  # type: ignore[arg-type]
        )
        config = CollectorConfig(
            "condor", "BENCH-SITE", "ce01.example.org", directory=directory, settle_seconds=0
        )
        parser = make_parser("condor", ParserConfig("BENCH-SITE", "ce01.example.org"))
        with db.connect(info.database_url, autocommit=True) as conn:
            collector = HistoryDirCollector(
                settings, config, parser, TrackedProducer(settings.kafka_client_config()), conn
            )
            started = time.perf_counter()
            stats = collector.run(threading.Event(), once=True)
            elapsed = time.perf_counter() - started
            started = time.perf_counter()
            again = collector.run_once()
            idle = time.perf_counter() - started
            del collector  # its producer disconnects before the broker stops
    assert stats.files_read == args.files and again.files_read == 0
    record(
        "history_dir_collector",
        args.files / elapsed,
        "files/s",
        ">= 5000",
        f"{args.files} files read, parsed, produced ({stats.records} records) and registered;"
        f" a pass with nothing new takes {idle:.2f} s",
    )


if __name__ == "__main__":
    main()
