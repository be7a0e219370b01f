"""Publisher pieces that need no database: option checks, months, the check of every message
with the server's rules (bad records set aside, the rest sent), the report, the service settings."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batchacct.apel.messages import Message, Row, job_messages, summary_messages
from batchacct.apel.reader import read_message
from batchacct.publisher import (
    Outputs,
    Publication,
    PublishError,
    PublishOptions,
    PublishResult,
    checked_messages,
    current_and_previous_month,
    month_text,
)
from batchacct_publisher.__main__ import build_parser, options_from
from batchacct_publisher.settings import PublisherSettings
from tests.unit.test_apel_messages import JOB, SUMMARY

NOW = datetime(2011, 11, 2, tzinfo=UTC)  # JOB ends in October 2011


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (PublishOptions(withhold_dns=True), "not with summaries: APEL refuses it too"),
        (PublishOptions(include_vos=("a",), exclude_vos=("b",)), "not both"),
        (PublishOptions(mode="summary"), "mode must be one of summaries, jobs"),
        (PublishOptions(version="v0.3", mode="summaries", jobs="all"), None),
        (PublishOptions(version="v0.1"), "summaries are sent as v0.2, v0.4, v0.3"),
        (PublishOptions(mode="jobs", version="v0.2"), "jobs are sent as v0.3, v0.4"),
        (PublishOptions(mode="jobs", jobs="since"), "jobs must be one of latest, gap, all"),
        (PublishOptions(mode="jobs", jobs="gap", gap_from=date(2026, 1, 1)), "needs both"),
        (
            PublishOptions(
                mode="jobs", jobs="gap", gap_from=date(2026, 2, 1), gap_to=date(2026, 1, 1)
            ),
            "is after its to",
        ),
        (PublishOptions(mode="jobs", jobs="all", gap_to=date(2026, 1, 1)), "jobs gap only"),
        (PublishOptions(mode="jobs", withhold_dns=True, version="v0.4"), None),
    ],
)
def test_options_are_checked(options: PublishOptions, message: str | None) -> None:
    if message is None:
        assert options.checked() is options
    else:
        with pytest.raises(PublishError, match=message.replace("(", r"\(")):
            options.checked()


def test_formats_and_cursor_names() -> None:
    assert PublishOptions().message_format.header == "APEL-summary-job-message: v0.2"
    normalised = PublishOptions(version="normalised-v0.4").message_format
    assert normalised.header == "APEL-normalised-summary-message: v0.4"
    assert PublishOptions(mode="jobs").message_format.header == "APEL-individual-job-message: v0.3"
    assert PublishOptions().cursor_name == "jobs"
    assert PublishOptions(sites=("B", "A", "B")).cursor_name == "jobs:A,B"


def test_current_and_previous_month_in_utc() -> None:
    assert current_and_previous_month(datetime(2026, 1, 10, tzinfo=UTC)) == [(2025, 12), (2026, 1)]
    # 23:30 on 31 March in New York is already April in UTC.
    new_york = datetime(2026, 3, 31, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    assert current_and_previous_month(new_york) == [(2026, 3), (2026, 4)]


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", ""])
def test_month_text_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a month"):
        month_text(text)


def test_month_text() -> None:
    assert month_text(" 2026-02 ") == (2026, 2)


def build_jobs(rows: Sequence[Row]) -> list[Message]:
    return job_messages(rows, max_records=3)


def jobs(n: int) -> list[dict[str, object]]:
    return [{**JOB, "local_job_id": str(i)} for i in range(n)]


def test_a_record_the_server_rejects_is_set_aside_and_the_rest_sent() -> None:
    rows = jobs(7)
    rows[4] = {**rows[4], "start_time": JOB["end_time"] + timedelta(seconds=1)}
    messages, set_aside = checked_messages(build_jobs, rows, NOW)
    sent = [r["local_job_id"] for m in messages for r in read_message(m.text, now=NOW).records]
    assert sent == ["0", "1", "2", "3", "5", "6"]
    assert [m.records for m in messages] == [3, 2, 1]  # the second message built again
    [lost] = set_aside
    assert [r["local_job_id"] for r in lost.rows] == ["4"]
    assert lost.reasons == ["EndTime is before StartTime"]


def test_a_record_the_writer_refuses_is_set_aside() -> None:
    rows = jobs(5)
    rows[0] = {**rows[0], "global_user_name": "/CN=two\nlines"}
    rows[3] = {**rows[3], "wall_duration": None}
    messages, set_aside = checked_messages(build_jobs, rows, NOW)
    sent = [r["local_job_id"] for m in messages for r in read_message(m.text, now=NOW).records]
    assert sent == ["1", "2", "4"]
    [refused] = set_aside
    assert [r["local_job_id"] for r in refused.rows] == ["0", "3"]
    assert "line break" in refused.reasons[0] and "WallDuration" in refused.reasons[1]


def test_every_record_rejected_leaves_no_message() -> None:
    future = NOW + timedelta(days=3)
    rows = [{**row, "end_time": future} for row in jobs(2)]
    messages, [lost] = checked_messages(build_jobs, rows, NOW)
    assert messages == [] and len(lost.rows) == 2
    assert "more than 2 days in the future" in lost.reasons[0]


def test_summaries_checked_too() -> None:
    def build(rows: Sequence[Row]) -> list[Message]:
        return summary_messages(rows)

    negative = {**SUMMARY, "cpu_duration": -1}
    messages, [lost] = checked_messages(build, [SUMMARY, negative, SUMMARY], NOW)
    assert [m.records for m in messages] == [2]
    assert lost.reasons == ["negative CpuDuration: -1"]


def publication(**fields: object) -> Publication:
    base: dict[str, object] = {
        "kind": "summary",
        "header": "APEL-summary-job-message: v0.2",
        "destination": "dirq",
        "message_id": "00000000/00000000000000",
        "records": 10,
        "bytes": 100,
        "sites": ("S",),
        "months": ("2026-02",),
        "status": "queued",
    }
    return Publication(**{**base, **fields})  # type: ignore[arg-type]


def test_report() -> None:
    result = PublishResult(
        run_id="r",
        dry_run=False,
        publications=[
            publication(),
            publication(records=5),
            publication(kind="sync", records=3),
            publication(status="rejected", records=1, message_id=None, error="negative"),
        ],
        withheld_jobs=12,
    )
    assert result.report() == [
        "dirq: 2 summary messages (15 records)",
        "dirq: 1 sync message (3 records)",
        "rejected: 1 summary record (S 2026-02): negative",
        "withheld: 12 jobs without a benchmark (see 'batchacct benchmarks missing'; once"
        " benchmarked and renormalised, the next run sends them)",
    ]
    assert PublishResult(run_id="r", dry_run=True).report() == ["nothing to send"]


def test_outputs_destinations(tmp_path: Path) -> None:
    assert Outputs().destinations() == ()
    assert Outputs(outgoing=tmp_path).destinations() == ("dirq",)
    assert Outputs(outgoing=tmp_path, dry_run=io.StringIO()).destinations() == ("dry-run",)


def test_service_flags_override_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHACCT_DATABASE_URL", "postgresql://nowhere/x")
    monkeypatch.setenv("BATCHACCT_PUBLISH_SITES", "SITE-A, SITE-B,")
    monkeypatch.setenv("BATCHACCT_PUBLISH_EXCLUDE_VOS", "ops")
    monkeypatch.setenv("BATCHACCT_PUBLISH_MODE", "jobs")
    monkeypatch.setenv("BATCHACCT_PUBLISH_WITHHOLD_DNS", "true")
    settings = PublisherSettings()
    assert settings.publish_sites == ("SITE-A", "SITE-B")
    assert settings.kafka_bootstrap_servers == ""  # only the Kafka output needs a broker
    parser = build_parser()
    from_env = options_from(parser.parse_args([]), settings)
    assert from_env == PublishOptions(
        mode="jobs", sites=("SITE-A", "SITE-B"), exclude_vos=("ops",), withhold_dns=True
    )
    flags = parser.parse_args(["--site", "X", "--mode", "jobs", "--jobs", "all", "--local-jobs"])
    assert options_from(flags, settings) == PublishOptions(
        mode="jobs",
        jobs="all",
        sites=("X",),
        exclude_vos=("ops",),
        withhold_dns=True,
        local_jobs=True,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--once", "--interval", "60"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--interval", "0"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--include-vo", "a", "--exclude-vo", "b"])
