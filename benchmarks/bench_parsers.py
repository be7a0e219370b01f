"""Parser throughput on one core: LSF ``lsb.acct`` and CREAM BLAH lines per second.

Run from the repository root, as a module (so ``benchmarks.results`` imports)::

    .venv/bin/python -m benchmarks.bench_parsers [--jobs 300000] [--repeat 3]

It generates a synthetic site with :func:`batchacct.demo.generate_site` (about 300k jobs: some
300k LSF lines and 285k BLAH lines), then times for each format:

- ``parse_<fmt>``: read the file and parse every line the way a collector does
  (:func:`batchacct.parsers.parse_lines`: decode, parse, build the record or the rejection);
- ``read_split_<fmt>``: the baseline, read the same file and split each line on whitespace.

Each figure is the best of ``--repeat`` runs, with the process pinned to one CPU. The figures are
printed one per line and merged into ``bench-results.json`` (see :mod:`benchmarks.results`); the
generator's own speed is recorded as ``demo_generate``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from batchacct.demo import DemoSite, generate_site
from batchacct.errors import Rejection
from batchacct.parsers import LineParser, ParserConfig, make_parser, parse_lines
from benchmarks.results import record

# Issue targets: LSF >= 100,000 lines/s, BLAH >= 200,000 lines/s on one core.
PARSE_TARGETS = {"lsf": ">= 100000", "blah": ">= 200000"}
APEL_LSF = "APEL ~12600"  # APEL 2.5.0's LSF parser on this machine, lines/s
END = datetime(2025, 3, 15, tzinfo=UTC)


def pin_to_one_core() -> str:
    """Run on one CPU (the lowest this process may use); returns a description."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def parse_files(parser: LineParser, paths: Sequence[Path]) -> tuple[int, int]:
    """Parse every line of ``paths``; returns (lines, rejections)."""
    lines = rejected = 0
    for path in paths:
        with path.open("rb") as raw:
            for _, result in parse_lines(parser, raw, str(path)):
                lines += 1
                if isinstance(result, Rejection):
                    rejected += 1
    return lines, rejected


def read_and_split(paths: Sequence[Path]) -> int:
    """The baseline: read the lines as text and split each on whitespace."""
    lines = 0
    for path in paths:
        with path.open(encoding="utf-8") as text:
            for line in text:
                line.split()
                lines += 1
    return lines


def best_rate(work: Callable[[], int], repeat: int) -> float:
    """Lines per second of the fastest of ``repeat`` runs of ``work`` (which returns lines)."""
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        lines = work()
        best = max(best, lines / (time.perf_counter() - started))
    return best


def bench_format(site: DemoSite, source_format: str, repeat: int) -> None:
    paths = site.lsf_files if source_format == "lsf" else site.blah_files
    expected_rejections = site.lsf_malformed if source_format == "lsf" else site.blah_malformed
    parser = make_parser(
        source_format, ParserConfig(site=site.site, machine_name=site.machine_name)
    )
    # Warm up (regexes, caches), and check that we time real parsing, not a stream of errors.
    lines, rejected = parse_files(parser, paths)
    if rejected != expected_rejections:
        raise SystemExit(f"{source_format}: {rejected} rejections, expected {expected_rejections}")

    def parse() -> int:
        return parse_files(parser, paths)[0]

    baseline = best_rate(lambda: read_and_split(paths), repeat)
    rate = best_rate(parse, repeat)
    ratio = f"{rate / baseline:.2f}x of read-and-split"
    note = f"{APEL_LSF}; {ratio}" if source_format == "lsf" else ratio
    record(
        f"parse_{source_format}",
        rate,
        "lines/s",
        PARSE_TARGETS[source_format],
        f"{note}; {lines} lines",
    )
    record(f"read_split_{source_format}", baseline, "lines/s", "none (baseline)")


def main(argv: Sequence[str] | None = None) -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    options.add_argument("--jobs", type=int, default=300_000, help="jobs in the synthetic site")
    options.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    options.add_argument("--data-dir", type=Path, help="keep the generated files here")
    args = options.parse_args(argv)

    print(f"bench_parsers: {pin_to_one_core()}, best of {args.repeat}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-parsers-") as scratch:
        out_dir = args.data_dir or Path(scratch)
        started = time.perf_counter()
        site = generate_site(out_dir, jobs=args.jobs, seed=1, end=END, local_fraction=0.05)
        seconds = time.perf_counter() - started
        record(
            "demo_generate",
            site.jobs / seconds,
            "jobs/s",
            ">= 20000 (1M jobs well under a minute)",
            f"{site.jobs} jobs, {site.lsf_lines} LSF + {site.blah_lines} BLAH lines",
        )
        bench_format(site, "lsf", args.repeat)
        bench_format(site, "blah", args.repeat)


if __name__ == "__main__":
    main()
