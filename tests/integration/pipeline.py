"""Helpers to run the real services against a test's broker topics and database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from batchacct_collector_blah.__main__ import main as blah_main
from batchacct_collector_lsf.__main__ import main as lsf_main
from batchacct_joiner.__main__ import main as joiner_main

from .conftest import Env

SITE = "TEST-SITE"
BATCH_HOST = "lsf-master.test"
_LSF_TEMPLATE = (
    '"JOB_FINISH" "9.11" {end} {job_id} 386919 36175899 {slots} {submit} 0 0 {start} "{user}"'
    ' "grid" "" "" "" "ce01.test" "" "/dev/null" "/dev/null" "" "191/{submit}.{job_id}" 0'
    ' {slots} {hosts} 64 12.5 "cream_{job_id}" "/bin/true" {utime}.000000 {stime}.000000'
    ' 0 0 -1 0 0 1000 0 0 0 0 -1 0 0 0 0 0 -1 "" "{project}" 0 {slots} "" "" 0 2048 4096'
    ' "" "" "" "" 0 "" 0 "" -1 "/{user}" "" "" "" -1 "" "" 5136 "" {end} "" "" 0'
)


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def lsf_line(
    job_id: int,
    start: str,
    end: str,
    *,
    user: str = "atlas001",
    hosts: tuple[str, ...] = ("wn001",),
    utime: int = 100,
    stime: int = 10,
    project: str = "default",
) -> str:
    """One LSF 9.11 JOB_FINISH record with the given values (same layout as lsf.acct line 3)."""
    return _LSF_TEMPLATE.format(
        end=epoch(end),
        job_id=job_id,
        start=epoch(start),
        submit=epoch(start) - 60,
        user=user,
        slots=len(hosts),
        hosts=" ".join(f'"{h}"' for h in hosts),
        utime=utime,
        stime=stime,
        project=project,
    )


def blah_line(
    lrms_id: str,
    timestamp: str,
    *,
    dn: str = "/DC=test/CN=Atlas Pilot",
    fqan: str = "/atlas/Role=pilot/Capability=NULL",
    ce: str = "ce01.test:8443/cream-lsf-grid",
) -> str:
    ts = timestamp.replace("T", " ")
    return (
        f'"timestamp={ts}" "userDN={dn}" "userFQAN={fqan}" "ceID={ce}" '
        f'"jobID=CREAM{lrms_id}" "lrmsID={lrms_id}" "localUser=1001"'
    )


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def collect_lsf(*files: Path, site: str = SITE) -> None:
    lsf_main(
        ["--site", site, "--machine-name", BATCH_HOST, "--once", "--acct-file", *map(str, files)]
    )


def collect_blah(*files: Path, site: str = SITE) -> None:
    blah_main(["--site", site, "--once", "--acct-file", *map(str, files)])


def join(*extra: str) -> None:
    joiner_main(["--until-idle", "--idle-seconds", "1", *extra])


def job_records(env: Env) -> dict[str, dict[str, object]]:
    with env.connect() as conn:
        cur = conn.execute("SELECT * FROM job_records ORDER BY local_job_id")
        names = [d.name for d in cur.description or ()]
        return {row[1]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def service_process(env: Env, module: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start a service as its own process, as an administrator would."""
    environ = {**os.environ, **env.settings_env()}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args], env=environ, stdout=out, stderr=subprocess.STDOUT
        )
