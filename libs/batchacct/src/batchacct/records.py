"""The records that flow through batchacct.

Every time is a timezone-aware UTC datetime, every duration whole seconds, every memory KiB.
Records are plain slotted dataclasses: parsers build millions of them, so they stay cheap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class BatchEvent:
    """What the batch system recorded about one finished job (one accounting line)."""

    site: str
    machine_name: str
    local_job_id: str
    start_time: datetime
    end_time: datetime
    wall_duration: int
    cpu_duration: int
    source_format: str
    source_file: str
    source_line: int
    local_user_id: str | None = None
    local_user_group: str | None = None
    queue: str | None = None
    account: str | None = None
    submit_time: datetime | None = None
    processors: int | None = None
    node_count: int | None = None
    exec_hosts: list[str] = field(default_factory=list)
    memory_real: int | None = None
    memory_virtual: int | None = None
    exit_status: int | None = None
    from_host: str | None = None
    infrastructure_description: str | None = None
    # A per-job speed factor the source gives (LSF host CPU factor, HTCondor scale, SGE
    # cputmult); kept for normalisation, never applied to the raw durations.
    host_factor: float | None = None
    # Benchmark values of the execution machine, when the source records them
    # (HTCondor MachineAttrApelSpecs0: {"HEPscore23": 12.5}); kept for normalisation.
    machine_specs: dict[str, float] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "batch"

    @property
    def key(self) -> str:
        """The join key, also the Kafka message key: ``<site>/<local job id>``."""
        return f"{self.site}/{self.local_job_id}"


@dataclass(slots=True)
class CeEvent:
    """What the compute element recorded about one grid job (identity of the submitter)."""

    site: str
    lrms_id: str
    timestamp: datetime
    global_user_name: str | None
    fqan: str | None
    vo: str | None
    vo_group: str | None
    vo_role: str | None
    submit_host: str | None
    grid_job_id: str | None
    source_format: str
    source_file: str
    source_line: int
    fqans: list[str] = field(default_factory=list)
    local_user: str | None = None

    @property
    def kind(self) -> str:
        return "ce"

    @property
    def key(self) -> str:
        return f"{self.site}/{self.lrms_id}"


Record = BatchEvent | CeEvent


@dataclass(slots=True)
class JobRecord:
    """One authoritative record per job: a batch event, joined with its CE event when there is one."""

    site: str
    machine_name: str
    local_job_id: str
    start_time: datetime
    end_time: datetime
    wall_duration: int
    cpu_duration: int
    infrastructure_type: str  # "grid" | "local"
    source_format: str
    source_file: str
    source_line: int
    submit_host: str | None = None
    queue: str | None = None
    local_user_id: str | None = None
    local_user_group: str | None = None
    global_user_name: str | None = None
    fqan: str | None = None
    fqans: list[str] = field(default_factory=list)
    vo: str | None = None
    vo_group: str | None = None
    vo_role: str | None = None
    processors: int | None = None
    node_count: int | None = None
    infrastructure_description: str | None = None
    memory_real: int | None = None
    memory_virtual: int | None = None
    service_level_type: str | None = None
    service_level: float | None = None
    normalised_wall_duration: int | None = None
    normalised_cpu_duration: int | None = None
    exec_hosts: list[str] = field(default_factory=list)
    account: str | None = None
    exit_status: int | None = None
    submit_time: datetime | None = None
    from_host: str | None = None
    grid_job_id: str | None = None
    host_factor: float | None = None
    machine_specs: dict[str, float] = field(default_factory=dict)


def as_dict(record: Any) -> dict[str, Any]:
    """A record's fields as a plain dict (shallow; lists and dicts are copied)."""
    cls = type(record)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return {name: _copy(getattr(record, name)) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _copy(value: Any) -> Any:
    if type(value) is list:
        return list(value)
    if type(value) is dict:
        return dict(value)
    return value
