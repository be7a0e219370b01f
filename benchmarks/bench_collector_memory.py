"""A collector's peak memory on a one-million-line file: it streams, so it must stay flat.

Run: ``python -m benchmarks.bench_collector_memory`` (``make bench``).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from batchacct import stack
from batchacct.demo import generate_site
from benchmarks.results import record


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="batchacct-bench-mem-"))
    try:
        info = stack.up(home)
        site = generate_site(home / "data", jobs=1_000_000, seed=3, local_fraction=1.0)
        lines = sum(1 for _ in open(site.lsf_files[0], "rb"))  # noqa: SIM115
        env = {**os.environ, **info.env(), "BATCHACCT_HOME": str(home)}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "batchacct_collector_lsf",
                "--site",
                site.site,
                "--machine-name",
                site.machine_name,
                "--once",
                "--acct-file",
                *map(str, site.lsf_files),
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        record(
            "collector_lsf_peak_rss",
            peak_kib / 1024,
            "MB",
            "< 200 on a 1,000,000-line file",
            f"{lines:,} lines",
        )
    finally:
        stack.down(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
