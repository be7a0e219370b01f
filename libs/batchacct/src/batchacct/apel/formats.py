"""The APEL text message formats: headers, and each record type's fields in message order.

Shared by the writer (`messages`) and the reader (`reader`), so the two cannot disagree on a
field's name, order, type or whether it is mandatory. Field lists and mandatory sets follow
apel-facts §2.1 (JobRecord, SummaryRecord, NormalisedSummaryRecord, SyncRecord) and the header
strings §2.2. Every field maps to our snake_case column of the same meaning; the normalised
summary's ``Infrastructure`` maps to ``infrastructure_type``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    STR = "str"
    INT = "int"
    FLOAT = "float"
    # Integer epoch seconds (UTC) in the message; an aware datetime in a row.
    TIME = "time"
    # v0.4 dict form ``{HEPSPEC: 10.0}``: benchmark type and value in one field.
    BENCHMARK_DICT = "benchmark-dict"
    # v0.4 normalised summary: ``{HEPSPEC: 697840}``, type and normalised seconds.
    DURATION_DICT = "duration-dict"


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    column: str
    kind: Kind
    mandatory: bool = False


@dataclass(frozen=True, slots=True)
class Format:
    kind: str  # "job" | "summary" | "normalised-summary" | "sync"
    header: str
    version: str
    fields: tuple[Field, ...]
    # Keys APEL accepts in a message and drops (§2.1: SubmitHostType, UpdateTime).
    ignored: frozenset[str] = frozenset()

    @property
    def dict_form(self) -> bool:
        return any(f.kind in (Kind.BENCHMARK_DICT, Kind.DURATION_DICT) for f in self.fields)


JOB_PREFIX = "APEL-individual-job-message"
SUMMARY_PREFIX = "APEL-summary-job-message"
NORMALISED_PREFIX = "APEL-normalised-summary-message"
SYNC_PREFIX = "APEL-sync-message"

# The benchmark types the server accepts, compared case-insensitively (§2.1), in the order the
# v0.4 loader prefers them when a dict names several (§2.2).
BENCHMARK_PREFERENCE = ("hepscore23", "hepspec", "si2k")
# What APEL's server stores for a job sent without a benchmark (§2.1).
NO_BENCHMARK = ("custom", 1.0)

_S, _I, _F, _T = Kind.STR, Kind.INT, Kind.FLOAT, Kind.TIME


def _fields(*spec: tuple[str, str, Kind] | tuple[str, str, Kind, bool]) -> tuple[Field, ...]:
    return tuple(Field(*item) for item in spec)


_JOB_HEAD = (
    ("Site", "site", _S, True),
    ("SubmitHost", "submit_host", _S),
    ("MachineName", "machine_name", _S),
    ("Queue", "queue", _S),
    ("LocalJobId", "local_job_id", _S, True),
    ("LocalUserId", "local_user_id", _S),
    ("GlobalUserName", "global_user_name", _S),
    ("FQAN", "fqan", _S),
    ("VO", "vo", _S),
    ("VOGroup", "vo_group", _S),
    ("VORole", "vo_role", _S),
    ("WallDuration", "wall_duration", _I, True),
    ("CpuDuration", "cpu_duration", _I, True),
    ("Processors", "processors", _I),
    ("NodeCount", "node_count", _I),
    ("StartTime", "start_time", _T, True),
    ("EndTime", "end_time", _T, True),
    ("InfrastructureDescription", "infrastructure_description", _S),
    ("InfrastructureType", "infrastructure_type", _S),
    ("MemoryReal", "memory_real", _I),
    ("MemoryVirtual", "memory_virtual", _I),
)
_JOB_IGNORED = frozenset({"SubmitHostType", "UpdateTime"})

JOB_V03 = Format(
    kind="job",
    header=f"{JOB_PREFIX}: v0.3",
    version="v0.3",
    fields=_fields(
        *_JOB_HEAD,
        ("ServiceLevelType", "service_level_type", _S),
        ("ServiceLevel", "service_level", _F),
    ),
    ignored=_JOB_IGNORED,
)
JOB_V04 = Format(
    kind="job",
    header=f"{JOB_PREFIX}: v0.4",
    version="v0.4",
    fields=_fields(*_JOB_HEAD, ("ServiceLevel", "service_level", Kind.BENCHMARK_DICT)),
    ignored=_JOB_IGNORED,
)

_SUMMARY_HEAD = (
    ("Site", "site", _S, True),
    ("Month", "month", _I, True),
    ("Year", "year", _I, True),
    ("GlobalUserName", "global_user_name", _S),
    ("VO", "vo", _S),
    ("VOGroup", "vo_group", _S),
    ("VORole", "vo_role", _S),
    ("SubmitHost", "submit_host", _S),
)
_SUMMARY_TAIL = (
    ("NodeCount", "node_count", _I),
    ("Processors", "processors", _I),
    ("EarliestEndTime", "earliest_end_time", _T),
    ("LatestEndTime", "latest_end_time", _T),
    ("WallDuration", "wall_duration", _I, True),
    ("CpuDuration", "cpu_duration", _I, True),
)
# APEL 2.5.0 accepts InfrastructureDescription in summaries (§3.4, §6.9); its client leaves it out
# by default (§2.2), and so does our writer unless asked.
_INFRASTRUCTURE = (
    ("InfrastructureType", "infrastructure_type", _S),
    ("InfrastructureDescription", "infrastructure_description", _S),
)
_SUMMARY_IGNORED = frozenset({"UpdateTime"})

SUMMARY_V02 = Format(
    kind="summary",
    header=f"{SUMMARY_PREFIX}: v0.2",
    version="v0.2",
    fields=_fields(
        *_SUMMARY_HEAD,
        *_INFRASTRUCTURE,
        ("ServiceLevelType", "service_level_type", _S),
        ("ServiceLevel", "service_level", _F),
        *_SUMMARY_TAIL,
        ("NumberOfJobs", "number_of_jobs", _I, True),
    ),
    ignored=_SUMMARY_IGNORED,
)
SUMMARY_V04 = Format(
    kind="summary",
    header=f"{SUMMARY_PREFIX}: v0.4",
    version="v0.4",
    fields=_fields(
        *_SUMMARY_HEAD,
        *_INFRASTRUCTURE,
        ("ServiceLevel", "service_level", Kind.BENCHMARK_DICT),
        *_SUMMARY_TAIL,
        ("NumberOfJobs", "number_of_jobs", _I, True),
    ),
    ignored=_SUMMARY_IGNORED,
)
NORMALISED_V03 = Format(
    kind="normalised-summary",
    header=f"{SUMMARY_PREFIX}: v0.3",
    version="v0.3",
    fields=_fields(
        *_SUMMARY_HEAD,
        ("Infrastructure", "infrastructure_type", _S),
        *_SUMMARY_TAIL,
        ("NormalisedWallDuration", "normalised_wall_duration", _I, True),
        ("NormalisedCpuDuration", "normalised_cpu_duration", _I, True),
        ("NumberOfJobs", "number_of_jobs", _I, True),
    ),
    ignored=_SUMMARY_IGNORED,
)
NORMALISED_V04 = Format(
    kind="normalised-summary",
    header=f"{NORMALISED_PREFIX}: v0.4",
    version="v0.4",
    fields=_fields(
        *_SUMMARY_HEAD,
        ("Infrastructure", "infrastructure_type", _S),
        *_SUMMARY_TAIL,
        ("NormalisedWallDuration", "normalised_wall_duration", Kind.DURATION_DICT, True),
        ("NormalisedCpuDuration", "normalised_cpu_duration", Kind.DURATION_DICT, True),
        ("NumberOfJobs", "number_of_jobs", _I, True),
    ),
    ignored=_SUMMARY_IGNORED,
)
SYNC_V01 = Format(
    kind="sync",
    header=f"{SYNC_PREFIX}: v0.1",
    version="v0.1",
    fields=_fields(
        ("Site", "site", _S, True),
        ("SubmitHost", "submit_host", _S),
        ("NumberOfJobs", "number_of_jobs", _I, True),
        ("Month", "month", _I, True),
        ("Year", "year", _I, True),
    ),
)

# Summaries are recognised by their full header line (§2.2).
SUMMARY_FORMATS = {f.header: f for f in (SUMMARY_V02, SUMMARY_V04, NORMALISED_V03, NORMALISED_V04)}


def canonical_benchmark(name: str) -> str | None:
    """The lower-case benchmark type if the server accepts ``name``, else None."""
    lowered = name.lower()
    return lowered if lowered in BENCHMARK_PREFERENCE else None
