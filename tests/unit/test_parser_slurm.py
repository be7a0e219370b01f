"""SlurmParser against the sacct samples and the values APEL 2.5.0 gives for them (EXPECTED.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batchacct.errors import ParseError, Reason, Rejection
from batchacct.parsers import (
    FileAwareParser,
    GroupedParser,
    ParserConfig,
    make_parser,
    parse_grouped,
    parse_line,
    parse_lines,
)
from batchacct.parsers.slurm import (
    MAX_HOSTS,
    SlurmParser,
    SlurmStepSumParser,
    expand_nodelist,
    parse_duration,
    parse_memory,
    slurm_parser,
)
from batchacct.records import BatchEvent
from tests.samples import sample_lines, utc

CONFIG = ParserConfig(site="testSite", machine_name="testHost")
SUM = replace(CONFIG, slurm_steps="sum")
FIXED_HEADER = (
    "JobID|JobName|User|Group|Start|End|Elapsed|CPUTimeRAW|Partition|NCPUS|NNodes|NodeList|"
    "MaxRSS|MaxVMSize|State"
)
# slurm.txt line 1, and the same job with the columns reordered and unknown ones added.
LINE1 = "1000|cream_176801680|dteam005|dteam|2013-03-27T17:13:24|2013-03-27T17:13:26|00:00:02|2|prod|1|1|cert-40|||COMPLETED"
SHUFFLED_HEADER = (
    "State|End|JobID|Foo|MaxVMSize|Partition|NNodes|Elapsed|User|Start|NodeList|Group|NCPUS|"
    "CPUTimeRAW|MaxRSS|ReqMem"
)
SHUFFLED_LINE1 = (
    "COMPLETED|2013-03-27T17:13:26|1000|bar||prod|1|00:00:02|dteam005|2013-03-27T17:13:24|"
    "cert-40|dteam|1|2||4000M"
)
# A richer header, as a site would ask for: TotalCPU, Submit, Account, ExitCode.
RICH_HEADER = (
    "JobID|JobName|User|Group|Account|Partition|Submit|Start|End|Elapsed|TotalCPU|CPUTimeRAW|"
    "NCPUS|NNodes|NodeList|MaxRSS|MaxVMSize|ExitCode|State"
)
RICH_LINE = (
    "4242_7|sim|alice|atlas|atlas-prod|long|2024-05-01T09:00:00|2024-05-01T10:00:00|"
    "2024-05-01T12:00:00|02:00:00|07:59:30.600|57600|8|2|wn[01-02]|2.50G|3.00G|0:0|COMPLETED"
)


def parse(line: str, config: ParserConfig = CONFIG, header: str | None = None) -> BatchEvent | None:
    parser = slurm_parser(config)
    if header is not None:
        parser.begin_file(header)
    result = parser.parse(line, "slurm_acc", 1)
    assert result is None or isinstance(result, BatchEvent)
    return result


def parsed(line: str, config: ParserConfig = CONFIG, header: str | None = None) -> BatchEvent:
    record = parse(line, config, header)
    assert record is not None
    return record


def reason_of(line: str, config: ParserConfig = CONFIG, header: str | None = None) -> Reason:
    with pytest.raises(ParseError) as caught:
        parse(line, config, header)
    return caught.value.reason


def replaced(line: str, old: str, new: str) -> str:
    assert line.count(old) == 1, old
    return line.replace(old, new)


@dataclass(frozen=True)
class Expected:
    """One row of EXPECTED.md's slurm.txt table, with our value where we deliberately differ."""

    line_no: int
    local_job_id: str
    user: str | None
    group: str | None
    queue: str | None
    start: str
    end: str
    wall: int
    cpu: int
    memory_real: int | None
    memory_virtual: int | None
    node_count: int
    processors: int

    @property
    def is_step(self) -> bool:
        return "." in self.local_job_id


JOB_123 = ("123", None, None, None, "2013-10-25T12:11:20", "2013-10-25T12:11:36", 16, 16, 28, 20)
EXPECTED = [
    Expected(
        1,
        "1000",
        "dteam005",
        "dteam",
        "prod",
        "2013-03-27T17:13:24",
        "2013-03-27T17:13:26",
        2,
        2,
        None,
        None,
        1,
        1,
    ),
    # Lines 2-5 are step rows (JobID "<job>.batch"). APEL makes each a job named
    # "278952.batch"; when sacct prints a job with its steps, that counts the job two or three
    # times. We ignore step rows ("jobs" mode) or fold them into their job ("sum" mode), where a
    # job known only by its steps is the job "278952" with the values below.
    Expected(
        2,
        "278952.batch",
        None,
        None,
        None,
        "2013-10-23T21:37:24",
        "2013-10-25T00:01:37",
        95053,
        95053,
        449024,
        1567524,
        1,
        1,
    ),
    Expected(
        3,
        "297720.batch",
        None,
        None,
        None,
        "2013-10-25T12:11:20",
        "2013-10-25T12:11:36",
        16,
        16,
        3228,
        23820,
        1,
        1,
    ),
    # 1.40G and 2.22G are truncated to whole KiB, as APEL's int() does: 1468006.4, 2327838.72.
    Expected(
        4,
        "321439.batch",
        None,
        None,
        None,
        "2013-10-27T17:09:35",
        "2013-10-28T04:47:20",
        41865,
        41865,
        770728,
        1468006,
        1,
        1,
    ),
    Expected(
        5,
        "320816.batch",
        None,
        None,
        None,
        "2013-10-27T14:56:03",
        "2013-10-28T05:03:50",
        50867,
        50867,
        1325232,
        2327838,
        1,
        1,
    ),
    # Lines 6-8 hold TotalCPU (d-hh:mm:ss, hh:mm:ss, mm:ss.fff) in the CPUTimeRAW column.
    Expected(
        6,
        "5940815",
        "user1",
        "group1",
        "partition",
        "2018-06-03T02:11:12",
        "2018-06-05T03:36:08",
        177896,
        747636,
        None,
        None,
        1,
        8,
    ),
    Expected(
        7,
        "5961074",
        "user2",
        "group2",
        "partition",
        "2018-06-05T13:30:17",
        "2018-06-05T14:40:05",
        4188,
        4158,
        None,
        None,
        1,
        1,
    ),
    # 01:05.753 is 65.753 s, rounded to 66.
    Expected(
        8,
        "5979785",
        "user3",
        "group3",
        "partition",
        "2018-06-05T14:59:34",
        "2018-06-05T15:02:59",
        205,
        66,
        None,
        None,
        1,
        1,
    ),
    # Lines 9-14: the same job in each final state APEL accepts.
    *(Expected(line_no, *JOB_123, 1, 1) for line_no in range(9, 15)),
    Expected(
        15,
        "1007",
        "dt5",
        "dtm",
        "prod",
        "2013-03-27T17:13:41",
        "2013-03-27T17:13:44",
        3,
        3,
        None,
        None,
        1,
        1,
    ),
]


def check_expected(record: BatchEvent, expected: Expected, local_job_id: str) -> None:
    assert record.local_job_id == local_job_id
    assert record.local_user_id == expected.user
    assert record.local_user_group == expected.group
    assert record.queue == expected.queue
    assert record.start_time == utc(expected.start)
    assert record.end_time == utc(expected.end)
    assert record.wall_duration == expected.wall
    assert record.cpu_duration == expected.cpu
    assert record.memory_real == expected.memory_real
    assert record.memory_virtual == expected.memory_virtual
    assert record.node_count == expected.node_count
    assert record.processors == expected.processors
    assert record.site == "testSite"
    assert record.machine_name == "testHost"
    assert record.infrastructure_description == "APEL-CREAM-SLURM"
    assert record.key == f"testSite/{local_job_id}"


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: f"line{e.line_no}")
def test_sample_lines_in_jobs_mode(formats_dir: Path, expected: Expected) -> None:
    line = sample_lines(formats_dir, "slurm.txt")[expected.line_no - 1]
    record = SlurmParser(CONFIG).parse(line, "slurm.txt", expected.line_no)
    if expected.is_step:
        assert record is None  # a step row: its job row, when sacct prints it, is the record
        return
    assert record is not None
    check_expected(record, expected, expected.local_job_id)
    assert (record.source_format, record.source_file, record.source_line) == (
        "slurm",
        "slurm.txt",
        expected.line_no,
    )


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: f"line{e.line_no}")
def test_sample_lines_in_sum_mode(formats_dir: Path, expected: Expected) -> None:
    line = sample_lines(formats_dir, "slurm.txt")[expected.line_no - 1]
    record = SlurmStepSumParser(SUM).parse(line, "slurm.txt", expected.line_no)
    assert record is not None
    check_expected(record, expected, expected.local_job_id.partition(".")[0])


def test_sample_file_in_sum_mode_is_one_entry_per_line(formats_dir: Path) -> None:
    """Every line of slurm.txt is a job of its own; lines 9-14 repeat job 123's row, and a
    repeated row is a new entry (a requeued job), so they stay six records as in APEL."""
    raw = (formats_dir / "slurm.txt").read_bytes().splitlines()
    results = list(parse_lines(make_parser("slurm", SUM), raw, "slurm.txt"))
    assert [line_no for line_no, _ in results] == list(range(1, 16))
    for (_, record), expected in zip(results, EXPECTED, strict=True):
        assert isinstance(record, BatchEvent)
        check_expected(record, expected, expected.local_job_id.partition(".")[0])


def test_fields_apel_does_not_extract(formats_dir: Path) -> None:
    record = parsed(sample_lines(formats_dir, "slurm.txt")[0])
    assert record.exec_hosts == ["cert-40"]
    assert record.submit_time is None  # no Submit column in APEL's fixed order
    assert record.account is None
    assert record.exit_status is None
    assert record.from_host is None
    assert record.host_factor is None


@pytest.mark.parametrize("config", [CONFIG, SUM], ids=["jobs", "sum"])
def test_unfinished_states_are_ignored(formats_dir: Path, config: ParserConfig) -> None:
    # BOOT_FAIL, CONFIGURING, COMPLETING, DEADLINE, PENDING, RUNNING, RESIZING, SUSPENDED.
    # DEADLINE is a job SLURM ended at its deadline, mostly before it ever started; like APEL we
    # ignore it.
    lines = sample_lines(formats_dir, "slurm-ignored.txt")
    assert len(lines) == 8
    for line in lines:
        assert parse(line, config) is None
    raw = (formats_dir / "slurm-ignored.txt").read_bytes().splitlines()
    results = list(parse_lines(make_parser("slurm", config), raw, "slurm-ignored.txt"))
    assert [result for _, result in results] == [None] * 8


MALFORMED_STEPS = [
    # APEL: "Incorrect memory value of 0. Should be blank or non-zero." We accept 0 as 0 KiB:
    # sacct prints 0 for a job that used no measurable memory (it prints any zero bare), and
    # rejecting a real, finished job for that loses its usage.
    (1, None, 0, 0),
    (2, None, 0, 0),
    # APEL: "Unsupported unit prefix 'H'".
    (3, Reason.BAD_UNIT, None, None),
    # APEL: "StopTime less than StartTime".
    (4, Reason.INCONSISTENT, None, None),
    # APEL: "Negative CpuDuration value". A negative duration is INCONSISTENT, as in the LSF
    # parser, not BAD_NUMBER: the number reads fine, what it says cannot be.
    (5, Reason.INCONSISTENT, None, None),
]


@pytest.mark.parametrize(("line_no", "reason", "rss", "vms"), MALFORMED_STEPS)
def test_malformed_samples(
    formats_dir: Path, line_no: int, reason: Reason | None, rss: int | None, vms: int | None
) -> None:
    line = sample_lines(formats_dir, "slurm-malformed.txt")[line_no - 1]
    # All five are step rows: "jobs" mode ignores them before reading their values.
    assert parse(line) is None
    # As entries of their own in "sum" mode, and as job rows in "jobs" mode, they are read.
    as_job_row = replaced(line, ".batch|", "|")
    for config, text in ((SUM, line), (CONFIG, as_job_row)):
        outcome = parse_line(make_parser("slurm", config), text.encode(), "bad.txt", line_no)
        if reason is None:
            assert isinstance(outcome, BatchEvent)
            assert (outcome.memory_real, outcome.memory_virtual) == (rss, vms)
        else:
            assert isinstance(outcome, Rejection)
            assert outcome.reason == reason.value
            assert (outcome.file, outcome.line, outcome.raw) == ("bad.txt", line_no, text)
            assert (outcome.source_format, outcome.site) == ("slurm", "testSite")


def test_malformed_file_in_sum_mode(formats_dir: Path) -> None:
    """Lines 2-4 are all "324554.batch": a JobID seen again starts a new entry, so each line is
    judged alone."""
    raw = (formats_dir / "slurm-malformed.txt").read_bytes().splitlines()
    results = list(parse_lines(make_parser("slurm", SUM), raw, "slurm-malformed.txt"))
    assert [line_no for line_no, _ in results] == [1, 2, 3, 4, 5]
    outcomes = [r.reason if isinstance(r, Rejection) else type(r).__name__ for _, r in results]
    assert outcomes == ["BatchEvent", "BatchEvent", "bad_unit", "inconsistent", "inconsistent"]
    first = results[0][1]
    assert isinstance(first, BatchEvent)
    assert first.local_job_id == "324543"


# --- header lines -----------------------------------------------------------------------------


def test_header_with_reordered_and_unknown_columns_reads_the_same_values() -> None:
    assert parsed(SHUFFLED_LINE1, header=SHUFFLED_HEADER) == parsed(LINE1)
    assert parsed(LINE1, header=FIXED_HEADER) == parsed(LINE1)


def test_header_line_sets_the_columns_and_is_ignored() -> None:
    parser = SlurmParser(CONFIG)
    parser.begin_file(LINE1)
    assert parser.parse(SHUFFLED_HEADER, "f", 1) is None
    record = parser.parse(SHUFFLED_LINE1, "f", 2)
    assert record is not None
    assert record == replace(parsed(LINE1), source_file="f", source_line=2)


def test_header_names_are_matched_without_regard_to_case() -> None:
    assert parsed(LINE1, header=FIXED_HEADER.lower()) == parsed(LINE1)


def test_a_header_further_down_replaces_the_columns() -> None:
    """Outputs concatenated into one file: each part's header holds for the rows after it."""
    lines = [FIXED_HEADER, LINE1, SHUFFLED_HEADER, SHUFFLED_LINE1, FIXED_HEADER, LINE1]
    results = list(parse_lines(SlurmParser(CONFIG), [x.encode() for x in lines], "cat"))
    records = [result for _, result in results]
    assert records[0::2] == [None, None, None]
    assert all(isinstance(record, BatchEvent) for record in records[1::2])
    assert {record.local_job_id for record in records[1::2] if isinstance(record, BatchEvent)} == {
        "1000"
    }


def test_file_without_header_after_one_with_a_header_reads_the_fixed_order() -> None:
    parser = SlurmParser(CONFIG)
    parser.begin_file(SHUFFLED_HEADER)
    parser.begin_file(LINE1)
    assert parser.parse(LINE1, "f", 1) == replace(parsed(LINE1), source_file="f")


def test_resumed_file_uses_the_header_given_to_begin_file() -> None:
    """A collector resuming in the middle of a file gives begin_file the file's first line and
    then parses from the checkpoint on, without parsing the header line again."""
    parser = make_parser("slurm", CONFIG)
    assert isinstance(parser, FileAwareParser)
    parser.begin_file(SHUFFLED_HEADER)
    record = parser.parse(SHUFFLED_LINE1, "slurm_acc", 40)
    assert record == replace(parsed(LINE1), source_line=40)


def test_parsable_output_with_a_trailing_bar_is_accepted() -> None:
    # sacct -p (not --parsable2) ends every line, the header too, with "|".
    assert parsed(SHUFFLED_LINE1 + "|", header=SHUFFLED_HEADER + "|") == parsed(LINE1)
    assert parsed(LINE1 + "|") == parsed(LINE1)


def test_header_without_required_columns_rejects_the_header_and_its_rows() -> None:
    header = "JobID|User|Start|Elapsed|CPUTimeRAW"
    parser = SlurmParser(CONFIG)
    with pytest.raises(ParseError) as caught:
        parser.parse(header, "f", 1)
    assert caught.value.reason is Reason.MISSING_FIELD
    assert "End, State" in caught.value.detail
    with pytest.raises(ParseError) as caught:
        parser.parse("1000|dteam005|2013-03-27T17:13:24|00:00:02|2", "f", 2)
    assert caught.value.reason is Reason.MISSING_FIELD
    assert "End, State" in caught.value.detail
    # The same when the header came through begin_file (a resumed file).
    assert reason_of("1000|dteam005|2013-03-27T17:13:24|00:00:02|2", header=header) is (
        Reason.MISSING_FIELD
    )


def test_header_without_cpu_columns_is_rejected() -> None:
    header = "JobID|Start|End|Elapsed|State"
    line = "1000|2013-03-27T17:13:24|2013-03-27T17:13:26|00:00:02|COMPLETED"
    with pytest.raises(ParseError) as caught:
        parse(line, header=header)
    assert caught.value.reason is Reason.MISSING_FIELD
    assert "TotalCPU or CPUTimeRAW" in caught.value.detail


def test_rich_header_fills_every_field() -> None:
    record = parsed(RICH_LINE, header=RICH_HEADER)
    assert record.local_job_id == "4242_7"  # a job array element keeps its index
    assert (record.local_user_id, record.local_user_group) == ("alice", "atlas")
    assert (record.account, record.queue) == ("atlas-prod", "long")
    assert record.submit_time == utc("2024-05-01T09:00:00")
    assert record.start_time == utc("2024-05-01T10:00:00")
    assert record.end_time == utc("2024-05-01T12:00:00")
    assert record.wall_duration == 7200
    # TotalCPU 07:59:30.600, rounded, and not CPUTimeRAW (57600 = Elapsed x NCPUS).
    assert record.cpu_duration == 28771
    assert (record.processors, record.node_count) == (8, 2)
    assert record.exec_hosts == ["wn01", "wn02"]
    assert (record.memory_real, record.memory_virtual) == (2621440, 3145728)
    assert record.exit_status == 0


def test_total_cpu_is_preferred_to_cputimeraw_in_any_column_order() -> None:
    header = "JobID|TotalCPU|State|Start|End|Elapsed|CPUTimeRAW"
    line = "77|01:00:00|COMPLETED|2024-05-01T10:00:00|2024-05-01T12:00:00|02:00:00|57600"
    assert parsed(line, header=header).cpu_duration == 3600
    header_after = "JobID|CPUTimeRAW|State|Start|End|Elapsed|TotalCPU"
    line_after = "77|57600|COMPLETED|2024-05-01T10:00:00|2024-05-01T12:00:00|02:00:00|01:00:00"
    assert parsed(line_after, header=header_after).cpu_duration == 3600


def test_aliases_elapsedraw_and_alloccpus() -> None:
    header = "JobID|State|Start|End|ElapsedRaw|TotalCPU|AllocCPUS"
    line = "77|COMPLETED|2024-05-01T10:00:00|2024-05-01T12:00:00|7200|01:00:00|4"
    record = parsed(line, header=header)
    assert (record.wall_duration, record.processors) == (7200, 4)
    assert record.node_count is None and record.exec_hosts == []


def test_a_data_row_is_never_taken_for_a_header() -> None:
    # A header is names only; a row has a JobID, which starts with a digit.
    parser = SlurmParser(CONFIG)
    parser.begin_file(SHUFFLED_HEADER)
    assert parser.parse(SHUFFLED_LINE1, "f", 1) is not None
    assert parser.layout.names[0] == "State"


@pytest.mark.parametrize(
    "first_line", ["", "\udcff\udcfe", "|||", "Foo|Bar", "JobID|", "x" * 10_000, "1|2", "\x00"]
)
def test_begin_file_never_raises(first_line: str) -> None:
    SlurmParser(CONFIG).begin_file(first_line)
    SlurmStepSumParser(SUM).begin_file(first_line)


# --- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("95053", 95053),
        ("00:00:16", 16),
        ("11:37:45", 41865),
        ("1-02:24:13", 95053),
        ("8-15:40:36", 747636),
        ("01:05.753", 66),
        ("01:05.500", 66),  # half up
        ("01:05.499", 65),
        ("00:00.002", 0),
        ("07:59:30.600", 28771),
        ("123:00:00", 442800),  # hours past a day, from tools that print no days
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "INVALID",
        "1:2:3:4",
        "00:60:00",
        "00:00:60",
        "1-05:30",
        "1-24:00:00",
        "12.5",
        " 12",
        "+3",
        "٣",
    ],
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "kib"),
    [
        ("", None),
        ("0", 0),
        ("28K", 28),
        ("438.50M", 449024),
        ("1.40G", 1468006),
        ("2.22G", 2327838),
        ("1567524K", 1567524),
        ("2T", 2 * 1024**3),
        ("1P", 1024**4),
        ("0.5K", 0),
        # A bare number is bytes: SLURM >= 17.11 keeps memory in bytes and prints no suffix below
        # 1 KiB or with --noconvert. APEL rejects any bare number.
        ("1048576", 1024),
        ("1023", 0),
    ],
)
def test_memory(text: str, kib: int | None) -> None:
    assert parse_memory(text) == kib


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("16?", Reason.BAD_UNIT),  # SLURM 15 (APEL issue #114): one line, not the whole file
        ("20H", Reason.BAD_UNIT),
        ("54J", Reason.BAD_UNIT),
        ("12KB", Reason.BAD_UNIT),
        ("12k", Reason.BAD_UNIT),
        ("1.5", Reason.BAD_UNIT),
        ("K", Reason.BAD_NUMBER),
        ("-5K", Reason.BAD_NUMBER),
        ("abc", Reason.BAD_NUMBER),
        ("9" * 30 + "K", Reason.BAD_NUMBER),
    ],
)
def test_bad_memory(text: str, reason: Reason) -> None:
    with pytest.raises(ParseError) as caught:
        parse_memory(text)
    assert caught.value.reason is reason


def test_bad_memory_rejects_only_its_line() -> None:
    lines = [LINE1, replaced(LINE1, "|||COMPLETED", "|16?|16?|COMPLETED"), LINE1]
    results = [r for _, r in parse_lines(SlurmParser(CONFIG), [x.encode() for x in lines], "f")]
    assert isinstance(results[0], BatchEvent) and isinstance(results[2], BatchEvent)
    assert isinstance(results[1], Rejection)
    assert results[1].reason == "bad_unit"
    assert "MaxRSS" in results[1].detail


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("wn", ["wn"]),
        ("wn[01-03,07]", ["wn01", "wn02", "wn03", "wn07"]),
        ("wn[8-11]", ["wn8", "wn9", "wn10", "wn11"]),
        ("wn[098-101]", ["wn098", "wn099", "wn100", "wn101"]),
        ("wn[1-2],gpu5,cpu[3]", ["wn1", "wn2", "gpu5", "cpu3"]),
        ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
        ("node[1-2]-ib", ["node1-ib", "node2-ib"]),
    ],
)
def test_expand_nodelist(text: str, hosts: list[str]) -> None:
    assert expand_nodelist(text) == hosts


@pytest.mark.parametrize(
    "text",
    [
        "wn[1-3",
        "wn1-3]",
        "wn[[1]]",
        "wn[]",
        "wn[a-b]",
        "wn[5-3]",
        "wn[1-2],",
        ",wn",
        f"w[0-{MAX_HOSTS}]",
    ],
)
def test_bad_nodelist(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        expand_nodelist(text)
    assert caught.value.reason is Reason.MALFORMED


def test_nodelist_in_a_record() -> None:
    assert parsed(replaced(LINE1, "|cert-40|", "|wn[01-02]|")).exec_hosts == ["wn01", "wn02"]
    assert parsed(replaced(LINE1, "|cert-40|", "|None assigned|")).exec_hosts == []
    assert reason_of(replaced(LINE1, "|cert-40|", "|wn[2-1]|")) is Reason.MALFORMED
    # Each record gets its own list, though expansions are cached.
    first, second = parsed(LINE1), parsed(LINE1)
    first.exec_hosts.append("x")
    assert second.exec_hosts == ["cert-40"]


@pytest.mark.parametrize(("text", "status"), [("0:0", 0), ("1:0", 1), ("0:9", 137), ("", None)])
def test_exit_code_is_code_or_128_plus_signal(text: str, status: int | None) -> None:
    # A job killed by a signal gets 128 + its number, as a shell reports it and as the LSF
    # parser gives it; the issue asked for N of N:M, which says 0 for a job killed by SIGKILL.
    header = "JobID|State|Start|End|Elapsed|TotalCPU|ExitCode"
    line = f"5|FAILED|2024-05-01T10:00:00|2024-05-01T10:00:09|00:00:09|00:01.000|{text}"
    assert parsed(line, header=header).exit_status == status


@pytest.mark.parametrize("text", ["0", "a:b", "1:2:3", "-1:0"])
def test_bad_exit_code(text: str) -> None:
    header = "JobID|State|Start|End|Elapsed|TotalCPU|ExitCode"
    line = f"5|FAILED|2024-05-01T10:00:00|2024-05-01T10:00:09|00:00:09|00:01.000|{text}"
    assert reason_of(line, header=header) is Reason.BAD_NUMBER


# --- states -------------------------------------------------------------------------------------


def test_cancelled_by_a_user_is_final() -> None:
    # sacct's real output for a cancelled job; APEL's exact match ignores it.
    record = parsed(replaced(LINE1, "|COMPLETED", "|CANCELLED by 1234"))
    assert record.local_job_id == "1000"


def test_out_of_memory_is_final() -> None:
    # SLURM >= 17.11 ends a job the kernel killed for memory in OUT_OF_MEMORY; it used its
    # resources, so it is accounted (APEL ignores it).
    assert parsed(replaced(LINE1, "|COMPLETED", "|OUT_OF_MEMORY")).cpu_duration == 2


def test_unknown_state_is_rejected_not_ignored() -> None:
    # A State SLURM does not have is a shifted column or a new state: both need a look.
    assert reason_of(replaced(LINE1, "|COMPLETED", "|FINISHED")) is Reason.MALFORMED
    assert reason_of(replaced(LINE1, "|COMPLETED", "|")) is Reason.MISSING_FIELD


def test_job_cancelled_before_it_started_is_ignored() -> None:
    """sacct prints Start Unknown (None in newer versions) and Elapsed 0 for a job cancelled
    while pending. It used nothing; like LSF's startTime 0, it is ignored, not rejected."""
    for start in ("Unknown", "None", ""):
        line = replaced(
            LINE1,
            "2013-03-27T17:13:24|2013-03-27T17:13:26|00:00:02",
            f"{start}|2013-03-27T17:13:26|00:00:00",
        )
        assert parse(replaced(line, "|COMPLETED", "|CANCELLED by 0")) is None


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("2013-03-27T17:13:24|", "Unknown|", Reason.MISSING_FIELD),  # ran 2 s, but no start
        ("2013-03-27T17:13:26|", "Unknown|", Reason.MISSING_FIELD),
        ("2013-03-27T17:13:26|", "|", Reason.MISSING_FIELD),
        ("2013-03-27T17:13:24|", "2013-03-27 17:13:24x|", Reason.BAD_TIMESTAMP),
        ("2013-03-27T17:13:24|", "2013-02-30T17:13:24|", Reason.BAD_TIMESTAMP),
        ("2013-03-27T17:13:24|", "27/03/2013 17:13:24|", Reason.BAD_TIMESTAMP),
        ("2013-03-27T17:13:24|", "2013-03-27T1a:13:24|", Reason.BAD_TIMESTAMP),
        ("2013-03-27T17:13:24|", "2013-03-27T17:13:27|", Reason.INCONSISTENT),  # after End
        ("|00:00:02|", "|x|", Reason.BAD_NUMBER),
        ("|00:00:02|", "||", Reason.MISSING_FIELD),
        ("|00:00:02|2|", "|00:00:02|-2|", Reason.INCONSISTENT),
        ("|00:00:02|2|", "|00:00:02||", Reason.MISSING_FIELD),
        ("|prod|1|1|", "|prod|one|1|", Reason.BAD_NUMBER),
        ("|prod|1|1|", "|prod|1|-1|", Reason.BAD_NUMBER),
        ("1000|", "abc|", Reason.MALFORMED),
        ("1000|", "1000.x.y|", Reason.MALFORMED),
        ("1000|", "|", Reason.MISSING_FIELD),
        ("|cert-40|", "|cert-40|x|", Reason.MALFORMED),  # one field too many
        ("|cert-40|", "|", Reason.MALFORMED),  # one too few
    ],
)
def test_bad_fields_are_rejected_with_a_reason(old: str, new: str, reason: Reason) -> None:
    assert reason_of(replaced(LINE1, old, new)) is reason


@pytest.mark.parametrize("line", ["", "   ", "garbage", "a|b|c", "|" * 14, "1000", "JobID"])
def test_lines_that_are_not_rows_are_malformed(line: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line)
    assert caught.value.reason in (Reason.MALFORMED, Reason.MISSING_FIELD)
    assert caught.value.detail


def test_garbage_detail_says_what_is_wrong() -> None:
    with pytest.raises(ParseError) as caught:
        parse("garbage")
    assert caught.value.detail == (
        "row has 1 '|'-separated fields; APEL's fixed order has 15 (add a header line to use "
        "other columns)"
    )


def test_step_rows_are_ignored_in_jobs_mode() -> None:
    for step in ("1000.batch", "1000.extern", "1000.0", "1000_3.batch", "1000+1.0"):
        assert parse(replaced(LINE1, "1000|", f"{step}|")) is None


def test_job_ids_as_sacct_writes_them() -> None:
    for job_id in ("1000_3", "1000+1", "1000_3+0"):
        assert parsed(replaced(LINE1, "1000|", f"{job_id}|")).local_job_id == job_id
    # A pending array is a valid row, ignored for its state.
    pending = replaced(replaced(LINE1, "1000|", "1000_[1-50%5]|"), "|COMPLETED", "|PENDING")
    assert parse(pending) is None


# --- time zones ---------------------------------------------------------------------------------

ZURICH = replace(CONFIG, timezone=ZoneInfo("Europe/Zurich"))


def times_line(start: str, end: str, elapsed: str) -> str:
    return replaced(
        LINE1,
        "2013-03-27T17:13:24|2013-03-27T17:13:26|00:00:02",
        f"{start}|{end}|{elapsed}",
    )


def test_times_are_read_in_the_configured_zone() -> None:
    winter = parsed(times_line("2013-01-15T12:00:00", "2013-01-15T13:00:00", "01:00:00"), ZURICH)
    assert (winter.start_time, winter.end_time) == (
        utc("2013-01-15T11:00:00"),
        utc("2013-01-15T12:00:00"),
    )
    summer = parsed(times_line("2013-07-15T12:00:00", "2013-07-15T13:00:00", "01:00:00"), ZURICH)
    assert summer.start_time == utc("2013-07-15T10:00:00")
    assert summer.start_time.tzinfo is UTC and summer.end_time.tzinfo is UTC


def test_job_across_the_end_of_dst() -> None:
    """27 Oct 2013, 03:00 CEST became 02:00 CET: the job's wall clock says 2 h, it ran 3 h."""
    line = times_line("2013-10-27T01:30:00", "2013-10-27T03:30:00", "03:00:00")
    record = parsed(line, ZURICH)
    assert record.start_time == utc("2013-10-26T23:30:00")
    assert record.end_time == utc("2013-10-27T02:30:00")
    assert (record.end_time - record.start_time).total_seconds() == record.wall_duration


def test_job_across_the_start_of_dst() -> None:
    line = times_line("2013-03-31T01:30:00", "2013-03-31T03:30:00", "01:00:00")
    record = parsed(line, ZURICH)
    assert record.start_time == utc("2013-03-31T00:30:00")
    assert record.end_time == utc("2013-03-31T01:30:00")


def test_repeated_hour_is_read_as_its_first_occurrence() -> None:
    # 02:30 happened twice on 27 Oct 2013 in Zurich: at 00:30Z (CEST) and at 01:30Z (CET).
    line = times_line("2013-10-27T02:30:00", "2013-10-27T02:40:00", "00:10:00")
    record = parsed(line, ZURICH)
    assert record.start_time == utc("2013-10-27T00:30:00")


AROUND_DST = [
    "2013-10-27T01:59:59",
    "2013-10-27T02:00:00",
    "2013-10-27T02:59:59",
    "2013-10-27T03:00:00",
    "2013-03-31T01:59:59",
    "2013-03-31T02:30:00",
    "2013-03-31T03:00:00",
    "2024-02-29T23:59:59",
]


def test_hour_cache_gives_the_same_times_as_zoneinfo() -> None:
    parser = SlurmParser(ZURICH)
    zone = ZoneInfo("Europe/Zurich")
    for text in AROUND_DST:
        for _ in range(2):  # the second time from the cache
            expected = datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)
            assert parser._utc(text, "Start") == expected


def test_explicit_offsets_are_honoured() -> None:
    line = times_line("2013-01-15T12:00:00+03:00", "2013-01-15T10:00:00Z", "01:00:00")
    record = parsed(line, ZURICH)
    assert (record.start_time, record.end_time) == (
        utc("2013-01-15T09:00:00"),
        utc("2013-01-15T10:00:00"),
    )


def test_utc_zone_object_reads_like_no_zone() -> None:
    assert parsed(LINE1, replace(CONFIG, timezone=ZoneInfo("UTC"))) == parsed(LINE1)
    assert parsed(LINE1, replace(CONFIG, timezone=UTC)) == parsed(LINE1)


# --- invalid UTF-8 ------------------------------------------------------------------------------


def test_non_utf8_byte_in_the_job_name_is_harmless() -> None:
    raw = replaced(LINE1, "cream_176801680", "cream_@").encode().replace(b"@", b"\xff")
    record = parse_line(make_parser("slurm", CONFIG), raw, "slurm_acc", 3)
    assert isinstance(record, BatchEvent)
    assert record.local_job_id == "1000"


def test_non_utf8_byte_in_the_user_name_is_rejected() -> None:
    raw = replaced(LINE1, "dteam005", "dteam@05").encode().replace(b"@", b"\xff")
    rejection = parse_line(make_parser("slurm", CONFIG), raw, "slurm_acc", 3)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_UTF8.value
    assert "dteam\ufffd05" in rejection.raw


@pytest.mark.parametrize("config", [CONFIG, SUM], ids=["jobs", "sum"])
def test_non_utf8_bytes_in_other_fields_give_a_rejection(config: ParserConfig) -> None:
    for old in ("1000|", "|2013-03-27T17:13:24|", "|COMPLETED", "|cert-40|", "|00:00:02|"):
        raw = replaced(LINE1, old, old[:-1] + "@" + old[-1:]).encode().replace(b"@", b"\xfe")
        outcome = parse_line(make_parser("slurm", config), raw, "slurm_acc", 3)
        assert isinstance(outcome, Rejection), old


# --- steps: "sum" mode --------------------------------------------------------------------------

STEPS_HEADER = "JobID|State|Start|End|Elapsed|TotalCPU|NCPUS|NNodes|NodeList|MaxRSS|MaxVMSize|User"
JOB = "900|COMPLETED|2024-05-01T10:00:00|2024-05-01T11:00:00|01:00:00|00:50:00|4|1|wn1|||bob"
BATCH = "900.batch|COMPLETED|2024-05-01T10:00:00|2024-05-01T11:00:00|01:00:00|00:40:00|4|1|wn1|2.00G|3.00G|"
EXTERN = "900.extern|COMPLETED|2024-05-01T10:00:00|2024-05-01T11:00:00|01:00:00|00:00.004|4|1|wn1|1024K|5.00G|"
STEP0 = "900.0|FAILED|2024-05-01T10:10:00|2024-05-01T10:20:00|00:10:00|00:09:59.800|4|1|wn1|3.00G|1024K|"


def sum_parser() -> SlurmStepSumParser:
    parser = SlurmStepSumParser(SUM)
    parser.begin_file(STEPS_HEADER)
    return parser


def sum_parse(*rows: str) -> BatchEvent | None:
    return sum_parser().parse("\n".join(rows), "slurm_acc", 2)


def test_make_parser_picks_the_class_for_the_steps_setting() -> None:
    jobs = make_parser("slurm", CONFIG)
    summing = make_parser("slurm", SUM)
    assert type(jobs) is SlurmParser and not isinstance(jobs, GroupedParser)
    assert type(summing) is SlurmStepSumParser and isinstance(summing, GroupedParser)
    assert isinstance(jobs, FileAwareParser) and isinstance(summing, FileAwareParser)
    with pytest.raises(ValueError, match="slurm_parser"):
        SlurmParser(SUM)
    with pytest.raises(ValueError, match="slurm_parser"):
        SlurmStepSumParser(CONFIG)
    with pytest.raises(ValueError, match="'jobs' or 'sum'"):
        make_parser("slurm", replace(CONFIG, slurm_steps="all"))


def test_job_with_steps_sums_cpu_and_takes_the_largest_memory() -> None:
    record = sum_parse(JOB, BATCH, EXTERN, STEP0)
    assert record is not None
    assert record.local_job_id == "900"
    assert record.local_user_id == "bob"
    assert (record.start_time, record.end_time) == (
        utc("2024-05-01T10:00:00"),
        utc("2024-05-01T11:00:00"),
    )
    assert record.wall_duration == 3600
    assert record.cpu_duration == 2400 + 0 + 600  # the steps, not the job row's 3000
    assert record.memory_real == 3 * 1024**2
    assert record.memory_virtual == 5 * 1024**2
    assert (record.processors, record.node_count, record.exec_hosts) == (4, 1, ["wn1"])
    assert record.source_line == 2


def test_job_row_alone_is_the_job() -> None:
    record = sum_parse(JOB)
    assert record is not None
    assert record.cpu_duration == 3000
    assert record.memory_real is None


def test_steps_without_their_job_row() -> None:
    record = sum_parse(BATCH, STEP0)
    assert record is not None
    assert record.local_job_id == "900"
    assert record.local_user_id is None
    assert record.cpu_duration == 2400 + 600
    assert record.wall_duration == 3600  # first step's start to last step's end
    assert record.memory_real == 3 * 1024**2


def test_job_row_state_decides() -> None:
    running = JOB.replace("COMPLETED", "RUNNING")
    assert sum_parse(running, BATCH) is None
    # A step still running, without a job row, means the job is too.
    assert sum_parse(BATCH, STEP0.replace("FAILED", "RUNNING")) is None
    # A step's own state does not matter when the job row says the job ended.
    assert sum_parse(JOB, STEP0.replace("FAILED", "CANCELLED by 7")) is not None


@pytest.mark.parametrize(
    ("rows", "reason", "detail"),
    [
        ((JOB, BATCH.replace("2.00G", "2.00X")), Reason.BAD_UNIT, "(row 2 of 2)"),
        ((JOB, "901.batch" + BATCH[9:]), Reason.MALFORMED, "two jobs"),
        ((JOB, BATCH, BATCH), Reason.MALFORMED, "twice"),
        ((JOB, STEPS_HEADER), Reason.MALFORMED, "header"),
        ((JOB, "garbage"), Reason.MALFORMED, "(row 2 of 2)"),
        ((JOB, ""), Reason.MALFORMED, "(row 2 of 2)"),
        ((JOB, BATCH.replace("|FAILED|", "|") + "|x"), Reason.MALFORMED, "fields"),
        ((JOB, STEP0.replace("FAILED", "WEIRD")), Reason.MALFORMED, "unknown State"),
    ],
)
def test_bad_entries_are_rejected_whole(rows: tuple[str, ...], reason: Reason, detail: str) -> None:
    with pytest.raises(ParseError) as caught:
        sum_parse(*rows)
    assert caught.value.reason is reason
    assert detail in caught.value.detail


def split(
    lines: list[str], final: bool, parser: SlurmStepSumParser | None = None
) -> tuple[list[tuple[int, int]], int]:
    return (parser or sum_parser()).split_groups(lines, final)


def test_split_groups() -> None:
    other = "901|COMPLETED|2024-05-01T10:00:00|2024-05-01T11:00:00|01:00:00|00:50:00|4|1|wn1|||bob"
    lines = [STEPS_HEADER, JOB, BATCH, EXTERN, "", other, "901.batch" + BATCH[9:], "garbage", JOB]
    assert split(lines, final=True) == ([(0, 1), (1, 4), (5, 7), (7, 8), (8, 9)], 9)
    # Not final: the last job may still get steps; it is offered again with the next lines.
    assert split(lines, final=False) == ([(0, 1), (1, 4), (5, 7), (7, 8)], 8)
    assert split([JOB, BATCH], final=False) == ([], 0)
    assert split([JOB, BATCH, ""], final=False) == ([(0, 2)], 3)
    assert split([], final=False) == ([], 0)
    assert split(["", "  "], final=False) == ([], 2)
    # A repeated job row (a requeued job, sacct -D) starts a new entry.
    assert split([JOB, BATCH, JOB, BATCH], final=True) == ([(0, 2), (2, 4)], 4)


def test_split_groups_follows_headers_within_the_lines() -> None:
    """The JobID column moves with a header in the middle of the lines being split."""
    moved = "User|JobID|State|Start|End|Elapsed|TotalCPU"
    row = "bob|{}|COMPLETED|2024-05-01T10:00:00|2024-05-01T11:00:00|01:00:00|00:50:00"
    lines = [moved, row.format(7), row.format("7.batch"), row.format(8)]
    assert split(lines, final=True) == ([(0, 1), (1, 3), (3, 4)], 4)


def test_split_groups_with_a_header_lacking_jobid_gives_single_lines() -> None:
    lines = ["User|State|Start", "bob|COMPLETED|2024-05-01T10:00:00", "bob|FAILED|x"]
    groups, consumed = split(lines, final=False)
    assert (groups, consumed) == ([(0, 1), (1, 2), (2, 3)], 3)
    results, _ = parse_grouped(sum_parser(), [x.encode() for x in lines], "f", 1, final=True)
    assert all(isinstance(result, Rejection) for _, result in results)


def test_parse_grouped_in_chunks_gives_what_one_pass_gives() -> None:
    other = "901|COMPLETED|2024-05-01T10:00:00|2024-05-01T11:00:00|01:00:00|00:50:00|4|1|wn1|||bob"
    lines = [STEPS_HEADER, JOB, BATCH, EXTERN, STEP0, other, "901.batch" + BATCH[9:]]
    raw = [line.encode() for line in lines]
    whole = list(parse_lines(make_parser("slurm", SUM), raw, "f"))
    for cut in range(len(raw) + 1):
        parser = make_parser("slurm", SUM)
        assert isinstance(parser, SlurmStepSumParser)
        parser.begin_file(lines[0])
        first, used = parse_grouped(parser, raw[:cut], "f", 1, final=False)
        rest, used_rest = parse_grouped(parser, raw[used:], "f", 1 + used, final=True)
        assert used + used_rest == len(raw)
        assert first + rest == whole
    records = [result for _, result in whole]
    assert records[0] is None
    assert [r.local_job_id for r in records[1:] if isinstance(r, BatchEvent)] == ["900", "901"]


def test_resumed_sum_file_uses_the_header_given_to_begin_file() -> None:
    parser = make_parser("slurm", SUM)
    assert isinstance(parser, SlurmStepSumParser)
    parser.begin_file(STEPS_HEADER)
    results, used = parse_grouped(parser, [JOB.encode(), BATCH.encode()], "f", 30, final=True)
    assert used == 2
    ((line_no, record),) = results
    assert line_no == 30
    assert isinstance(record, BatchEvent) and record.cpu_duration == 2400


def test_positional_fields_match_batch_event() -> None:
    import dataclasses

    from batchacct.parsers.slurm import _POSITIONAL_FIELDS

    names = tuple(f.name for f in dataclasses.fields(BatchEvent))
    assert names[: len(_POSITIONAL_FIELDS)] == _POSITIONAL_FIELDS
