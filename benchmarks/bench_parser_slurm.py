"""SLURM parser throughput on one core: ``sacct --parsable2`` lines per second.

Run from the repository root, as a module (so ``benchmarks.results`` imports)::

    .venv/bin/python -m benchmarks.bench_parser_slurm [--lines 300000] [--repeat 3]

It writes synthetic, realistic sacct output to a temporary directory, then times
:func:`batchacct.parsers.parse_lines` over it (decode, parse, build the record), as a collector
does. Figures, each the best of ``--repeat`` runs with the process pinned to one CPU:

- ``parse_slurm``: APEL's fixed columns, no header, job rows only (``sacct -X -n``), times in UTC;
- ``parse_slurm_header``: a header with reordered and extra columns (TotalCPU in ``d-hh:mm:ss`` /
  ``mm:ss.fff``, Submit, Account, ExitCode), times in Europe/Zurich;
- ``parse_slurm_sum``: like the header file, but each job followed by its ``.batch`` and
  ``.extern`` steps, folded into one record per job (``slurm_steps = "sum"``); lines/s counts
  every row.

A few percent of the jobs are still pending or running (ignored lines), as in a real sacct run.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from batchacct.errors import Rejection
from batchacct.parsers import LineParser, ParserConfig, make_parser, parse_lines
from benchmarks.bench_parsers import pin_to_one_core
from benchmarks.results import record

TARGET = ">= 100000"
HEADER = (
    "JobID|State|End|Start|Submit|User|Group|Account|Partition|Elapsed|TotalCPU|CPUTimeRAW|"
    "NCPUS|NNodes|NodeList|MaxRSS|MaxVMSize|ExitCode|ReqMem|QOS|JobName"
)
PARTITIONS = ("grid", "long", "short", "gpu")
STATES = ("COMPLETED",) * 40 + ("FAILED", "TIMEOUT", "CANCELLED by 51234", "OUT_OF_MEMORY")


def clock(seconds: int) -> str:
    """sacct's Elapsed: ``[d-]hh:mm:ss``."""
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def total_cpu(seconds: int, millis: int) -> str:
    """sacct's TotalCPU: ``mm:ss.fff`` under an hour, else ``[d-]hh:mm:ss``."""
    if seconds < 3600:
        return f"{seconds // 60:02d}:{seconds % 60:02d}.{millis:03d}"
    return clock(seconds)


def memory(rng: random.Random) -> str:
    kib = rng.randint(2_000, 8_000_000)
    if rng.random() < 0.7:
        return f"{kib}K"
    return f"{kib / 1024:.2f}M" if kib < 1024**2 else f"{kib / 1024**2:.2f}G"


def write_sacct(path: Path, lines: int, *, header: bool, steps: bool, seed: int = 1) -> int:
    """Write about ``lines`` sacct rows; returns how many were written."""
    rng = random.Random(seed)
    fmt = "%Y-%m-%dT%H:%M:%S"
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    written = 0
    job_id = 4_000_000
    with path.open("w", encoding="utf-8") as out:
        if header:
            out.write(HEADER + "\n")
            written += 1
        while written < lines:
            job_id += 1
            moment += timedelta(seconds=rng.randint(0, 20))
            cores = rng.choice((1, 1, 1, 8, 8, 16))
            nodes = 1 if cores < 16 or rng.random() < 0.5 else 4
            first_node = rng.randint(1, 400)
            node_list = (
                f"wn{first_node:03d}"
                if nodes == 1
                else f"wn[{first_node:03d}-{first_node + 3:03d}]"
            )
            wall = rng.randint(30, 3 * 86400)
            cpu = int(wall * cores * rng.uniform(0.3, 0.98))
            end = moment + timedelta(seconds=wall)
            user = f"user{rng.randint(1, 300):03d}"
            group = f"vo{rng.randint(1, 12)}"
            partition = rng.choice(PARTITIONS)
            state = rng.choice(STATES)
            start_text, end_text = moment.strftime(fmt), end.strftime(fmt)
            if rng.random() < 0.03:
                state, end_text = "RUNNING", "Unknown"
            rss, vms = memory(rng), memory(rng)
            if not header:
                out.write(
                    f"{job_id}|job{job_id}|{user}|{group}|{start_text}|{end_text}|{clock(wall)}|"
                    f"{wall * cores}|{partition}|{cores}|{nodes}|{node_list}|{rss}|{vms}|{state}\n"
                )
                written += 1
                continue
            submit = (moment - timedelta(seconds=rng.randint(5, 7200))).strftime(fmt)
            exit_code = "0:0" if state == "COMPLETED" else rng.choice(("1:0", "0:9", "0:15"))
            out.write(
                f"{job_id}|{state}|{end_text}|{start_text}|{submit}|{user}|{group}|{group}-prod|"
                f"{partition}|{clock(wall)}|{total_cpu(cpu, rng.randint(0, 999))}|{wall * cores}|"
                f"{cores}|{nodes}|{node_list}|||{exit_code}|{2000 * cores}M|normal|job{job_id}\n"
            )
            written += 1
            if steps:
                out.write(
                    f"{job_id}.batch|{state}|{end_text}|{start_text}|{start_text}|||{group}-prod||"
                    f"{clock(wall)}|{total_cpu(cpu, 17)}|{wall * cores}|{cores}|1|"
                    f"wn{first_node:03d}|{rss}|{vms}|{exit_code}|||batch\n"
                    f"{job_id}.extern|COMPLETED|{end_text}|{start_text}|{start_text}|||"
                    f"{group}-prod||{clock(wall)}|00:00.002|{wall * cores}|{cores}|{nodes}|"
                    f"{node_list}|1024K|4272K|0:0|||extern\n"
                )
                written += 2
    return written


def parse_file(parser: LineParser, path: Path) -> tuple[int, int, int]:
    """Parse every line of ``path``; returns (entries, records, rejections)."""
    entries = records = rejected = 0
    with path.open("rb") as raw:
        for _, result in parse_lines(parser, raw, str(path)):
            entries += 1
            if isinstance(result, Rejection):
                rejected += 1
            elif result is not None:
                records += 1
    return entries, records, rejected


def best_rate(work: Callable[[], int], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        lines = work()
        best = max(best, lines / (time.perf_counter() - started))
    return best


def bench(name: str, path: Path, config: ParserConfig, repeat: int, target: str) -> None:
    with path.open("rb") as raw:
        lines = sum(1 for _ in raw)
    _, records, rejected = parse_file(make_parser("slurm", config), path)
    if rejected:
        raise SystemExit(f"{name}: {rejected} rejections in synthetic data")

    def work() -> int:
        # A fresh parser per run: each file is read from its start.
        parse_file(make_parser("slurm", config), path)
        return lines

    rate = best_rate(work, repeat)
    record(name, rate, "lines/s", target, f"{lines} lines, {records} records")


def main(argv: Sequence[str] | None = None) -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    options.add_argument("--lines", type=int, default=300_000, help="sacct rows per file")
    options.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    args = options.parse_args(argv)

    print(f"bench_parser_slurm: {pin_to_one_core()}, best of {args.repeat}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-slurm-") as scratch:
        fixed = Path(scratch) / "slurm_acc.fixed"
        headed = Path(scratch) / "slurm_acc.header"
        with_steps = Path(scratch) / "slurm_acc.steps"
        write_sacct(fixed, args.lines, header=False, steps=False)
        write_sacct(headed, args.lines, header=True, steps=False)
        write_sacct(with_steps, args.lines, header=True, steps=True)
        site = ParserConfig(site="BENCH-SITE", machine_name="slurm.bench")
        zurich = ParserConfig(
            site="BENCH-SITE", machine_name="slurm.bench", timezone=ZoneInfo("Europe/Zurich")
        )
        bench("parse_slurm", fixed, site, args.repeat, TARGET)
        bench("parse_slurm_header", headed, zurich, args.repeat, TARGET)
        sum_config = ParserConfig(
            site="BENCH-SITE",
            machine_name="slurm.bench",
            timezone=ZoneInfo("Europe/Zurich"),
            slurm_steps="sum",
        )
        bench("parse_slurm_sum", with_steps, sum_config, args.repeat, "none (rows/s, 3 per job)")


if __name__ == "__main__":
    main()
