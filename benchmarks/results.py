"""Print a benchmark figure and record it in ``bench-results.json`` at the repository root.

Every benchmark script reports through :func:`record`, so the figures share one format::

    parse_lsf: 123456 lines/s (target >= 100000; APEL ~12600; 0.41x of read-and-split)

and one file, a JSON object ``name -> {"value", "unit", "target"[, "note"]}``. The file is read,
updated key by key and replaced atomically, so scripts add their own figures without removing
the others'. Run benchmarks one at a time (they measure speed, so they should anyway).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = REPO_ROOT / "bench-results.json"


def format_value(value: float) -> str:
    """Whole numbers for large figures, three significant digits for small ones."""
    if value == int(value) or abs(value) >= 100:
        return str(round(value))
    return f"{value:.3g}"


def record(
    name: str,
    value: float,
    unit: str,
    target: str,
    note: str | None = None,
    *,
    path: Path | None = None,
) -> None:
    """Print ``<name>: <value> <unit> (target <target>[; <note>])`` and save it in the results file.

    ``target`` is the goal as text (``">= 100000"``, ``"< 5 s"``, or ``"none"`` for a baseline);
    ``note`` adds context printed after it (a reference figure, a ratio).
    """
    details = f"target {target}" + (f"; {note}" if note else "")
    print(f"{name}: {format_value(value)} {unit} ({details})", flush=True)
    entry: dict[str, Any] = {"value": value, "unit": unit, "target": target}
    if note:
        entry["note"] = note
    _merge(path or RESULTS_FILE, name, entry)


def _merge(path: Path, name: str, entry: dict[str, Any]) -> None:
    """Update one key of the results file (benchmarks run one at a time; the write is atomic)."""
    results: dict[str, Any] = {}
    if path.exists():
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); fix or remove it") from None
        if not isinstance(results, dict):
            raise ValueError(f"{path} does not hold a JSON object; fix or remove it")
    results[name] = entry
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(results, out, indent=2, sort_keys=True)
            out.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
