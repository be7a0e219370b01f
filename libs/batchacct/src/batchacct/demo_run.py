"""``batchacct demo``: a synthetic site through the real services, with progress and a summary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from batchacct import benchmarks, db, stack
from batchacct.settings import batchacct_home

DEMO_SITE = "DEMO-SITE"
# The demo site's benchmarks, as a site would write them (README: Benchmarks and normalisation):
# the cluster measured on a building-7 node (LSF CPU factor 12.8), and the newest nodes
# (building 9) measured on their own.
DEMO_BENCHMARKS = """\
site: {site}
benchmarks:
  - scope: machine
    name: {machine_name}
    type: HEPscore23
    value: 11.0
    host_factor_reference: 12.8
  - scope: exec_host
    name: "b9g*"
    type: HEPscore23
    value: 16.5
"""


def _clear_previous_demo(dsn: str, site: str) -> None:
    with db.connect(dsn) as conn:
        for table in ("job_records", "batch_events", "ce_events", "quarantine", "benchmarks"):
            conn.execute(f"DELETE FROM {table} WHERE site = %s", (site,))
        conn.execute("DELETE FROM collector_files WHERE collector LIKE %s", (f"%:{site}:%",))


def _scalar(dsn: str, sql: str, *params: object) -> int:
    with db.connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
    return int(row[0] or 0) if row else 0


def _service(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=out)


def run_demo(jobs: int = 20000, seed: int = 1) -> int:
    from batchacct.demo import generate_site

    console = Console()
    home = batchacct_home()
    with console.status("starting the embedded broker and PostgreSQL…"):
        info = stack.up(home)
    os.environ.update(info.env())
    dsn = info.database_url
    console.print(f"[green]stack up[/] in {home} (Kafka {info.bootstrap_servers})")

    out = home / "demo"
    shutil.rmtree(out, ignore_errors=True)
    with console.status(f"generating LSF and CREAM BLAH logs for {jobs:,} jobs…"):
        site = generate_site(out, jobs=jobs, seed=seed, site=DEMO_SITE)
        _clear_previous_demo(dsn, site.site)
    lsf_bytes = sum(p.stat().st_size for p in site.lsf_files)
    blah_bytes = sum(p.stat().st_size for p in site.blah_files)
    console.print(
        f"generated {len(site.lsf_files)} LSF and {len(site.blah_files)} BLAH file(s) in {out}: "
        f"{site.grid_jobs:,} grid jobs, {site.local_jobs:,} local jobs, {site.malformed} malformed lines"
    )

    benchmarks_file = out / "benchmarks.yaml"
    benchmarks_file.write_text(
        DEMO_BENCHMARKS.format(site=site.site, machine_name=site.machine_name)
    )
    with db.connect(dsn) as conn:
        stored = benchmarks.store_benchmarks(
            conn,
            benchmarks.load_file(benchmarks_file),
            source=f"yaml:{benchmarks_file.name}",
            now=datetime.now(UTC),
        )
    console.print(f"loaded {len(stored)} benchmarks from {benchmarks_file}")

    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=console) as progress:
        lsf_task = progress.add_task("collector-lsf", total=lsf_bytes, detail="")
        blah_task = progress.add_task("collector-blah", total=blah_bytes, detail="")
        join_task = progress.add_task("joiner", total=site.jobs, detail="")
        procs = [
            _service(site.collector_command("lsf"), log=logs / "collector-lsf.log"),
            _service(site.collector_command("blah"), log=logs / "collector-blah.log"),
        ]
        joiner = _service(
            [sys.executable, "-m", "batchacct_joiner", "--until-idle", "--idle-seconds", "3"],
            log=logs / "joiner.log",
        )
        offset_sql = 'SELECT sum("offset") FROM collector_files WHERE collector LIKE %s'
        while True:
            lsf_done = _scalar(dsn, offset_sql, f"lsf:{site.site}:%")
            blah_done = _scalar(dsn, offset_sql, f"blah:{site.site}:%")
            records = _scalar(dsn, "SELECT count(*) FROM job_records WHERE site = %s", site.site)
            progress.update(lsf_task, completed=lsf_done, detail=f"{lsf_done / 1e6:.1f} MB")
            progress.update(blah_task, completed=blah_done, detail=f"{blah_done / 1e6:.1f} MB")
            progress.update(join_task, completed=records, detail=f"{records:,} job records")
            if all(p.poll() is not None for p in [*procs, joiner]):
                break
            time.sleep(0.5)
    failed = [str(p.args[2]) for p in [*procs, joiner] if p.returncode != 0]  # type: ignore[index]
    if failed:
        console.print(f"[red]failed:[/] {', '.join(failed)}; see the logs in {logs}")
        return 1
    elapsed = time.monotonic() - started
    _print_summary(console, dsn, site.site, elapsed)
    outgoing = home / "outgoing"
    with (logs / "publisher.log").open("wb") as publisher_log:
        publisher = subprocess.run(
            [sys.executable, "-m", "batchacct_publisher", "--once", "--outgoing", str(outgoing)],
            stdout=publisher_log,
            stderr=publisher_log,
            check=False,
        )
    if publisher.returncode != 0:
        console.print(f"[red]publisher failed[/]; see {logs / 'publisher.log'}")
        return 1
    _print_publications(console, dsn, outgoing)
    console.print(
        "\nThe API: [bold]batchacct-api --port 8080[/] (reads the stack's settings), then\n"
        '  curl -H "Authorization: Bearer $BATCHACCT_API_TOKEN" '
        "'http://127.0.0.1:8080/api/v1/summaries?group_by=vo,month'\n"
        '  with BATCHACCT_API_TOKEN from [bold]eval "$(batchacct stack env)"[/]. '
        "Stop everything with [bold]batchacct stack down[/].\n"
        "What was published: [bold]batchacct publications[/]; jobs without a benchmark:"
        " [bold]batchacct benchmarks missing[/]."
    )
    return 0


def _print_summary(console: Console, dsn: str, site: str, elapsed: float) -> None:
    with db.connect(dsn) as conn:
        rows = conn.execute(
            """
            SELECT COALESCE(vo, '(none)'), to_char(end_time AT TIME ZONE 'UTC', 'YYYY-MM'),
                   infrastructure_type, count(*), sum(wall_duration) / 3600.0,
                   sum(cpu_duration) / 3600.0,
                   sum(wall_duration * GREATEST(COALESCE(processors, 1), 1)) / 3600.0,
                   sum(normalised_cpu_duration) / 3600.0
            FROM job_records WHERE site = %s
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """,
            (site,),
        ).fetchall()
        quarantined = conn.execute(
            "SELECT reason, count(*) FROM quarantine WHERE site = %s GROUP BY 1 ORDER BY 1", (site,)
        ).fetchall()
    table = Table(title=f"{site}: job records by VO and month (end time, UTC)")
    for name in ("VO", "month", "type"):
        table.add_column(name)
    for name in ("jobs", "wall hours", "CPU hours", "CPU eff.", "HS06 CPU h"):
        table.add_column(name, justify="right")
    # CPU efficiency = CPU time / (wall time x processors): a multi-core job's CPU time counts
    # every core.
    totals = [0, 0.0, 0.0, 0.0]
    for vo, month, kind, jobs, wall, cpu, core_wall, normalised in rows:
        eff = f"{100 * cpu / core_wall:.0f} %" if core_wall else "-"
        hs06 = "-" if normalised is None else f"{normalised:,.0f}"
        table.add_row(vo, month, kind, f"{jobs:,}", f"{wall:,.1f}", f"{cpu:,.1f}", eff, hs06)
        totals[0] += jobs
        totals[1] += float(wall)
        totals[2] += float(cpu)
        totals[3] += float(normalised or 0)
    table.add_row(
        "TOTAL",
        "",
        "",
        f"{totals[0]:,}",
        f"{totals[1]:,.1f}",
        f"{totals[2]:,.1f}",
        "",
        f"{totals[3]:,.0f}",
        style="bold",
    )
    console.print(table)
    total_q = sum(n for _, n in quarantined)
    detail = ", ".join(f"{reason}: {n}" for reason, n in quarantined)
    console.print(f"quarantined lines: {total_q}" + (f" ({detail})" if detail else ""))
    console.print(f"collected and joined in {elapsed:.1f} s")


def _print_publications(console: Console, dsn: str, outgoing: Path) -> None:
    with db.connect(dsn) as conn:
        rows = conn.execute(
            """
            SELECT kind, status, count(*), sum(records), string_agg(DISTINCT m, ', ')
            FROM publications, unnest(months) AS m
            WHERE run_id = (SELECT run_id FROM publications ORDER BY id DESC LIMIT 1)
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        ).fetchall()
        missing = conn.execute("SELECT count(*) FROM job_records WHERE service_level IS NULL")
        without = (missing.fetchone() or (0,))[0]
    for kind, status, messages, records, months in rows:
        console.print(
            f"publisher: {messages} {kind} message(s), {records:,} records for {months}: {status}"
        )
    console.print(f"APEL messages queued for ssmsend in {outgoing}")
    console.print(f"jobs without a benchmark (not published): {without:,}")
