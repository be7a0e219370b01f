"""Parser throughput on one core: PBS/Torque accounting and SGE accounting lines per second.

Run from the repository root, as a module (so ``benchmarks.results`` imports)::

    .venv/bin/python -m benchmarks.bench_parser_pbs_sge [--lines 300000] [--repeat 3]

It writes ``--lines`` synthetic lines per format into temporary files, modelled on the samples in
``shared/formats`` (``pbs.log``, ``sge.acct``, ``sge-univa-ms.acct``), then times for each format:

- ``parse_<fmt>``: read the file and parse every line the way a collector does
  (:func:`batchacct.parsers.parse_lines`: decode, parse, build the record or the rejection);
- ``read_split_<fmt>``: the baseline, read the same file and split each line on whitespace.

The PBS lines are four in five Torque 5 records (``pbs.log`` line 6: durations in hh:mm:ss or
seconds; exec_host single-core, ``h/0+h/1``, ``h/0-3`` or ``h/0*4``) and one in five PBS Pro
records (no owner, exec_vnode, ``h/0*4``); one line in a hundred is an ``S`` (start) record, which
is ignored. The SGE lines are two in three classic (seconds, 45 fields) and one in three Univa
(milliseconds, 52 fields), one in ten an array task. One line in 500 is broken (PBS: it ends before
it starts; SGE: truncated) and must be rejected; the benchmark checks the count, so it times
parsing, not a stream of errors.

Each figure is the best of ``--repeat`` runs, with the process pinned to one CPU, printed one per
line and merged into ``bench-results.json`` (see :mod:`benchmarks.results`).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from batchacct.parsers import ParserConfig, make_parser
from benchmarks.bench_parsers import best_rate, parse_files, pin_to_one_core, read_and_split
from benchmarks.results import record

TARGET = ">= 100000"
BAD_EVERY = 500  # one broken line in this many
START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())

_PBS_E = (
    "%s;E;%d.b0;user=%s group=%s jobname=cream_%d queue=%s ctime=%d qtime=%d etime=%d "
    "start=%d owner=%s@%s exec_host=%s Resource_List.file=15gb Resource_List.neednodes=%s "
    "Resource_List.nodect=%d Resource_List.nodes=%s Resource_List.pmem=2000mb "
    "Resource_List.vmem=16000mb Resource_List.walltime=48:00:00 session=%d "
    "total_execution_slots=%d unique_node_count=%d end=%d Exit_status=%d "
    "resources_used.cput=%s resources_used.energy_used=0 resources_used.mem=%dkb "
    "resources_used.vmem=%dkb resources_used.walltime=%s"
)
_PBS_PRO_E = (
    "%s;E;%d.pbs01;user=%s group=%s project=_pbs_project_default jobname=cream_%d queue=%s "
    "ctime=%d qtime=%d etime=%d start=%d exec_host=%s exec_vnode=(%s:ncpus=%d) "
    "Resource_List.ncpus=%d Resource_List.nodect=1 Resource_List.place=pack "
    "Resource_List.select=1:ncpus=%d session=%d end=%d Exit_status=%d "
    "resources_used.cpupercent=%d resources_used.cput=%s resources_used.mem=%dkb "
    "resources_used.ncpus=%d resources_used.vmem=%dkb resources_used.walltime=%s run_count=1"
)
_PBS_S = "%s;S;%d.b0;user=%s group=%s jobname=cream_%d queue=%s ctime=%d qtime=%d etime=%d start=%d"

_SGE = (
    "%s:%s:%s:%s:cream_%d:%d:sge:0:%d:%d:%d:0:%d:%s:%.6f:%.6f:%d.000000:0:0:0:0:%d:%d:0:0.000000:"
    "0:0:0:0:%d:%d:NONE:defaultdepartment:%s:%d:%d:%.6f:%.6f:%.6f:-u %s -q %s:0.000000:NONE:"
    "%d.000000:0:0"
)
_UNIVA_TAIL = ":NONE:NONE:%d:%d:%s:NONE:qsub /tmp/cream_%d"


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def pbs_lines(count: int, seed: int = 1) -> tuple[list[str], int]:
    """``count`` synthetic PBS accounting lines, and how many of them are broken."""
    rng = random.Random(seed)
    users = [(f"atlas{n:03d}", "atlas") for n in range(40)] + [
        (f"cms{n:03d}", "cms") for n in range(40)
    ]
    queues = ["atlas", "cms", "long", "short"]
    lines = []
    bad = 0
    for n in range(count):
        job = 1_000_000 + n
        user, group = rng.choice(users)
        queue = rng.choice(queues)
        submit = START + n * 7
        start = submit + rng.randrange(10, 3000)
        wall = rng.randrange(60, 200_000)
        end = start + wall
        when = datetime.fromtimestamp(end, UTC).strftime("%m/%d/%Y %H:%M:%S")
        if n % 100 == 99:
            lines.append(_PBS_S % (when, job, user, group, n, queue, submit, submit, submit, start))
            continue
        cores = rng.choice((1, 1, 1, 4, 8))
        host = f"node{rng.randrange(500):03d}"
        form = rng.randrange(3)
        cpu = rng.randrange(0, wall * cores)
        status = rng.choice((0, 0, 0, 1, 271))
        mem = rng.randrange(10_000, 8_000_000)
        vmem = rng.randrange(100_000, 16_000_000)
        if n % BAD_EVERY == BAD_EVERY // 2:
            end = start - 10  # ends before it starts
            bad += 1
        if n % 5 == 4:
            lines.append(
                _PBS_PRO_E
                % (
                    when,
                    job,
                    user,
                    group,
                    n,
                    queue,
                    submit,
                    submit,
                    submit,
                    start,
                    f"{host}/0*{cores}",
                    host,
                    cores,
                    cores,
                    cores,
                    rng.randrange(1, 65000),
                    end,
                    status,
                    rng.randrange(0, 100 * cores),
                    _clock(cpu),
                    mem,
                    cores,
                    vmem,
                    _clock(wall),
                )
            )
            continue
        if cores == 1:
            exec_host = f"{host}/{rng.randrange(8)}"
        elif form == 0:
            exec_host = "+".join(f"{host}/{core}" for core in range(cores))
        elif form == 1:
            exec_host = f"{host}/0-{cores - 1}"
        else:
            exec_host = f"{host}/0*{cores}"
        lines.append(
            _PBS_E
            % (
                when,
                job,
                user,
                group,
                n,
                queue,
                submit,
                submit,
                submit,
                start,
                user,
                "ce01.example.org",
                exec_host,
                f"1:ppn={cores}",
                1,
                f"1:ppn={cores}",
                rng.randrange(1, 65000),
                cores,
                1,
                end,
                status,
                str(cpu) if form == 2 else _clock(cpu),
                mem,
                vmem,
                str(wall) if form == 2 else _clock(wall),
            )
        )
    return lines, bad


def sge_lines(count: int, seed: int = 1) -> tuple[list[str], int]:
    """``count`` synthetic SGE accounting lines, and how many of them are broken."""
    rng = random.Random(seed)
    users = [(f"pilatl{n:02d}", "pilatl") for n in range(40)] + [
        (f"prdcms{n:02d}", "prdcms") for n in range(40)
    ]
    lines = ["# Version: 8.1.9"]
    bad = 0
    for n in range(count - 1):
        user, group = rng.choice(users)
        queue = rng.choice(("grid.q", "long.q", "lcg_analysis"))
        submit = START + n * 7
        start = submit + rng.randrange(10, 3000)
        wall = rng.randrange(60, 200_000)
        end = start + wall
        slots = rng.choice((1, 1, 1, 8))
        cpu = rng.uniform(0, wall * slots)
        univa = n % 3 == 0
        task = rng.randrange(1, 100) if n % 10 == 0 else 0
        scale = 1000 if univa else 1
        line = _SGE % (
            queue,
            f"node{rng.randrange(500):03d}.cluster",
            group,
            user,
            n,
            2_000_000 + n,
            submit * scale,
            start * scale,
            end * scale,
            rng.choice((0, 0, 0, 1, 137)),
            f"{wall}.{rng.randrange(1000):03d}" if univa else str(wall),
            cpu * 0.9,
            cpu * 0.1,
            rng.randrange(10_000, 4_000_000),
            rng.randrange(1000, 3_000_000),
            rng.randrange(0, 2000),
            rng.randrange(1000, 300_000),
            rng.randrange(0, 3000),
            "mpi" if slots > 1 else "NONE",
            slots,
            task,
            cpu,
            rng.uniform(0, 1e6),
            rng.uniform(0, 50),
            user,
            queue,
            rng.randrange(10**8, 10**10),
        )
        if univa:
            line += _UNIVA_TAIL % (
                rng.randrange(10**7, 10**10),
                rng.randrange(10**7, 10**10),
                "ce01.example.org",
                n,
            )
        if n % BAD_EVERY == BAD_EVERY - 1:
            line = line[: len(line) // 3]  # truncated: too few fields
            bad += 1
        lines.append(line)
    return lines, bad


def bench_format(
    source_format: str, generated: tuple[list[str], int], out_dir: Path, repeat: int
) -> None:
    lines, expected = generated
    path = out_dir / f"{source_format}.acct"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parser = make_parser(source_format, ParserConfig(site="BENCH", machine_name="batch.example"))
    # Warm up, and check that we time real parsing, not a stream of errors.
    parsed, rejected = parse_files(parser, [path])
    if rejected != expected:
        raise SystemExit(f"{source_format}: {rejected} rejections, expected {expected}")

    baseline = best_rate(lambda: read_and_split([path]), repeat)
    rate = best_rate(lambda: parse_files(parser, [path])[0], repeat)
    record(
        f"parse_{source_format}",
        rate,
        "lines/s",
        TARGET,
        f"{rate / baseline:.2f}x of read-and-split; {parsed} lines",
    )
    record(f"read_split_{source_format}", baseline, "lines/s", "none (baseline)")


def main(argv: Sequence[str] | None = None) -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    options.add_argument("--lines", type=int, default=300_000, help="lines per format")
    options.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    args = options.parse_args(argv)

    print(f"bench_parser_pbs_sge: {pin_to_one_core()}, best of {args.repeat}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-pbs-sge-") as scratch:
        out_dir = Path(scratch)
        bench_format("pbs", pbs_lines(args.lines), out_dir, args.repeat)
        bench_format("sge", sge_lines(args.lines), out_dir, args.repeat)


if __name__ == "__main__":
    main()
