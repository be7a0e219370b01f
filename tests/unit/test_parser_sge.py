"""SgeParser against the Grid Engine samples and the values APEL 2.5.0 gives (EXPECTED.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batchacct.errors import ParseError, Reason, Rejection
from batchacct.parsers import ParserConfig, make_parser, parse_line, parse_lines
from batchacct.parsers.sge import SgeParser, load_host_multipliers
from batchacct.records import BatchEvent
from tests.samples import sample_lines, utc

CONFIG = ParserConfig(site="testSite", machine_name="testHost")


def parse(line: str, config: ParserConfig = CONFIG) -> BatchEvent | None:
    return SgeParser(config).parse(line, "accounting", 1)


def parsed(line: str, config: ParserConfig = CONFIG) -> BatchEvent:
    record = parse(line, config)
    assert record is not None
    return record


def rejected(line: str) -> Reason:
    with pytest.raises(ParseError) as caught:
        parse(line)
    return caught.value.reason


def with_field(line: str, index: int, value: str) -> str:
    fields = line.split(":")
    fields[index] = value
    return ":".join(fields)


@dataclass(frozen=True)
class Expected:
    """One row of EXPECTED.md's SGE tables, with APEL's memory and ours (which differ)."""

    file: str
    line_no: int
    local_job_id: str
    user: str
    group: str
    queue: str  # APEL: null; we keep qname
    start: str
    end: str
    wall: int
    cpu: int
    processors: int
    # APEL's MemoryReal is int(mem × 1024 × 1024), but mem is an integral in GB·s, not a size,
    # and its MemoryVirtual is maxvmem in bytes, not KiB. Ours: the maximum resident set (Univa's
    # maxrss, else ru_maxrss; None when 0, i.e. never measured) and maxvmem, both in KiB.
    apel_memory_real: int
    apel_memory_virtual: int
    memory_real: int | None
    memory_virtual: int


EXPECTED = [
    # SGE 6.0: 43 fields, ru_maxrss 0 (not measured).
    Expected(
        "sge.acct",
        1,
        "43",
        "dteam041",
        "dteam",
        "dteam",
        "2008-01-11T23:14:54",
        "2008-01-11T23:14:55",
        1,
        0,
        1,
        223,
        30171136,
        None,
        29464,
    ),
    # A 9-slot MPI job; cpu 1026706.54 rounds to 1026707.
    Expected(
        "sge.acct",
        2,
        "6972834",
        "csfiylfl",
        "csic",
        "large",
        "2011-10-14T02:44:14",
        "2011-10-16T04:44:15",
        180001,
        1026707,
        9,
        63131849389,
        821923840,
        1448,
        802660,
    ),
    # ru_wallclock 20365.78 rounds to 20366.
    Expected(
        "sge.acct",
        3,
        "1630912",
        "pilatl10",
        "pilatl",
        "lcg_analysis",
        "2013-01-14T19:00:02",
        "2013-01-15T00:42:54",
        20366,
        1273,
        1,
        451667631,
        1546682368,
        385648,
        1510432,
    ),
    Expected(
        "sge.acct",
        4,
        "3294013",
        "prdatl26",
        "prdatl",
        "grid.q",
        "2014-06-30T22:57:29",
        "2014-06-30T23:03:28",
        359,
        51,
        1,
        4715674,
        5944487936,
        99104,
        5805164,
    ),
    # Line 1 with shorter floats. APEL's row is parsed with parallel=false (Processors = 0,
    # "unknown"); we have no such switch and always give slots.
    Expected(
        "sge.acct",
        5,
        "43",
        "dteam041",
        "dteam",
        "dteam",
        "2008-01-11T23:14:54",
        "2008-01-11T23:14:55",
        1,
        0,
        1,
        223,
        30171136,
        None,
        29464,
    ),
    # Univa 8.2: millisecond timestamps, which APEL reads only with ge_ms_timestamps = true; we
    # detect them per line. maxrss (field 47, bytes) is 124411904 B = 121496 KiB.
    Expected(
        "sge-univa-ms.acct",
        1,
        "3872561",
        "atlas235",
        "atlas",
        "grid.q",
        "2014-10-10T09:21:05",
        "2014-10-10T09:24:46",
        220,
        13,
        1,
        842208,
        1291231232,
        121496,
        1260968,
    ),
]


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: f"{e.file}:{e.line_no}")
def test_sample_lines_give_apel_values(formats_dir: Path, expected: Expected) -> None:
    line = sample_lines(formats_dir, expected.file)[expected.line_no - 1]
    record = SgeParser(CONFIG).parse(line, expected.file, expected.line_no)
    assert record is not None
    assert record.local_job_id == expected.local_job_id
    assert record.local_user_id == expected.user
    assert record.local_user_group == expected.group
    assert record.queue == expected.queue
    assert record.start_time == utc(expected.start)
    assert record.end_time == utc(expected.end)
    assert record.wall_duration == expected.wall
    assert record.cpu_duration == expected.cpu
    assert record.processors == expected.processors
    # APEL writes NodeCount 0: Grid Engine does not record it. Unknown, for us.
    assert record.node_count is None
    assert record.memory_real == expected.memory_real
    assert record.memory_virtual == expected.memory_virtual
    assert expected.memory_virtual == round(expected.apel_memory_virtual / 1024)
    assert record.site == "testSite"
    assert record.machine_name == "testHost"
    assert record.infrastructure_description == "APEL-CREAM-SGE"
    assert record.host_factor is None  # no multipliers configured
    assert (record.source_format, record.source_file, record.source_line) == (
        "sge",
        expected.file,
        expected.line_no,
    )
    assert record.key == f"testSite/{expected.local_job_id}"


def test_fields_apel_does_not_extract(formats_dir: Path) -> None:
    first, second = (parsed(line) for line in sample_lines(formats_dir, "sge.acct")[:2])
    assert first.submit_time == utc("2008-01-11T23:14:46")
    assert first.account == "sge"  # Grid Engine's default account, kept as written
    assert first.exit_status == 0
    assert first.exec_hosts == ["testce.test"]
    assert first.from_host is None  # only Univa records the submit host
    assert second.exit_status == 138
    assert second.exec_hosts == ["compute-4-19.local"]
    (univa,) = (parsed(line) for line in sample_lines(formats_dir, "sge-univa-ms.acct"))
    assert univa.from_host == "grid-cream-02.hpc.susx.ac.uk"
    assert univa.submit_time == utc("2014-10-10T09:21:01")  # 1412932860657 ms, rounded


def test_host_multipliers_are_kept_not_applied(formats_dir: Path) -> None:
    # APEL (test_parse_line_with_multiplier, cputmult = wallmult = 2.0 for compute-4-19.local)
    # gives WallDuration 360002 and CpuDuration 2053414. We never scale the measured durations:
    # the factor goes to host_factor, for normalisation.
    config = ParserConfig(
        site="testSite",
        machine_name="testHost",
        host_multipliers={"compute-4-19.local": (2.0, 2.0)},
    )
    lines = sample_lines(formats_dir, "sge.acct")
    record = parsed(lines[1], config)
    assert (record.wall_duration, record.cpu_duration) == (180001, 1026707)
    assert record.host_factor == 2.0
    assert parsed(lines[0], config).host_factor is None  # host not configured
    cpu_only = ParserConfig(site="s", host_multipliers={"compute-4-19.local": (1.5, 3.0)})
    assert parsed(lines[1], cpu_only).host_factor == 1.5  # cputmult


def test_millisecond_timestamps_are_detected_per_line(formats_dir: Path) -> None:
    seconds_line = sample_lines(formats_dir, "sge.acct")[3]
    fields = seconds_line.split(":")
    for index in (8, 9, 10):
        fields[index] = str(int(fields[index]) * 1000 + 499)
    ms_line = ":".join(fields)
    # One file mixing both: no configuration says which.
    raw = f"{seconds_line}\n{ms_line}\n".encode()
    results = [result for _, result in parse_lines(SgeParser(CONFIG), raw.splitlines(True), "a")]
    seconds_record, ms_record = results
    assert isinstance(seconds_record, BatchEvent) and isinstance(ms_record, BatchEvent)
    assert ms_record.start_time == seconds_record.start_time == utc("2014-06-30T22:57:29")
    assert ms_record.end_time == seconds_record.end_time  # 499 ms round down
    assert ms_record.submit_time == seconds_record.submit_time
    assert ms_record.wall_duration == seconds_record.wall_duration
    rounded_up = parsed(with_field(ms_line, 10, str(1404169408 * 1000 + 500)))
    assert rounded_up.end_time == datetime.fromtimestamp(1404169409, UTC)


def test_times_beyond_the_year_9999_are_rejected(formats_dir: Path) -> None:
    line = sample_lines(formats_dir, "sge-univa-ms.acct")[0]
    assert rejected(with_field(line, 10, "9" * 18)) is Reason.BAD_TIMESTAMP


def test_millisecond_and_second_times_in_one_line_are_rejected(formats_dir: Path) -> None:
    line = sample_lines(formats_dir, "sge.acct")[3]
    assert rejected(with_field(line, 10, "1404169408000")) is Reason.BAD_TIMESTAMP
    assert rejected(with_field(line, 9, "1404169049000")) is Reason.BAD_TIMESTAMP
    univa = sample_lines(formats_dir, "sge-univa-ms.acct")[0]
    assert rejected(with_field(univa, 8, "1412932860")) is Reason.BAD_TIMESTAMP


def test_array_tasks_get_their_own_job_id(formats_dir: Path) -> None:
    # APEL's JobName is job_number alone, so the tasks of one array share it and collapse into
    # one job on the natural key. We write <job>.<task>, as Grid Engine names a task (qdel 43.7).
    line = sample_lines(formats_dir, "sge.acct")[0]
    assert parsed(with_field(line, 35, "7")).local_job_id == "43.7"
    assert parsed(with_field(line, 35, "0")).local_job_id == "43"
    assert parsed(with_field(line, 35, "undefined")).local_job_id == "43"
    assert rejected(with_field(line, 35, "x")) is Reason.BAD_NUMBER


def test_comment_lines_are_ignored() -> None:
    assert parse("# Version: 8.1.9") is None
    assert parse("# DO NOT MODIFY THIS FILE MANUALLY!") is None
    assert parse("#") is None


def test_a_job_that_never_ran_is_ignored(formats_dir: Path) -> None:
    # end_time 0 (APEL: AssertionError) or start_time 0: the job was deleted or failed before it
    # started. A valid line that is not a finished run, like LSF's startTime 0: ignored (counted).
    line = sample_lines(formats_dir, "sge.acct")[1]
    assert parse(with_field(line, 10, "0")) is None
    assert parse(with_field(line, 9, "0")) is None
    assert parse(with_field(with_field(line, 9, "0"), 10, "0")) is None


def test_memory_real_sources(formats_dir: Path) -> None:
    univa = sample_lines(formats_dir, "sge-univa-ms.acct")[0]
    # Univa's maxrss 0 (not measured): ru_maxrss instead.
    assert parsed(with_field(univa, 47, "0")).memory_real == 123796
    assert parsed(with_field(with_field(univa, 47, "0"), 16, "0")).memory_real is None
    assert rejected(with_field(univa, 47, "NONE")) is Reason.BAD_NUMBER
    classic = sample_lines(formats_dir, "sge.acct")[2]
    assert parsed(with_field(classic, 16, "1024.4")).memory_real == 1024
    assert parsed(with_field(classic, 42, "0.000000")).memory_virtual == 0


@pytest.mark.parametrize(
    ("index", "value", "reason"),
    [
        (13, "-1.5", Reason.INCONSISTENT),  # negative ru_wallclock (APEL: AssertionError)
        (36, "-0.01", Reason.INCONSISTENT),  # negative cpu
        (10, "1318560243", Reason.INCONSISTENT),  # ends before it starts
        (13, "abc", Reason.BAD_NUMBER),
        (13, "nan", Reason.BAD_NUMBER),
        (36, "inf", Reason.BAD_NUMBER),
        (36, "1e300", Reason.BAD_NUMBER),
        (9, "1318560254.5", Reason.BAD_NUMBER),
        (10, "", Reason.BAD_NUMBER),
        (8, "-1", Reason.BAD_NUMBER),
        (5, "0", Reason.BAD_NUMBER),  # no job number
        (5, "69728x34", Reason.BAD_NUMBER),
        (34, "nine", Reason.BAD_NUMBER),
        (34, "99999999999", Reason.BAD_NUMBER),
        (12, "ok", Reason.BAD_NUMBER),
        (12, "99999999999", Reason.BAD_NUMBER),
        (42, "-5", Reason.BAD_NUMBER),
        (42, "lots", Reason.BAD_NUMBER),
        (16, "-1", Reason.BAD_NUMBER),
        (10, "9" * 18, Reason.BAD_TIMESTAMP),  # milliseconds, start_time in seconds
        (10, "9" * 19, Reason.BAD_NUMBER),
    ],
)
def test_bad_fields_are_rejected_with_a_reason(
    formats_dir: Path, index: int, value: str, reason: Reason
) -> None:
    line = sample_lines(formats_dir, "sge.acct")[1]
    assert rejected(with_field(line, index, value)) is reason


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        "dteam:testce.test:dteam:dteam041:STDIN:43:sge:19:1200093286:1200093294:1200093295",
        '{"job_number": 43, "owner": "dteam041"' + ', "x": 1' * 50 + "}",  # Altair's JSON
    ],
)
def test_lines_that_are_not_records_are_malformed(line: str) -> None:
    assert rejected(line) is Reason.MALFORMED


def test_truncated_record_is_malformed(formats_dir: Path) -> None:
    line = sample_lines(formats_dir, "sge.acct")[0]
    assert rejected(line[: line.rindex(":")]) is Reason.MALFORMED  # 42 fields


def test_invalid_utf8_in_a_field_we_do_not_keep_is_harmless(formats_dir: Path) -> None:
    line = sample_lines(formats_dir, "sge.acct")[0]
    raw = with_field(line, 4, "ST@DIN").encode().replace(b"@", b"\xff")  # job_name
    record = parse_line(make_parser("sge", CONFIG), raw, "accounting", 3)
    assert isinstance(record, BatchEvent)
    assert record.local_job_id == "43"


@pytest.mark.parametrize("index", [0, 1, 2, 3, 6])
def test_invalid_utf8_in_a_kept_field_is_rejected(formats_dir: Path, index: int) -> None:
    line = sample_lines(formats_dir, "sge.acct")[0]
    raw = with_field(line, index, "x@y").encode().replace(b"@", b"\xff")
    rejection = parse_line(make_parser("sge", CONFIG), raw, "accounting", 3)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_UTF8.value
    assert (rejection.file, rejection.line, rejection.source_format) == ("accounting", 3, "sge")


def test_nul_in_a_kept_field_is_rejected(formats_dir: Path) -> None:
    line = sample_lines(formats_dir, "sge.acct")[0]
    rejection = parse_line(SgeParser(CONFIG), with_field(line, 3, "dteam\x00041").encode(), "a", 1)
    assert isinstance(rejection, Rejection) and rejection.reason == Reason.INVALID_UTF8.value
    assert parse(with_field(line, 4, "ST\x00DIN")) == parse(line)


def write(tmp_path: Path, text: str, name: str = "multipliers.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_host_multipliers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# host cputmult [wallmult]\n"
        "\n"
        "compute-4-19.local 2.0 2.0\n"
        "  node101.cm.cluster\t1.25   # newer CPUs\n"
        "cn446.htc.esc.qmul 0.8 1\n",
    )
    assert load_host_multipliers(path) == {
        "compute-4-19.local": (2.0, 2.0),
        "node101.cm.cluster": (1.25, 1.0),  # wallmult defaults to 1.0, as in Grid Engine
        "cn446.htc.esc.qmul": (0.8, 1.0),
    }
    assert load_host_multipliers(write(tmp_path, "# nothing\n", "empty.txt")) == {}
    assert load_host_multipliers(str(path))["cn446.htc.esc.qmul"] == (0.8, 1.0)


@pytest.mark.parametrize(
    ("text", "line_no", "says"),
    [
        ("a 1\nlonely\n", 2, "expected"),
        ("a 1 2 3\n", 1, "expected"),
        ("a 1\nb x\n", 2, "not a number"),
        ("a 1\n\nb 1 fast\n", 3, "not a number"),
        ("a 0\n", 1, "positive"),
        ("a -1.5\n", 1, "positive"),
        ("a nan\n", 1, "positive"),
        ("a 1 inf\n", 1, "positive"),
        ("a 1\n# b\na 2\n", 3, "already given on line 1"),
    ],
)
def test_load_host_multipliers_rejects_bad_lines(
    tmp_path: Path, text: str, line_no: int, says: str
) -> None:
    with pytest.raises(ValueError, match=f"line {line_no}: .*{says}"):
        load_host_multipliers(write(tmp_path, text))


def test_multipliers_file_feeds_the_parser(formats_dir: Path, tmp_path: Path) -> None:
    multipliers = load_host_multipliers(write(tmp_path, "compute-4-19.local 2.0 2.0\n"))
    config = ParserConfig(site="testSite", host_multipliers=multipliers)
    record = parsed(sample_lines(formats_dir, "sge.acct")[1], config)
    assert record.host_factor == 2.0
