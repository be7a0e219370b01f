"""LsfParser against the lsb.acct samples and the values APEL 2.5.0 gives for them (EXPECTED.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from batchacct.errors import ParseError, Reason, Rejection
from batchacct.parsers import ParserConfig, make_parser, parse_line
from batchacct.parsers.lsf import LsfParser
from batchacct.records import BatchEvent
from tests.samples import sample_lines, utc

CONFIG = ParserConfig(site="testSite", machine_name="testHost")


def parse(line: str, line_no: int = 1) -> BatchEvent | None:
    return LsfParser(CONFIG).parse(line, "lsb.acct", line_no)


def parsed(line: str) -> BatchEvent:
    record = parse(line)
    assert record is not None
    return record


@dataclass(frozen=True)
class Expected:
    """One row of EXPECTED.md's lsf.acct table, with our value where we deliberately differ."""

    line_no: int
    local_job_id: str
    user: str
    queue: str
    start: str
    end: str
    wall: int
    cpu: int
    memory_real: int
    memory_virtual: int
    node_count: int
    processors: int


EXPECTED = [
    Expected(
        1,
        "699195",
        "raortega",
        "8nm",
        "2004-07-09T21:01:02",
        "2004-07-09T21:10:06",
        544,
        294,
        310424,
        339112,
        1,
        1,
    ),
    # APEL's JobName is 436491: it drops the job array index. This record is element 23 of the
    # array "imb_sr[1-90]" (idx, field 53+off, is 23), and elements of one array share the jobId,
    # so we keep the index to tell them apart. MemoryReal 2 / MemoryVirtual 25 KiB are what the
    # lsb.acct(5) positions of maxRMem/maxRSwap hold in this record; APEL asserts the same.
    Expected(
        2,
        "436491[23]",
        "viglen",
        "normal",
        "2011-04-07T13:46:44",
        "2011-04-07T13:47:00",
        16,
        2,
        2,
        25,
        2,
        16,
    ),
    Expected(
        3,
        "31255091",
        "oops17",
        "abcgrid",
        "2013-09-24T17:27:10",
        "2013-09-24T17:27:35",
        25,
        24,
        1495304,
        0,
        1,
        1,
    ),
    # APEL's row 4 is line 4 parsed with parallel=false, where APEL sets NodeCount = Processors
    # = 0 ("unknown"). We have no such mode: processors and node_count are always filled.
    Expected(
        4,
        "699195",
        "raortega",
        "8nm",
        "2004-07-09T21:01:02",
        "2004-07-09T21:10:06",
        544,
        294,
        310424,
        339112,
        1,
        1,
    ),
    Expected(
        5,
        "699195",
        "raortega",
        "8nm",
        "2004-07-09T21:01:02",
        "2004-07-09T21:10:06",
        544,
        294,
        310424,
        339112,
        1,
        1,
    ),
]


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: f"line{e.line_no}")
def test_sample_lines_give_apel_values(formats_dir: Path, expected: Expected) -> None:
    line = sample_lines(formats_dir, "lsf.acct")[expected.line_no - 1]
    record = LsfParser(CONFIG).parse(line, "lsf.acct", expected.line_no)
    assert record is not None
    assert record.local_job_id == expected.local_job_id
    assert record.local_user_id == expected.user
    assert record.local_user_group is None
    assert record.queue == expected.queue
    assert record.start_time == utc(expected.start)
    assert record.end_time == utc(expected.end)
    # APEL multiplies wall and CPU by hostFactor when scale_host_factor=true; we never scale the
    # raw durations and keep the factor in host_factor for normalisation.
    assert record.wall_duration == expected.wall
    assert record.cpu_duration == expected.cpu
    assert record.memory_real == expected.memory_real
    assert record.memory_virtual == expected.memory_virtual
    assert record.node_count == expected.node_count
    assert record.processors == expected.processors
    assert record.site == "testSite"
    assert record.machine_name == "testHost"
    assert record.infrastructure_description == "APEL-CREAM-LSF"
    assert (record.source_format, record.source_file, record.source_line) == (
        "lsf",
        "lsf.acct",
        expected.line_no,
    )
    assert record.key == f"testSite/{expected.local_job_id}"


def test_fields_apel_does_not_extract(formats_dir: Path) -> None:
    first, second, third = (parsed(line) for line in sample_lines(formats_dir, "lsf.acct")[:3])
    assert first.submit_time == utc("2004-07-08T12:33:43")
    assert first.host_factor == 3.3
    assert first.account == "default"
    assert first.exit_status == 0
    assert first.from_host == "lxplus015"
    assert first.exec_hosts == ["tbed0079"]
    assert second.exec_hosts == ["comp042"] * 8 + ["comp043"] * 8
    assert second.host_factor == 60.0
    # exitStatus is a wait(2) status: 65280 is exit code 255.
    assert second.exit_status == 255
    assert third.from_host == "nice.phys.abc-uni.uk"
    assert third.host_factor == 78.0


def test_lsf_706_command_with_escaped_quotes_keeps_the_layout(formats_dir: Path) -> None:
    line = sample_lines(formats_dir, "lsf.acct")[1]
    assert '""LSB_HOSTS: $LSB_HOSTS""' in line
    assert parsed(line).cpu_duration == 2


def test_fast_path_and_tokenizer_agree_on_samples(formats_dir: Path) -> None:
    parser = LsfParser(CONFIG)
    for line_no, line in enumerate(sample_lines(formats_dir, "lsf.acct"), 1):
        assert parser.parse(line, "f", line_no) == parser._parse_tokens(line, "f", line_no)


def test_record_types_other_than_job_finish_are_ignored(formats_dir: Path) -> None:
    (line,) = sample_lines(formats_dir, "lsf-ignored.acct")
    assert parse(line) is None
    assert parse('"JOB_RESIZE_NOTIFY_START" "9.1" 1380043655 31255091') is None


@pytest.mark.parametrize(
    ("line_no", "reason"),
    [
        # A missing blank makes two strings one (""  is an escaped quote): the layout shifts and
        # numExHosts reads jStatus, 64 hosts the record does not have. APEL: IndexError.
        (1, Reason.MALFORMED),
        # startTime after the event time. APEL: ValueError "Negative WallDuration value".
        (2, Reason.INCONSISTENT),
    ],
)
def test_malformed_samples_are_rejected(formats_dir: Path, line_no: int, reason: Reason) -> None:
    line = sample_lines(formats_dir, "lsf-malformed.acct")[line_no - 1]
    with pytest.raises(ParseError) as caught:
        parse(line, line_no)
    assert caught.value.reason is reason

    raw = line.encode()
    rejection = parse_line(make_parser("lsf", CONFIG), raw, "lsf-malformed.acct", line_no)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == reason.value
    assert (rejection.file, rejection.line, rejection.raw) == ("lsf-malformed.acct", line_no, line)
    assert (rejection.source_format, rejection.site) == ("lsf", "testSite")


@pytest.fixture
def line1(formats_dir: Path) -> str:
    return sample_lines(formats_dir, "lsf.acct")[0]


def replaced(line: str, old: str, new: str) -> str:
    assert line.count(old) == 1, old
    return line.replace(old, new)


TAIL = '"" "default" 0 1 "" "" 0 310424 339112 "" "" ""'  # projectName .. maxRSwap of line 1


def test_job_array_index_becomes_part_of_the_job_id(line1: str) -> None:
    line = replaced(line1, TAIL, '"" "default" 0 1 "" "" 5 310424 339112 "" "" ""')
    assert parsed(line).local_job_id == "699195[5]"


def test_exit_by_signal_is_128_plus_signal(line1: str) -> None:
    line = replaced(line1, TAIL, '"" "default" 9 1 "" "" 0 310424 339112 "" "" ""')
    assert parsed(line).exit_status == 137


def test_empty_project_is_no_account_and_negative_memory_is_unknown(line1: str) -> None:
    # APEL turns a negative maxRMem into 0; -1 means "unavailable" in lsb.acct, so we say None.
    record = parsed(replaced(line1, TAIL, '"" "" 0 1 "" "" 0 -1 -1 "" "" ""'))
    assert record.account is None
    assert record.memory_real is None
    assert record.memory_virtual is None


def test_escaped_quote_in_a_kept_string_is_unescaped(line1: str) -> None:
    assert parsed(replaced(line1, '"raortega"', '"rao""rtega"')).local_user_id == 'rao"rtega'


def test_job_that_never_started_is_ignored(line1: str) -> None:
    # startTime 0: LSF's record of a job that ended while pending. APEL would account a wall
    # time of about 34 years for it.
    assert parse(replaced(line1, "1089290023 0 0 1089406862", "1089290023 0 0 0")) is None


def test_blanks_and_tabs_between_fields_are_accepted(line1: str) -> None:
    line = replaced(line1, '"8nm" ""', '"8nm"\t  ""') + "  "
    assert parsed(line) == parsed(line1)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            '310424 339112 ""',
            '310424 "339112 ""',
            Reason.MALFORMED,
        ),  # unterminated, in a kept field
        ("64 3.3", "64 x3.3", Reason.MALFORMED),  # junk between fields
        ("64 3.3", "64 3.3.1", Reason.MALFORMED),  # junk glued to a number
        ('0 1 "tbed0079"', '"0" 1 "tbed0079"', Reason.MALFORMED),  # string where a count is
        ('0 1 "tbed0079"', '0 2 "tbed0079"', Reason.MALFORMED),  # host count shifts the layout
        ('0 1 "tbed0079"', '0 -1 "tbed0079"', Reason.MALFORMED),  # negative host count
        ("1089407406 699195", "1089407406 699195.5", Reason.BAD_NUMBER),  # float job id
        ("1089407406 699195", "1089407406 0", Reason.BAD_NUMBER),  # no job id
        ("1089407406 699195", "99999999999999 699195", Reason.BAD_TIMESTAMP),
        ("1089407406 699195", "0 699195", Reason.INCONSISTENT),  # ends before it starts
        ("277.210000 17.280000", "-1 17.280000", Reason.INCONSISTENT),  # CPU unavailable
        ("310424 339112", "310424 " + "9" * 30, Reason.BAD_NUMBER),
    ],
)
def test_bad_fields_are_rejected_with_a_reason(
    line1: str, old: str, new: str, reason: Reason
) -> None:
    line = replaced(line1, old, new)
    with pytest.raises(ParseError) as caught:
        parse(line)
    assert caught.value.reason is reason


def test_junk_in_fields_after_the_kept_ones_never_fails_a_line(line1: str) -> None:
    """Like bytes that are not UTF-8, what stands in fields we do not keep (those after
    maxRSwap, written by newer LSF versions) does not reject the job."""
    line = replaced(line1, '339112 "" "" ""', '339112 "" "" " x\x01junk')
    assert parsed(line) == parsed(line1)


@pytest.mark.parametrize(
    "line",
    ["", "   ", "garbage", "JOB_FINISH 5.1", '"JOB_FINISH"', '"JOB_FINISH" "5.1" 1089407406'],
)
def test_lines_that_are_not_records_are_malformed(line: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line)
    assert caught.value.reason is Reason.MALFORMED


def test_truncated_record_is_malformed(line1: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line1[: line1.index(" 310424")])
    assert caught.value.reason is Reason.MALFORMED


def test_non_utf8_byte_in_the_command_is_harmless(line1: str) -> None:
    raw = replaced(line1, "startEachset.pl", "startEach@set.pl").encode().replace(b"@", b"\xff")
    record = parse_line(make_parser("lsf", CONFIG), raw, "lsb.acct", 7)
    assert isinstance(record, BatchEvent)
    assert record.local_job_id == "699195"


def test_non_utf8_byte_in_the_user_name_is_rejected(line1: str) -> None:
    raw = replaced(line1, '"raortega"', '"rao@rtega"').encode().replace(b"@", b"\xff")
    rejection = parse_line(make_parser("lsf", CONFIG), raw, "lsb.acct", 7)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_UTF8.value
    assert rejection.line == 7
    assert "rao\ufffdrtega" in rejection.raw


def test_nul_in_the_user_name_is_rejected_and_elsewhere_harmless(line1: str) -> None:
    # PostgreSQL text cannot hold NUL: a record carrying one would stop the joiner's COPY.
    raw = replaced(line1, '"raortega"', '"rao\x00rtega"').encode()
    rejection = parse_line(make_parser("lsf", CONFIG), raw, "lsb.acct", 7)
    assert isinstance(rejection, Rejection) and rejection.reason == Reason.INVALID_UTF8.value
    raw = replaced(line1, "startEachset.pl", "startEach\x00set.pl").encode()
    assert isinstance(parse_line(make_parser("lsf", CONFIG), raw, "lsb.acct", 7), BatchEvent)
