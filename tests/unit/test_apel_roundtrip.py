"""Property: whatever valid rows the writer turns into messages, the strict reader reads back the
same values (apart from what the APEL server itself derives: VO fields from the FQAN, and
``custom`` / 1 for a job without a benchmark)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from batchacct.apel.formats import (
    JOB_V03,
    NORMALISED_V03,
    SUMMARY_V02,
    SYNC_V01,
    Format,
)
from batchacct.apel.messages import Message, job_messages, summary_messages, sync_messages
from batchacct.apel.reader import read_message
from batchacct.parsers.blah import parse_fqan

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
ROUND_TRIP = settings(max_examples=150, deadline=None)


def _usable(text: str) -> bool:
    return (
        bool(text)
        and text.splitlines() == [text]
        and "%%" not in text
        and text.lower() not in ("none", "null")
    )


TEXT = st.text(min_size=1, max_size=40).map(str.strip).filter(_usable)
ASCII_TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30)
NAME = st.one_of(TEXT, ASCII_TEXT.filter(_usable))
OPTIONAL_NAME = st.none() | NAME
COUNT = st.none() | st.integers(0, 10**6)
DURATION = st.integers(-(10**12), 10**12)
SUM = st.integers(0, 10**15)
BENCHMARK_NAME = st.sampled_from(["si2k", "Si2k", "HEPSPEC", "hepspec", "HEPscore23"])
BENCHMARK = st.one_of(
    st.tuples(st.none(), st.none()),
    st.tuples(BENCHMARK_NAME, st.floats(allow_nan=False, allow_infinity=False)),
)
FQAN = st.none() | st.sampled_from(
    ["/atlas/Role=production/Capability=NULL", "/cms", "/dteam/ops/Role=lcgadmin", "atlas", "/"]
)
LATEST_END = int(NOW.timestamp()) + 2 * 86400


@st.composite
def job_rows(draw: st.DrawFn) -> dict[str, Any]:
    end = draw(st.integers(0, LATEST_END))
    start = end - draw(st.integers(0, end))
    slt, sl = draw(BENCHMARK)
    return {
        "site": draw(NAME),
        "submit_host": draw(OPTIONAL_NAME),
        "machine_name": draw(OPTIONAL_NAME),
        "queue": draw(OPTIONAL_NAME),
        "local_job_id": draw(NAME),
        "local_user_id": draw(OPTIONAL_NAME),
        "global_user_name": draw(OPTIONAL_NAME),
        "fqan": draw(FQAN),
        "vo": draw(OPTIONAL_NAME),
        "vo_group": draw(OPTIONAL_NAME),
        "vo_role": draw(OPTIONAL_NAME),
        "wall_duration": draw(DURATION),
        "cpu_duration": draw(DURATION),
        "processors": draw(COUNT),
        "node_count": draw(COUNT),
        "start_time": datetime.fromtimestamp(start, UTC),
        "end_time": datetime.fromtimestamp(end, UTC),
        "infrastructure_description": draw(OPTIONAL_NAME),
        "infrastructure_type": draw(st.sampled_from(["grid", "local", None])),
        "memory_real": draw(COUNT),
        "memory_virtual": draw(COUNT),
        "service_level_type": slt,
        "service_level": sl,
    }


@st.composite
def summary_rows(draw: st.DrawFn, normalised: bool = False) -> dict[str, Any]:
    year = draw(st.integers(1970, NOW.year))
    month = draw(st.integers(1, NOW.month if year == NOW.year else 12))
    start = datetime(year, month, 1, tzinfo=UTC)
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    span = int((next_month - start).total_seconds())
    ends = sorted(draw(st.lists(st.integers(0, span), min_size=2, max_size=2)))
    earliest: datetime | None = start + timedelta(seconds=ends[0])
    latest: datetime | None = start + timedelta(seconds=ends[1])
    which = draw(st.sampled_from(["both", "none", "earliest", "latest"]))
    if which in ("none", "latest"):
        earliest = None
    if which in ("none", "earliest"):
        latest = None
    slt, sl = draw(BENCHMARK)
    if normalised and slt is None:
        slt, sl = "HEPSPEC", 10.0
    return {
        "site": draw(NAME),
        "year": year,
        "month": month,
        "global_user_name": draw(OPTIONAL_NAME),
        "vo": draw(OPTIONAL_NAME),
        "vo_group": draw(OPTIONAL_NAME),
        "vo_role": draw(OPTIONAL_NAME),
        "submit_host": draw(OPTIONAL_NAME),
        "infrastructure_type": draw(st.sampled_from(["grid", "local", None])),
        "infrastructure_description": draw(OPTIONAL_NAME),
        "service_level_type": slt,
        "service_level": sl,
        "node_count": draw(COUNT),
        "processors": draw(COUNT),
        "earliest_end_time": earliest,
        "latest_end_time": latest,
        "wall_duration": draw(SUM),
        "cpu_duration": draw(SUM),
        "normalised_wall_duration": draw(SUM),
        "normalised_cpu_duration": draw(SUM),
        "number_of_jobs": draw(st.integers(0, 10**9)),
    }


@st.composite
def sync_rows(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "site": draw(NAME),
        "submit_host": draw(OPTIONAL_NAME),
        "number_of_jobs": draw(st.integers(-5, 10**12)),
        "year": draw(st.integers(1, 9999)),
        "month": draw(st.integers(-3, 15)),
    }


def read_all(messages: list[Message]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for message in messages:
        parsed = read_message(message.text, now=NOW)
        assert (parsed.header, parsed.kind, parsed.version) == (
            message.header,
            message.kind,
            message.version,
        )
        assert len(parsed.records) == message.records
        assert len(message.text.encode()) == message.size
        records.extend(parsed.records)
    return records


def columns(fmt: Format, row: dict[str, Any]) -> dict[str, Any]:
    return {f.column: row[f.column] for f in fmt.fields}


def expected_job(row: dict[str, Any]) -> dict[str, Any]:
    expected = columns(JOB_V03, row)
    if row["fqan"] is not None:
        expected["vo"], expected["vo_group"], expected["vo_role"] = parse_fqan(row["fqan"])
    if row["service_level_type"] is None:
        expected["service_level_type"], expected["service_level"] = "custom", 1.0
    return expected


@ROUND_TRIP
@given(
    rows=st.lists(job_rows(), min_size=1, max_size=6),
    version=st.sampled_from(["v0.3", "v0.4"]),
    per_message=st.integers(1, 4),
)
def test_jobs(rows: list[dict[str, Any]], version: str, per_message: int) -> None:
    messages = job_messages(rows, version=version, max_records=per_message)
    assert [m.records for m in messages][:-1] == [per_message] * (len(messages) - 1)
    assert read_all(messages) == [expected_job(row) for row in rows]
    periods = {(r["site"], r["end_time"].year, r["end_time"].month) for r in rows}
    assert set().union(*(m.periods for m in messages)) == periods


@ROUND_TRIP
@given(
    rows=st.lists(summary_rows(), min_size=1, max_size=6),
    version=st.sampled_from(["v0.2", "v0.4"]),
    description=st.booleans(),
)
def test_summaries(rows: list[dict[str, Any]], version: str, description: bool) -> None:
    messages = summary_messages(
        rows, version=version, include_infrastructure_description=description, max_records=4
    )
    expected = [columns(SUMMARY_V02, row) for row in rows]
    if not description:
        for record in expected:
            record["infrastructure_description"] = None
    assert read_all(messages) == expected


@ROUND_TRIP
@given(
    rows=st.lists(summary_rows(normalised=True), min_size=1, max_size=6),
    version=st.sampled_from(["v0.3", "v0.4"]),
)
def test_normalised_summaries(rows: list[dict[str, Any]], version: str) -> None:
    messages = summary_messages(rows, version=version, normalised=True)
    expected = [columns(NORMALISED_V03, row) for row in rows]
    if version == "v0.4":
        for record, row in zip(expected, rows, strict=True):
            record["service_level_type"] = row["service_level_type"]
    assert read_all(messages) == expected


@ROUND_TRIP
@given(rows=st.lists(sync_rows(), min_size=1, max_size=6), withhold=st.booleans())
def test_sync(rows: list[dict[str, Any]], withhold: bool) -> None:
    messages = sync_messages(rows, withhold_dns=withhold, max_records=3)
    assert read_all(messages) == [columns(SYNC_V01, row) for row in rows]


@ROUND_TRIP
@given(row=job_rows())
def test_withheld_dn_reads_back_as_withheld(row: dict[str, Any]) -> None:
    [record] = read_all(job_messages([row], withhold_dns=True))
    expected = expected_job(row)
    if row["global_user_name"] is not None:
        expected["global_user_name"] = "withheld"
    assert record == expected
