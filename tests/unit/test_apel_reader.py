"""The strict APEL message reader: one bad message per server rule (apel-facts §2.1, §2.2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from batchacct.apel.reader import MessageError, ParsedMessage, read_message
from tests.unit.test_apel_messages import (
    CE,
    DN,
    END,
    JOB,
    JOB_V03_TEXT,
    NORMALISED_V03_TEXT,
    SUMMARY_V02_TEXT,
    SYNC_V01_TEXT,
)

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def read(text: str, now: datetime = NOW) -> ParsedMessage:
    return read_message(text, now=now)


def rejected(text: str, reason: str, now: datetime = NOW) -> None:
    with pytest.raises(MessageError, match=reason) as caught:
        read_message(text, now=now)
    assert caught.value.reason == str(caught.value)


def edit(text: str, key: str, value: str | None) -> str:
    """``text`` with the line of ``key`` set to ``value`` (None: removed; added if missing)."""
    pattern = re.compile(rf"^{key}:.*\n", re.MULTILINE)
    line = "" if value is None else f"{key}: {value}\n"
    if pattern.search(text):
        return pattern.sub(line, text, count=1)
    return text.replace("%%\n", line + "%%\n", 1)


def test_golden_job() -> None:
    message = read(JOB_V03_TEXT)
    assert (message.kind, message.version) == ("job", "v0.3")
    assert message.header == "APEL-individual-job-message: v0.3"
    assert message.records == [JOB]


def test_golden_summary_and_sync() -> None:
    [summary] = read(SUMMARY_V02_TEXT).records
    assert summary["earliest_end_time"] == END
    assert summary["infrastructure_description"] is None
    assert (summary["service_level_type"], summary["service_level"]) == ("HEPSPEC", 10.0)
    assert (summary["month"], summary["year"], summary["number_of_jobs"]) == (10, 2011, 1)
    sync = read(SYNC_V01_TEXT)
    assert sync.kind == "sync"
    assert sync.records == [
        {"site": "testSite", "submit_host": CE, "number_of_jobs": 1, "month": 10, "year": 2011}
    ]
    normalised = read(NORMALISED_V03_TEXT)
    assert normalised.kind == "normalised-summary"
    [record] = normalised.records
    assert record["normalised_wall_duration"] == 697840
    assert record["infrastructure_type"] == "grid"
    assert "service_level" not in record


# Header.


def test_empty_and_foreign_messages() -> None:
    rejected("", "empty message")
    rejected(" \n\n", "empty message")
    rejected("<urf:UsageRecords/>", "XML and JSON")
    rejected('{"Type": "APEL-accelerator-message"}', "XML and JSON")


def test_header_rules() -> None:
    rejected("APEL individual job message\nSite: x\n%%\n", "header line has no ':'")
    rejected("APEL-cloud-message: v0.4\n%%\n", "message type not recognised")
    # Jobs and sync: any version, matched on the part before ':'.
    assert read(JOB_V03_TEXT.replace("v0.3", "v0.1", 1)).version == "v0.1"
    assert read(SYNC_V01_TEXT.replace("v0.1", "v9")).kind == "sync"
    # Summaries: the whole header line.
    rejected(SUMMARY_V02_TEXT.replace("v0.2", "v0.9", 1), "whole header line")
    rejected(SUMMARY_V02_TEXT.replace("v0.2\n", "v0.2 \n", 1), "whole header line")
    rejected(SUMMARY_V02_TEXT.replace("message: ", "message:", 1), "whole header line")
    rejected(
        NORMALISED_V03_TEXT.replace(
            "APEL-summary-job-message: v0.3", "APEL-normalised-summary-message: v0.3"
        ),
        "whole header line",
    )


def test_surrounding_blank_space_and_missing_last_separator_are_accepted() -> None:
    assert read("\n\n" + JOB_V03_TEXT + "\n\n").records == [JOB]
    assert read(JOB_V03_TEXT.rstrip("%\n")).records == [JOB]
    assert read("APEL-sync-message: v0.1\n").records == []


# Lines and keys.


def test_line_without_colon() -> None:
    rejected(JOB_V03_TEXT.replace("Queue: grid4000M", "Queue grid4000M"), "line without ':'")
    rejected(JOB_V03_TEXT.replace("Queue: grid4000M\n", "Queue: grid4000M\n\n"), "without ':'")


def test_key_and_value_are_stripped_and_split_at_the_first_colon() -> None:
    text = JOB_V03_TEXT.replace("Queue: grid4000M", "  Queue   :grid4000M  ")
    assert read(text).records == [JOB]
    assert read(JOB_V03_TEXT).records[0]["submit_host"] == CE  # its value has a ':'


def test_unknown_key() -> None:
    rejected(edit(JOB_V03_TEXT, "Colour", "blue"), "record 0: unknown key 'Colour'")
    rejected(edit(JOB_V03_TEXT, "site", "x"), "unknown key 'site'")  # keys are case-sensitive
    rejected(edit(SUMMARY_V02_TEXT, "FQAN", "/atlas"), "unknown key 'FQAN'")
    rejected(edit(NORMALISED_V03_TEXT, "InfrastructureType", "grid"), "unknown key")
    rejected(edit(NORMALISED_V03_TEXT, "ServiceLevel", "10"), "unknown key")


def test_ignored_keys_are_dropped() -> None:
    text = edit(edit(JOB_V03_TEXT, "UpdateTime", "whatever"), "SubmitHostType", "CREAM")
    assert read(text).records == [JOB]
    assert read(edit(SUMMARY_V02_TEXT, "UpdateTime", "x")).records == read(SUMMARY_V02_TEXT).records
    rejected(edit(SYNC_V01_TEXT, "UpdateTime", "x"), "unknown key 'UpdateTime'")


def test_a_key_given_twice() -> None:
    rejected(
        JOB_V03_TEXT.replace("Queue: grid4000M\n", "Queue: a\nQueue: b\n"), "Queue given twice"
    )


def test_index_of_the_bad_record_is_in_the_reason() -> None:
    second = edit(JOB_V03_TEXT, "WallDuration", "lots").split("\n", 1)[1]
    rejected(JOB_V03_TEXT + second, r"^record 1: WallDuration is not an integer")


# Values.


@pytest.mark.parametrize(
    "text", [JOB_V03_TEXT, SUMMARY_V02_TEXT, SYNC_V01_TEXT, NORMALISED_V03_TEXT]
)
def test_mandatory_fields(text: str) -> None:
    mandatory = {
        "job": ["Site", "LocalJobId", "WallDuration", "CpuDuration", "StartTime", "EndTime"],
        "summary": ["Site", "Month", "Year", "WallDuration", "CpuDuration", "NumberOfJobs"],
        "sync": ["Site", "NumberOfJobs", "Month", "Year"],
        "normalised-summary": [
            "Site",
            "Month",
            "Year",
            "WallDuration",
            "CpuDuration",
            "NormalisedWallDuration",
            "NormalisedCpuDuration",
            "NumberOfJobs",
        ],
    }[read(text).kind]
    for key in mandatory:
        rejected(edit(text, key, None), f"mandatory {key} is missing or null")
        for null in ("None", "null", "NULL", ""):
            rejected(edit(text, key, null), f"mandatory {key} is missing or null")


def test_null_spellings() -> None:
    for null in ("None", "none", "null", "Null", ""):
        [record] = read(edit(JOB_V03_TEXT, "Queue", null)).records
        assert record["queue"] is None
    [record] = read(edit(JOB_V03_TEXT, "Processors", None)).records
    assert record["processors"] is None
    [record] = read(edit(JOB_V03_TEXT, "MemoryReal", "None")).records
    assert record["memory_real"] is None


def test_malformed_numbers_and_times() -> None:
    rejected(edit(JOB_V03_TEXT, "WallDuration", "1.5"), "WallDuration is not an integer")
    rejected(edit(JOB_V03_TEXT, "Processors", "1_000"), "Processors is not an integer")
    rejected(edit(JOB_V03_TEXT, "Processors", "٣"), "Processors is not an integer")
    rejected(edit(JOB_V03_TEXT, "ServiceLevel", "ten"), "ServiceLevel is not a number")
    rejected(edit(JOB_V03_TEXT, "ServiceLevel", "nan"), "ServiceLevel is not a number")
    rejected(edit(JOB_V03_TEXT, "ServiceLevel", "1e999"), "ServiceLevel is out of range")
    rejected(edit(JOB_V03_TEXT, "StartTime", "1317509945.5"), "integer epoch seconds")
    rejected(edit(JOB_V03_TEXT, "StartTime", "2011-10-01T22:59:05Z"), "integer epoch seconds")
    rejected(edit(JOB_V03_TEXT, "StartTime", "9" * 30), "StartTime is out of range")
    [record] = read(edit(JOB_V03_TEXT, "ServiceLevel", "1.25e1")).records
    assert record["service_level"] == 12.5


# Jobs.


def test_job_end_not_before_start() -> None:
    rejected(edit(JOB_V03_TEXT, "StartTime", "1317534105"), "EndTime is before StartTime")
    assert read(edit(JOB_V03_TEXT, "StartTime", "1317534104")).records


def test_job_end_at_most_two_days_ahead() -> None:
    now = END - timedelta(days=2)
    assert read(JOB_V03_TEXT, now=now).records
    rejected(JOB_V03_TEXT, "more than 2 days in the future", now=now - timedelta(seconds=1))


def test_fqan_overrides_vo_group_and_role() -> None:
    text = edit(edit(edit(JOB_V03_TEXT, "VO", "cms"), "VOGroup", "/cms"), "VORole", "None")
    [record] = read(text).records
    assert (record["vo"], record["vo_group"], record["vo_role"]) == (
        "atlas",
        "/atlas",
        "Role=production",
    )
    [record] = read(edit(text, "FQAN", "/dteam/ops/Role=lcgadmin")).records
    assert (record["vo"], record["vo_group"], record["vo_role"]) == (
        "dteam",
        "/dteam/ops",
        "Role=lcgadmin",
    )
    # Without an FQAN the fields stay as sent.
    [record] = read(edit(text, "FQAN", "None")).records
    assert (record["vo"], record["vo_group"], record["vo_role"]) == ("cms", "/cms", None)


def test_job_benchmark_pair() -> None:
    rejected(edit(JOB_V03_TEXT, "ServiceLevel", None), "both present or both absent")
    rejected(edit(JOB_V03_TEXT, "ServiceLevelType", "None"), "both present or both absent")
    rejected(edit(JOB_V03_TEXT, "ServiceLevelType", "SPECint2006"), "not si2k, HEPSPEC or HEPsc")
    # What APEL's client writes for "no benchmark"; its server rejects it.
    text = edit(edit(JOB_V03_TEXT, "ServiceLevelType", "custom"), "ServiceLevel", "1")
    rejected(text, "ServiceLevelType 'custom' is not")
    for name in ("hepspec", "SI2K", "HEPscore23", "hepscore23"):
        [record] = read(edit(JOB_V03_TEXT, "ServiceLevelType", name)).records
        assert record["service_level_type"] == name
    # Both absent: the server stores custom / 1.
    for value in (None, "None"):
        text = edit(edit(JOB_V03_TEXT, "ServiceLevelType", value), "ServiceLevel", value)
        [record] = read(text).records
        assert (record["service_level_type"], record["service_level"]) == ("custom", 1.0)


# Summaries.

SUMMARY_MONTH_START = int(datetime(2011, 10, 1, tzinfo=UTC).timestamp())
SUMMARY_NEXT_MONTH = int(datetime(2011, 11, 1, tzinfo=UTC).timestamp())


@pytest.mark.parametrize("text", [SUMMARY_V02_TEXT, NORMALISED_V03_TEXT])
def test_summary_month(text: str) -> None:
    for month in ("0", "13", "-1"):
        rejected(edit(text, "Month", month), f"Month {month} is out of range 1..12")
    rejected(edit(text, "Year", "0"), "Year 0 is out of range")
    # Not in the future: the month of `now` is fine, the next one is not.
    now = datetime(2011, 10, 1, tzinfo=UTC)
    assert read(edit(edit(text, "EarliestEndTime", None), "LatestEndTime", None), now=now).records
    rejected(text, "month 2011-10 is in the future", now=now - timedelta(seconds=1))


@pytest.mark.parametrize("text", [SUMMARY_V02_TEXT, NORMALISED_V03_TEXT])
def test_summary_end_times_within_the_month(text: str) -> None:
    edges = edit(
        edit(text, "EarliestEndTime", str(SUMMARY_MONTH_START)),
        "LatestEndTime",
        str(SUMMARY_NEXT_MONTH),  # the first second of the next month is allowed
    )
    assert read(edges).records
    rejected(
        edit(text, "EarliestEndTime", str(SUMMARY_MONTH_START - 1)),
        "EarliestEndTime 2011-09-30T23:59:59[+]00:00 is not within 2011-10",
    )
    rejected(
        edit(text, "LatestEndTime", str(SUMMARY_NEXT_MONTH + 1)),
        "LatestEndTime .* is not within 2011-10",
    )
    # Checked on its own too (APEL checks only when both are present).
    rejected(
        edit(edit(text, "EarliestEndTime", None), "LatestEndTime", str(SUMMARY_NEXT_MONTH + 1)),
        "LatestEndTime .* is not within",
    )
    rejected(
        edit(text, "EarliestEndTime", str(int(END.timestamp()) + 1)),
        "LatestEndTime is earlier than EarliestEndTime",
    )


@pytest.mark.parametrize("text", [SUMMARY_V02_TEXT, NORMALISED_V03_TEXT])
def test_summary_durations_not_negative(text: str) -> None:
    rejected(edit(text, "WallDuration", "-1"), "negative WallDuration")
    rejected(edit(text, "CpuDuration", "-5"), "negative CpuDuration")
    assert read(edit(text, "CpuDuration", "0")).records


def test_normalised_durations_not_negative() -> None:
    rejected(edit(NORMALISED_V03_TEXT, "NormalisedWallDuration", "-1"), "negative NormalisedWall")
    rejected(edit(NORMALISED_V03_TEXT, "NormalisedCpuDuration", "-1"), "negative NormalisedCpu")


def test_summary_benchmark_pair() -> None:
    rejected(edit(SUMMARY_V02_TEXT, "ServiceLevel", None), "both present or both absent")
    rejected(edit(SUMMARY_V02_TEXT, "ServiceLevelType", "None"), "both present or both absent")
    rejected(edit(SUMMARY_V02_TEXT, "ServiceLevelType", "custom"), "'custom' is not si2k")
    text = edit(edit(SUMMARY_V02_TEXT, "ServiceLevelType", "None"), "ServiceLevel", "None")
    [record] = read(text).records
    assert (record["service_level_type"], record["service_level"]) == (None, None)


def test_summary_infrastructure_description_is_accepted() -> None:
    text = edit(SUMMARY_V02_TEXT, "InfrastructureDescription", "APEL-CREAM-PBS")
    assert read(text).records[0]["infrastructure_description"] == "APEL-CREAM-PBS"


# v0.4 dict form.

JOB_V04_TEXT = JOB_V03_TEXT.replace("v0.3", "v0.4").replace(
    "ServiceLevelType: HEPSPEC\nServiceLevel: 10.0\n", "ServiceLevel: {HEPSPEC: 10.0}\n"
)
SUMMARY_V04_TEXT = SUMMARY_V02_TEXT.replace("v0.2", "v0.4").replace(
    "ServiceLevelType: HEPSPEC\nServiceLevel: 10.0\n", "ServiceLevel: {HEPSPEC: 10.0}\n"
)
NORMALISED_V04_TEXT = (
    NORMALISED_V03_TEXT.replace(
        "APEL-summary-job-message: v0.3", "APEL-normalised-summary-message: v0.4"
    )
    .replace("NormalisedWallDuration: 697840", "NormalisedWallDuration: {HEPSPEC: 697840}")
    .replace("NormalisedCpuDuration: 657240", "NormalisedCpuDuration: {HEPSPEC: 657240}")
)


def test_v04_dict_form() -> None:
    assert read(JOB_V04_TEXT).records == [JOB]
    assert read(SUMMARY_V04_TEXT).records == read(SUMMARY_V02_TEXT).records
    [record] = read(NORMALISED_V04_TEXT).records
    assert record["service_level_type"] == "HEPSPEC"
    assert record["normalised_cpu_duration"] == 657240


def test_v04_preference_among_several_benchmarks() -> None:
    def benchmark(value: str, text: str = JOB_V04_TEXT) -> tuple[str, float]:
        [record] = read(edit(text, "ServiceLevel", value)).records
        return record["service_level_type"], record["service_level"]

    assert benchmark("{si2k: 2500, HEPSPEC: 10.0, HEPscore23: 12.5}") == ("HEPscore23", 12.5)
    assert benchmark("{si2k: 2500, hepspec: 10}") == ("hepspec", 10.0)
    assert benchmark("{ SI2K :2500 }") == ("SI2K", 2500.0)
    assert benchmark("{si2k: 2500, HEPSPEC: 10.0}", SUMMARY_V04_TEXT) == ("HEPSPEC", 10.0)
    assert benchmark("None") == ("custom", 1.0)
    assert benchmark("None", SUMMARY_V04_TEXT) == (None, None)


def test_v04_bad_dicts() -> None:
    rejected(edit(JOB_V04_TEXT, "ServiceLevel", "10.0"), r"must be a \{type: value\} dict")
    rejected(edit(JOB_V04_TEXT, "ServiceLevel", "{}"), "dict entry is not 'type: value'")
    rejected(edit(JOB_V04_TEXT, "ServiceLevel", "{HEPSPEC 10}"), "dict entry is not")
    rejected(edit(JOB_V04_TEXT, "ServiceLevel", "{HEPSPEC: ten}"), "not a number")
    rejected(edit(JOB_V04_TEXT, "ServiceLevel", "{custom: 1}"), "benchmark 'custom' is not")
    rejected(edit(JOB_V04_TEXT, "ServiceLevel", "{HEPSPEC: 1, hepspec: 2}"), "given twice")
    rejected(edit(JOB_V04_TEXT, "ServiceLevelType", "HEPSPEC"), "ServiceLevelType is no field")
    rejected(edit(SUMMARY_V04_TEXT, "ServiceLevelType", "HEPSPEC"), "ServiceLevelType is no field")
    # The v0.3 forms do not take a dict.
    rejected(edit(JOB_V03_TEXT, "ServiceLevel", "{HEPSPEC: 10.0}"), "not a number")


def test_v04_normalised_dicts() -> None:
    mixed = edit(NORMALISED_V04_TEXT, "NormalisedCpuDuration", "{si2k: 657240}")
    rejected(mixed, "dict fields name different benchmark types")
    rejected(edit(NORMALISED_V04_TEXT, "NormalisedWallDuration", "697840"), "must be a")
    rejected(edit(NORMALISED_V04_TEXT, "NormalisedWallDuration", "{HEPSPEC: 1.5}"), "not an integ")
    rejected(edit(NORMALISED_V04_TEXT, "NormalisedWallDuration", "{HEPSPEC: -1}"), "negative")
    # Several types: each field takes the preferred one, and they agree.
    both = edit(NORMALISED_V04_TEXT, "NormalisedWallDuration", "{si2k: 1, HEPSPEC: 697840}")
    [record] = read(both).records
    assert record["normalised_wall_duration"] == 697840


def test_dn_and_names_are_text() -> None:
    [record] = read(JOB_V03_TEXT).records
    assert record["global_user_name"] == DN


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        read_message(JOB_V03_TEXT, now=datetime(2026, 1, 1))
