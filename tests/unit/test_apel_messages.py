"""APEL message writer: apel-facts §2.2's example messages byte for byte, the v0.4 and normalised
forms, nulls, withheld DNs, and batching by record count and by size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from batchacct.apel.messages import (
    MAX_BYTES,
    MAX_RECORDS,
    job_messages,
    summary_messages,
    sync_messages,
)
from tests.samples import JOB_V03_TEXT, SUMMARY_V02_TEXT, SYNC_V01_TEXT

DN = "/O=GermanGrid/OU=UniWuppertal/CN=Torsten Harenberg"
CE = "cream-2-fzk.gridka.de:8443/cream-pbs-atlasXL"
END = datetime.fromtimestamp(1317534104, UTC)

# pbs.log line 1 joined with the grid identity of blah.log line 1, as in apel-facts §2.2.
JOB: dict[str, Any] = {
    "site": "testSite",
    "submit_host": CE,
    "machine_name": "testHost",
    "queue": "grid4000M",
    "local_job_id": "21048463.lcgbatch01.gridpp.rl.ac.uk",
    "local_user_id": "patls009",
    "global_user_name": DN,
    "fqan": "/atlas/Role=production/Capability=NULL",
    "vo": "atlas",
    "vo_group": "/atlas",
    "vo_role": "Role=production",
    "wall_duration": 69784,
    "cpu_duration": 65724,
    "processors": 1,
    "node_count": 1,
    "start_time": datetime.fromtimestamp(1317509945, UTC),
    "end_time": END,
    "infrastructure_description": "APEL-CREAM-PBS",
    "infrastructure_type": "grid",
    "memory_real": 2031040,
    "memory_virtual": 3335528,
    "service_level_type": "HEPSPEC",
    "service_level": 10.0,
}
SUMMARY: dict[str, Any] = {
    "site": "testSite",
    "year": 2011,
    "month": 10,
    "global_user_name": DN,
    "vo": "atlas",
    "vo_group": "/atlas",
    "vo_role": "Role=production",
    "submit_host": CE,
    "infrastructure_type": "grid",
    "infrastructure_description": "APEL-CREAM-PBS",
    "service_level_type": "HEPSPEC",
    "service_level": 10.0,
    "node_count": 1,
    "processors": 1,
    "earliest_end_time": END,
    "latest_end_time": END,
    "wall_duration": 69784,
    "cpu_duration": 65724,
    "normalised_wall_duration": 697840,
    "normalised_cpu_duration": 657240,
    "number_of_jobs": 1,
}
SYNC: dict[str, Any] = {
    "site": "testSite",
    "submit_host": CE,
    "number_of_jobs": 1,
    "year": 2011,
    "month": 10,
}

PAIR = "ServiceLevelType: HEPSPEC\nServiceLevel: 10.0\n"
DICT = "ServiceLevel: {HEPSPEC: 10.0}\n"


def test_golden_job_v03() -> None:
    [message] = job_messages([JOB])
    assert message.text == JOB_V03_TEXT
    assert message.header == "APEL-individual-job-message: v0.3"
    assert (message.kind, message.version, message.records) == ("job", "v0.3", 1)
    assert message.size == len(JOB_V03_TEXT.encode())
    assert message.periods == {("testSite", 2011, 10)}


def test_golden_summary_v02() -> None:
    # The row has an InfrastructureDescription; APEL's client leaves it out by default, and so do we.
    [message] = summary_messages([SUMMARY])
    assert message.text == SUMMARY_V02_TEXT
    assert (message.kind, message.version) == ("summary", "v0.2")
    assert message.periods == {("testSite", 2011, 10)}


def test_golden_sync_v01() -> None:
    [message] = sync_messages([SYNC])
    assert message.text == SYNC_V01_TEXT
    assert (message.kind, message.version) == ("sync", "v0.1")


def test_job_v04_dict_form() -> None:
    [message] = job_messages([JOB], version="v0.4")
    expected = JOB_V03_TEXT.replace("v0.3", "v0.4").replace(PAIR, DICT)
    assert message.text == expected
    assert "ServiceLevelType" not in message.text
    assert message.version == "v0.4"


def test_summary_v04_dict_form() -> None:
    [message] = summary_messages([SUMMARY], version="v0.4")
    assert message.text == SUMMARY_V02_TEXT.replace("v0.2", "v0.4").replace(PAIR, DICT)


def test_summary_with_infrastructure_description() -> None:
    [message] = summary_messages([SUMMARY], include_infrastructure_description=True)
    assert message.text == SUMMARY_V02_TEXT.replace(
        "InfrastructureType: grid\n",
        "InfrastructureType: grid\nInfrastructureDescription: APEL-CREAM-PBS\n",
    )


NORMALISED_V03_TEXT = """\
APEL-summary-job-message: v0.3
Site: testSite
Month: 10
Year: 2011
GlobalUserName: /O=GermanGrid/OU=UniWuppertal/CN=Torsten Harenberg
VO: atlas
VOGroup: /atlas
VORole: Role=production
SubmitHost: cream-2-fzk.gridka.de:8443/cream-pbs-atlasXL
Infrastructure: grid
NodeCount: 1
Processors: 1
EarliestEndTime: 1317534104
LatestEndTime: 1317534104
WallDuration: 69784
CpuDuration: 65724
NormalisedWallDuration: 697840
NormalisedCpuDuration: 657240
NumberOfJobs: 1
%%
"""


def test_normalised_summary_v03() -> None:
    [message] = summary_messages([SUMMARY], version="v0.3")
    assert message.text == NORMALISED_V03_TEXT
    assert (message.kind, message.version) == ("normalised-summary", "v0.3")
    assert summary_messages([SUMMARY], version="v0.3", normalised=True) == [message]


def test_normalised_summary_v04() -> None:
    [message] = summary_messages([SUMMARY], version="v0.4", normalised=True)
    assert message.header == "APEL-normalised-summary-message: v0.4"
    assert message.text == (
        NORMALISED_V03_TEXT.replace(
            "APEL-summary-job-message: v0.3", "APEL-normalised-summary-message: v0.4"
        )
        .replace("NormalisedWallDuration: 697840", "NormalisedWallDuration: {HEPSPEC: 697840}")
        .replace("NormalisedCpuDuration: 657240", "NormalisedCpuDuration: {HEPSPEC: 657240}")
    )


def test_normalised_summary_needs_normalised_values_and_v04_a_type() -> None:
    with pytest.raises(ValueError, match="NormalisedWallDuration"):
        summary_messages([{**SUMMARY, "normalised_wall_duration": None}], version="v0.3")
    with pytest.raises(ValueError, match="benchmark type"):
        summary_messages(
            [{**SUMMARY, "service_level_type": None, "service_level": None}],
            version="v0.4",
            normalised=True,
        )


def test_nulls_are_written_as_none_and_null_times_are_left_out() -> None:
    local = {
        **JOB,
        "submit_host": None,
        "queue": None,
        "global_user_name": None,
        "fqan": None,
        "vo_group": None,
        "vo_role": None,
        "processors": None,
        "infrastructure_type": "local",
        "service_level_type": None,
        "service_level": None,
    }
    text = job_messages([local])[0].text
    for line in (
        "SubmitHost: None",
        "Queue: None",
        "GlobalUserName: None",
        "FQAN: None",
        "VOGroup: None",
        "Processors: None",
        "ServiceLevelType: None",
        "ServiceLevel: None",
    ):
        assert f"\n{line}\n" in text
    summary = summary_messages([{**SUMMARY, "earliest_end_time": None, "latest_end_time": None}])
    assert "EndTime" not in summary[0].text


def test_no_benchmark_is_sent_as_the_null_pair() -> None:
    # APEL's server rejects ServiceLevelType "custom", and stores custom / 1 for an absent pair.
    for slt, sl in ((None, None), ("custom", 1), ("CUSTOM", 1.0)):
        row = {**JOB, "service_level_type": slt, "service_level": sl}
        assert "ServiceLevelType: None\nServiceLevel: None\n" in job_messages([row])[0].text
        assert "\nServiceLevel: None\n" in job_messages([row], version="v0.4")[0].text


def test_benchmark_values() -> None:
    row = {**JOB, "service_level_type": "HEPscore23", "service_level": Decimal("12.500")}
    assert "ServiceLevelType: HEPscore23\nServiceLevel: 12.5\n" in job_messages([row])[0].text
    row = {**JOB, "service_level_type": "si2k", "service_level": 2500}
    assert "ServiceLevel: {si2k: 2500.0}\n" in job_messages([row], version="v0.4")[0].text
    with pytest.raises(ValueError, match="both"):
        job_messages([{**JOB, "service_level": None}])
    with pytest.raises(ValueError, match="both"):
        job_messages([{**JOB, "service_level_type": None}])
    with pytest.raises(ValueError, match="not si2k, HEPSPEC or HEPscore23"):
        job_messages([{**JOB, "service_level_type": "SPECint"}])
    with pytest.raises(ValueError, match="not si2k, HEPSPEC or HEPscore23"):
        job_messages([{**JOB, "service_level_type": "custom", "service_level": 2.0}])
    with pytest.raises(ValueError, match="finite"):
        job_messages([{**JOB, "service_level": float("nan")}])


def test_times_are_utc_epoch_seconds() -> None:
    cet = timezone(timedelta(hours=1))
    row = {
        **JOB,
        "start_time": datetime(2011, 10, 1, 23, 59, 5, 999_999, tzinfo=cet),
        "end_time": datetime(2011, 10, 2, 6, 41, 44, tzinfo=cet),
    }
    text = job_messages([row])[0].text
    assert "\nStartTime: 1317509945\nEndTime: 1317534104\n" in text
    with pytest.raises(ValueError, match="naive"):
        job_messages([{**JOB, "end_time": datetime(2011, 10, 2)}])


def test_integral_numbers_of_any_type_are_integers() -> None:
    row = {**JOB, "wall_duration": Decimal("69784"), "cpu_duration": 65724.0}
    assert job_messages([row])[0].text == JOB_V03_TEXT
    with pytest.raises(ValueError, match="whole number"):
        job_messages([{**JOB, "cpu_duration": 1.5}])
    with pytest.raises(ValueError, match="bool"):
        job_messages([{**JOB, "processors": True}])


def test_withhold_dns() -> None:
    text = job_messages([JOB], withhold_dns=True)[0].text
    assert "\nGlobalUserName: withheld\n" in text
    assert DN not in text
    no_dn = {**JOB, "global_user_name": None}
    assert "\nGlobalUserName: None\n" in job_messages([no_dn], withhold_dns=True)[0].text
    assert sync_messages([SYNC], withhold_dns=True)[0].text == SYNC_V01_TEXT
    with pytest.raises(ValueError, match="withhold_dns"):
        summary_messages([SUMMARY], withhold_dns=True)


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="record 1: mandatory LocalJobId"):
        job_messages([JOB, {**JOB, "local_job_id": None}])
    with pytest.raises(ValueError, match="mandatory Site"):
        sync_messages([{**SYNC, "site": "null"}])
    for bad in ("grid\n4000M", "grid\rX", "a\u2028b", "a\x1cb", "50%%"):
        with pytest.raises(ValueError, match="layout"):
            job_messages([{**JOB, "queue": bad}])
    with pytest.raises(ValueError, match="must be a string"):
        job_messages([{**JOB, "queue": 4000}])
    with pytest.raises(ValueError, match=r"v0\.3 or v0\.4"):
        job_messages([JOB], version="v0.2")
    with pytest.raises(ValueError, match="summary messages"):
        summary_messages([SUMMARY], version="v0.1")


def test_strings_are_stripped_and_blank_is_null() -> None:
    text = job_messages([{**JOB, "queue": "  grid4000M ", "local_user_id": "   "}])[0].text
    assert "\nQueue: grid4000M\n" in text
    assert "\nLocalUserId: None\n" in text


def sync_rows(count: int, host: str = CE) -> list[dict[str, Any]]:
    return [
        {**SYNC, "submit_host": f"{host}-{i}", "month": i % 12 + 1, "year": 2000 + i // 12}
        for i in range(count)
    ]


def test_at_most_1000_records_per_message() -> None:
    rows = sync_rows(2500)
    messages = sync_messages(rows)
    assert [m.records for m in messages] == [1000, 1000, 500]
    assert all(m.text.count("%%\n") == m.records for m in messages)
    assert messages[0].periods == {("testSite", 2000 + i // 12, i % 12 + 1) for i in range(1000)}
    assert [m.records for m in sync_messages(rows, max_records=700)] == [700, 700, 700, 400]


def test_messages_stay_under_the_byte_limit() -> None:
    rows = sync_rows(300, host="h" * 3000)
    messages = sync_messages(rows, max_bytes=100_000)
    assert len(messages) > 1
    assert all(m.size <= 100_000 and len(m.text.encode()) == m.size for m in messages)
    assert sum(m.records for m in messages) == 300
    # Nothing lost or reordered across the split.
    blocks = [b for m in messages for b in m.text.split("\n", 1)[1].split("%%\n") if b]
    assert [b.split("\n")[1] for b in blocks] == [f"SubmitHost: {r['submit_host']}" for r in rows]
    # Non-ASCII text counts in UTF-8 bytes.
    wide = sync_rows(100, host="é" * 2000)
    assert all(len(m.text.encode()) <= 100_000 for m in sync_messages(wide, max_bytes=100_000))


def test_full_size_messages() -> None:
    # 1000 records of about 1.5 kB would make 1.5 MB: the size limit splits first.
    messages = sync_messages(sync_rows(1000, host="h" * 1500))
    assert len(messages) == 2
    assert all(m.size <= MAX_BYTES for m in messages)


def test_a_record_too_big_on_its_own() -> None:
    with pytest.raises(ValueError, match=r"record 1: .*too big"):
        sync_messages(sync_rows(1) + sync_rows(1, host="h" * 2000), max_bytes=1000)


def test_limits_cannot_be_raised() -> None:
    with pytest.raises(ValueError, match="max_records"):
        sync_messages([SYNC], max_records=MAX_RECORDS + 1)
    with pytest.raises(ValueError, match="max_records"):
        sync_messages([SYNC], max_records=0)
    with pytest.raises(ValueError, match="max_bytes"):
        sync_messages([SYNC], max_bytes=MAX_BYTES + 1)


def test_no_rows_no_messages() -> None:
    assert job_messages([]) == []
    assert summary_messages(iter([])) == []
