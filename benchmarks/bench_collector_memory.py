"""A collector's peak memory on a one-million-line file: it streams, so it must stay flat.

Run: ``python -m benchmarks.bench_collector_memory`` (``make bench``).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from batchacct import stack
from batchacct.demo import generate_site
from benchmarks.results import record


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def main() -> None:
    with stack.temporary("batchacct-bench-mem-") as info:
        home = info.home
        site = generate_site(home / "data", jobs=1_000_000, seed=3, local_fraction=1.0)
        lines = sum(1 for _ in open(site.lsf_files[0], "rb"))  # noqa: SIM115
        env = {**os.environ, **info.env(), "BATCHACCT_HOME": str(home)}
        proc = subprocess.Popen(
            site.collector_command("lsf"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Poll the child's own high-water mark (VmHWM, reset at exec). ru_maxrss would not do:
        # Linux carries the forking parent's RSS (here, the generated data) across exec.
        peak_kib = 0
        while proc.poll() is None:
            peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
            time.sleep(0.05)
        if proc.returncode != 0:
            raise SystemExit(f"collector failed with exit code {proc.returncode}")
        record(
            "collector_lsf_peak_rss",
            peak_kib / 1024,
            "MB",
            "< 200 on a 1,000,000-line file",
            f"{lines:,} lines",
        )


if __name__ == "__main__":
    main()
