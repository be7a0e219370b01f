from __future__ import annotations

from pathlib import Path

from batchacct.settings import CommonSettings


class JoinerSettings(CommonSettings):
    group_id: str = "batchacct-joiner"
    # The join window around the CE timestamp, APEL's defaults.
    join_before_days: float = 1.0
    join_after_days: float = 28.0
    # YAML mapping of local group (or account) to VO, for local jobs.
    vo_map_file: Path | None = None
    batch_size: int = 5000
    session_timeout_ms: int = 6000
