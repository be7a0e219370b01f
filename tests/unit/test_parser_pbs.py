"""PbsParser against the PBS/Torque samples and the values APEL 2.5.0 gives (EXPECTED.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batchacct.errors import ParseError, Reason, Rejection
from batchacct.parsers import ParserConfig, make_parser, parse_line
from batchacct.parsers.pbs import PbsParser
from batchacct.records import BatchEvent
from tests.samples import sample_lines, utc

CONFIG = ParserConfig(site="testSite", machine_name="testHost")


def parse(line: str, line_no: int = 1) -> BatchEvent | None:
    return PbsParser(CONFIG).parse(line, "pbs.log", line_no)


def parsed(line: str) -> BatchEvent:
    record = parse(line)
    assert record is not None
    return record


def rejected(line: str) -> Reason:
    with pytest.raises(ParseError) as caught:
        parse(line)
    return caught.value.reason


def general(line: str) -> BatchEvent | None:
    """The general (dict) path, which the fast regex path must agree with."""
    _, _, job_id, message = line.split(";", 3)
    return PbsParser(CONFIG)._parse_values(line, job_id, message, "pbs.log", 1)


# A PBS Pro E record, written after the PBS Professional reference guide (no sample of ours): no
# owner, exec_host in the count form, exec_vnode, and more resources_used items.
PBS_PRO_LINE = (
    "04/23/2019 10:41:57;E;1234.pbsserver;user=user1 group=group1 "
    "project=_pbs_project_default jobname=STDIN queue=workq ctime=1556030510 qtime=1556030510 "
    "etime=1556030510 start=1556030511 exec_host=node1/0*4 exec_vnode=(node1:ncpus=4) "
    "Resource_List.ncpus=4 Resource_List.nodect=1 Resource_List.place=pack "
    "Resource_List.select=1:ncpus=4 session=12345 end=1556034117 Exit_status=0 "
    "resources_used.cpupercent=390 resources_used.cput=03:54:00 resources_used.mem=1048576kb "
    "resources_used.ncpus=4 resources_used.vmem=2097152kb resources_used.walltime=01:00:06 "
    "run_count=1"
)


@dataclass(frozen=True)
class Expected:
    """One row of EXPECTED.md's pbs.log table, with our value where we deliberately differ."""

    line_no: int
    local_job_id: str
    user: str
    group: str
    queue: str  # APEL: null (its PBS parser drops the queue); we keep it
    start: str
    end: str
    wall: int
    cpu: int
    memory_real: int
    memory_virtual: int
    node_count: int | None
    processors: int | None


EXPECTED = [
    # walltime "19:23:4": h:m:s with a one-digit part. Wall (69784) is not end - start (24159):
    # like APEL we take what Torque measured.
    Expected(
        1,
        "21048463.lcgbatch01.gridpp.rl.ac.uk",
        "patls009",
        "prodatls",
        "grid4000M",
        "2011-10-01T22:59:05",
        "2011-10-02T05:41:44",
        69784,
        65724,
        2031040,
        3335528,
        1,
        1,
    ),
    # exec_host h/7+h/6+...+h/0: 8 cores on 1 node.
    Expected(
        2,
        "21010040.lcgbatch01.gridpp.rl.ac.uk",
        "plhcb010",
        "prodlhcb",
        "gridWN",
        "2011-10-01T00:05:30",
        "2011-10-01T00:05:30",
        0,
        0,
        0,
        0,
        1,
        8,
    ),
    Expected(
        3,
        "24940336.b0",
        "atlaspt5",
        "atlaspt",
        "atlas",
        "2015-11-30T20:07:05",
        "2015-11-30T23:39:52",
        12767,
        12722,
        2574308,
        4032516,
        1,
        1,
    ),
    # cput and walltime in seconds (Torque 5.1.2): detected per field.
    Expected(
        4,
        "24940336.b0",
        "atlaspt5",
        "atlaspt",
        "atlas",
        "2015-11-30T20:07:05",
        "2015-11-30T23:42:06",
        12767,
        12722,
        2574308,
        4032516,
        1,
        1,
    ),
    Expected(
        5,
        "21414868.b0",
        "atprd008",
        "atprd",
        "atlas",
        "2015-03-21T15:47:55",
        "2015-03-21T19:10:19",
        12144,
        46899,
        7813056,
        12127680,
        1,
        4,
    ),
    # A grep prefix "20150327:" before the date, and exec_host b391/0-3 (an inclusive range).
    Expected(
        6,
        "21430205.b0",
        "atprd006",
        "atprd",
        "atlas",
        "2015-03-27T02:22:55",
        "2015-03-27T07:06:27",
        17012,
        66716,
        8212056,
        12526772,
        1,
        4,
    ),
    Expected(
        7,
        "37803854.b0",
        "atcant2",
        "atcant",
        "atlas",
        "2016-12-07T09:07:35",
        "2016-12-07T09:08:31",
        56,
        9,
        41512,
        325428,
        1,
        1,
    ),
    # No exec_host. APEL's row is parsed with parallel=false and says NodeCount = Processors = 0
    # ("unknown"); with parallel=true it raises KeyError. We have no parallel switch and read
    # what the line says: Resource_List.nodect=1 is the node count; nothing gives the core count
    # (Resource_List.nodes=1:ppn=8 is a request), so processors is unknown (None).
    Expected(
        8,
        "21010040.lcgbatch01.gridpp.rl.ac.uk",
        "plhcb010",
        "prodlhcb",
        "gridWN",
        "2011-10-01T00:05:30",
        "2011-10-01T00:05:30",
        0,
        0,
        0,
        0,
        1,
        None,
    ),
    Expected(
        9,
        "5000.bob",
        "dbeer",
        "dbeer",
        "batch",
        "2014-04-30T21:33:00",
        "2014-04-30T21:36:20",
        200,
        0,
        2580,
        37072,
        1,
        1,
    ),
]


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: f"line{e.line_no}")
def test_sample_lines_give_apel_values(formats_dir: Path, expected: Expected) -> None:
    line = sample_lines(formats_dir, "pbs.log")[expected.line_no - 1]
    record = PbsParser(CONFIG).parse(line, "pbs.log", expected.line_no)
    assert record is not None
    assert record.local_job_id == expected.local_job_id
    assert record.local_user_id == expected.user
    assert record.local_user_group == expected.group
    assert record.queue == expected.queue
    assert record.start_time == utc(expected.start)
    assert record.end_time == utc(expected.end)
    assert record.wall_duration == expected.wall
    assert record.cpu_duration == expected.cpu
    # Every sample writes memory in kb, which is KiB: the same numbers as APEL's (which strips
    # the last two characters, whatever they are).
    assert record.memory_real == expected.memory_real
    assert record.memory_virtual == expected.memory_virtual
    assert record.node_count == expected.node_count
    assert record.processors == expected.processors
    assert record.site == "testSite"
    assert record.machine_name == "testHost"
    assert record.infrastructure_description == "APEL-CREAM-PBS"
    assert record.host_factor is None
    assert (record.source_format, record.source_file, record.source_line) == (
        "pbs",
        "pbs.log",
        expected.line_no,
    )
    assert record.key == f"testSite/{expected.local_job_id}"


def test_fields_apel_does_not_extract(formats_dir: Path) -> None:
    lines = sample_lines(formats_dir, "pbs.log")
    first, second, third = (parsed(line) for line in lines[:3])
    assert first.submit_time == utc("2011-10-01T22:52:54")  # ctime
    assert first.exit_status == 0
    assert first.from_host == "lcgce09.gridpp.rl.ac.uk"  # owner=patls009@lcgce09...
    assert first.exec_hosts == ["lcg1277.gridpp.rl.ac.uk"]
    assert first.account is None
    assert second.exec_hosts == ["lcg0766.gridpp.rl.ac.uk"] * 8
    # Torque's Exit_status for a job killed by a signal is 256 + signal (271: SIGTERM), kept.
    assert third.exit_status == 271
    assert parsed(lines[5]).exec_hosts == ["b391"] * 4
    assert parsed(lines[7]).exec_hosts == []


def test_pbs_pro_record() -> None:
    record = parsed(PBS_PRO_LINE)
    assert record.local_job_id == "1234.pbsserver"
    assert (record.local_user_id, record.local_user_group, record.queue) == (
        "user1",
        "group1",
        "workq",
    )
    assert record.start_time == utc("2019-04-23T14:41:51")
    assert record.end_time == utc("2019-04-23T15:41:57")
    assert (record.wall_duration, record.cpu_duration) == (3606, 14040)
    assert (record.memory_real, record.memory_virtual) == (1048576, 2097152)
    assert (record.processors, record.node_count, record.exec_hosts) == (4, 1, ["node1"] * 4)
    assert record.from_host is None  # no owner
    assert record == general(PBS_PRO_LINE)


def test_fast_path_and_general_path_agree_on_samples(formats_dir: Path) -> None:
    for line in sample_lines(formats_dir, "pbs.log"):
        assert parse(line) == general(line)


@pytest.mark.parametrize("line_no", [1, 2])
def test_record_types_other_than_e_are_ignored(formats_dir: Path, line_no: int) -> None:
    # An A (abort) record with every E field, and an S (start) record.
    assert parse(sample_lines(formats_dir, "pbs-ignored.log")[line_no - 1]) is None


@pytest.mark.parametrize(
    ("line_no", "reason"),
    [
        # "etime=1317509574start=1317509945": a lost blank glues start into etime's value, so
        # the record has no start. APEL: KeyError 'start'.
        (1, Reason.MISSING_FIELD),
        # start after end. APEL: ValueError "'end' time less than 'start' time".
        (2, Reason.INCONSISTENT),
    ],
)
def test_malformed_samples_are_rejected(formats_dir: Path, line_no: int, reason: Reason) -> None:
    line = sample_lines(formats_dir, "pbs-malformed.log")[line_no - 1]
    assert rejected(line) is reason

    rejection = parse_line(make_parser("pbs", CONFIG), line.encode(), "pbs-malformed.log", line_no)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == reason.value
    assert (rejection.file, rejection.line, rejection.raw) == ("pbs-malformed.log", line_no, line)
    assert (rejection.source_format, rejection.site) == ("pbs", "testSite")


@pytest.fixture
def line3(formats_dir: Path) -> str:
    """Torque 5 E record: exec_host=b341/2, kb memory, h:m:s durations, slot/node counts."""
    return sample_lines(formats_dir, "pbs.log")[2]


def replaced(line: str, old: str, new: str) -> str:
    assert line.count(old) == 1, old
    return line.replace(old, new)


def with_exec_host(line3: str, exec_host: str) -> BatchEvent:
    line = replaced(line3, "exec_host=b341/2 ", f"exec_host={exec_host} ")
    record = parsed(line)
    assert record == general(line)
    return record


@pytest.mark.parametrize(
    ("exec_host", "hosts"),
    [
        ("h/0+h/1", ["h", "h"]),
        ("b391/0-3", ["b391"] * 4),
        ("b391/0-1,5,11", ["b391"] * 4),  # Torque >= 5.1: ranges and single cores
        ("b391/2-2", ["b391"]),
        ("host/0*4", ["host"] * 4),  # PBS Pro: first core and count
        ("a/0*2+b/0*2", ["a", "a", "b", "b"]),
        ("a/0+b/0+a/1", ["a", "b", "a"]),
        ("a/0-1+b/4-5", ["a", "a", "b", "b"]),
        ("bob", ["bob"]),  # no core list: one slot
    ],
)
def test_every_exec_host_form(line3: str, exec_host: str, hosts: list[str]) -> None:
    record = with_exec_host(line3, exec_host)
    assert record.exec_hosts == hosts
    assert record.processors == len(hosts)
    assert record.node_count == len(set(hosts))


@pytest.mark.parametrize(
    ("exec_host", "reason"),
    [
        ("b391/3-1", Reason.MALFORMED),  # a range that runs backwards
        ("b391/x", Reason.MALFORMED),
        ("b391/0-", Reason.MALFORMED),
        ("b391/0,,1", Reason.MALFORMED),
        ("/0+/1", Reason.MALFORMED),  # no host
        ("a/0++b/1", Reason.MALFORMED),
        ("b391/0*", Reason.MALFORMED),
        ("b391/0-99999999", Reason.BAD_NUMBER),  # a corrupt range: more slots than we list
        ("b391/0*100001", Reason.BAD_NUMBER),
    ],
)
def test_bad_exec_host_is_rejected(line3: str, exec_host: str, reason: Reason) -> None:
    assert rejected(replaced(line3, "exec_host=b341/2 ", f"exec_host={exec_host} ")) is reason


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12767", 12767),  # seconds (Torque 5.1.2)
        ("0", 0),
        ("03:32:47", 12767),  # hh:mm:ss
        ("19:23:4", 69784),  # one-digit parts
        ("0:0:0", 0),
        ("800:00:00", 2880000),  # hours beyond 99
        ("1-02:03:04", 93784),  # d-hh:mm:ss
        ("0-00:00:01", 1),
    ],
)
def test_every_duration_form(line3: str, text: str, seconds: int) -> None:
    line = replaced(line3, "resources_used.walltime=03:32:47", f"resources_used.walltime={text}")
    line = replaced(line, "resources_used.cput=03:32:02", f"resources_used.cput={text}")
    record = parsed(line)
    assert (record.wall_duration, record.cpu_duration) == (seconds, seconds)
    assert record == general(line)


def test_duration_forms_are_detected_per_field(line3: str) -> None:
    # Torque 5.1.3: cput in seconds, walltime in h:m:s.
    line = replaced(line3, "resources_used.cput=03:32:02", "resources_used.cput=12722")
    record = parsed(line)
    assert (record.wall_duration, record.cpu_duration) == (12767, 12722)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1:30", Reason.BAD_NUMBER),  # two parts
        ("1:2:3:4", Reason.BAD_NUMBER),
        ("00:60:00", Reason.BAD_NUMBER),  # minutes out of range
        ("00:00:60", Reason.BAD_NUMBER),
        ("1.5", Reason.BAD_NUMBER),
        ("+5", Reason.BAD_NUMBER),
        ("1_000", Reason.BAD_NUMBER),
        ("0x10", Reason.BAD_NUMBER),
        ("٣", Reason.BAD_NUMBER),  # a digit, but not ASCII
        ("x-01:00:00", Reason.BAD_NUMBER),
        ("-5", Reason.INCONSISTENT),  # negative: APEL raises ValueError too
        ("-01:00:00", Reason.INCONSISTENT),
        ("9" * 19, Reason.BAD_NUMBER),
        ("9" * 13, Reason.BAD_NUMBER),  # over 10^12 s
        ("999999999999:00:00", Reason.BAD_NUMBER),
    ],
)
def test_bad_durations_are_rejected(line3: str, text: str, reason: Reason) -> None:
    line = replaced(line3, "resources_used.walltime=03:32:47", f"resources_used.walltime={text}")
    assert rejected(line) is reason


@pytest.mark.parametrize(
    ("text", "kib"),
    [
        ("2574308kb", 2574308),
        ("2574308KB", 2574308),  # any case
        ("2574308Kb", 2574308),
        ("2048", 2),  # a bare number is bytes (PBS Pro)
        ("2048b", 2),
        ("1536B", 2),  # bytes are rounded to the nearest KiB
        ("511b", 0),
        ("3mb", 3072),
        ("2gb", 2 * 1024**2),
        ("1GB", 1024**2),
        ("1tb", 1024**3),
        ("1pb", 1024**4),
        ("0kb", 0),
    ],
)
def test_every_memory_unit(line3: str, text: str, kib: int) -> None:
    line = replaced(line3, "resources_used.mem=2574308kb", f"resources_used.mem={text}")
    line = replaced(line, "resources_used.vmem=4032516kb", f"resources_used.vmem={text}")
    record = parsed(line)
    assert (record.memory_real, record.memory_virtual) == (kib, kib)
    assert record == general(line)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("5kw", Reason.BAD_UNIT),  # words: their size depends on the host
        ("5w", Reason.BAD_UNIT),
        ("5xb", Reason.BAD_UNIT),
        ("5eb", Reason.BAD_UNIT),
        ("5kib", Reason.BAD_UNIT),
        ("kb", Reason.BAD_NUMBER),
        ("-5kb", Reason.BAD_NUMBER),
        ("1.5gb", Reason.BAD_NUMBER),
        ("5kb5", Reason.BAD_NUMBER),
        ("9" * 19 + "kb", Reason.BAD_NUMBER),
        ("9" * 18 + "pb", Reason.BAD_NUMBER),  # more KiB than a 64-bit integer holds
    ],
)
def test_unknown_memory_unit_or_bad_size_is_rejected(line3: str, text: str, reason: Reason) -> None:
    line = replaced(line3, "resources_used.vmem=4032516kb", f"resources_used.vmem={text}")
    assert rejected(line) is reason


def test_missing_memory_is_unknown(line3: str) -> None:
    line = replaced(line3, " resources_used.mem=2574308kb", "")
    line = replaced(line, " resources_used.vmem=4032516kb", " resources_used.vmem=")
    record = parsed(line)
    assert (record.memory_real, record.memory_virtual) == (None, None)


def test_counts_without_exec_host(line3: str) -> None:
    no_host = replaced(line3, " exec_host=b341/2", "")
    with_counts = replaced(
        no_host,
        "total_execution_slots=1 unique_node_count=1",
        "total_execution_slots=6 unique_node_count=2",
    )
    record = parsed(with_counts)
    assert (record.processors, record.node_count, record.exec_hosts) == (6, 2, [])
    # Without Torque's counts, PBS Pro's Resource_List.ncpus / nodect.
    resources = replaced(with_counts, " total_execution_slots=6 unique_node_count=2", "")
    resources = replaced(resources, "Resource_List.nodect=1", "Resource_List.nodect=3")
    resources = resources.replace(" session=", " Resource_List.ncpus=12 session=")
    assert (parsed(resources).processors, parsed(resources).node_count) == (12, 3)
    # Nothing at all: unknown.
    bare = replaced(resources, " Resource_List.nodect=3", "")
    bare = replaced(bare, " Resource_List.ncpus=12", "")
    assert (parsed(bare).processors, parsed(bare).node_count) == (None, None)
    bad = replaced(with_counts, "total_execution_slots=6", "total_execution_slots=six")
    assert rejected(bad) is Reason.BAD_NUMBER


def test_a_job_that_never_started_is_ignored(line3: str) -> None:
    # start=0: the job ended without running (as LSF's startTime 0). It used nothing; APEL would
    # account it from 1970.
    line = replaced(line3, "start=1448914025", "start=0")
    assert parse(line) is None
    # Such a record may have no resources_used at all.
    assert parse(line[: line.index(" resources_used.cput")]) is None


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (" start=1448914025", "", Reason.MISSING_FIELD),
        (" end=1448926792", "", Reason.MISSING_FIELD),
        ("start=1448914025", "start=", Reason.MISSING_FIELD),
        (" resources_used.walltime=03:32:47", "", Reason.MISSING_FIELD),
        (" resources_used.cput=03:32:02", "", Reason.MISSING_FIELD),
        ("start=1448914025", "start=14489140x5", Reason.BAD_NUMBER),
        ("end=1448926792", "end=-1448926792", Reason.BAD_NUMBER),
        ("end=1448926792", "end=1448914024", Reason.INCONSISTENT),
        ("end=1448926792", "end=99999999999999", Reason.BAD_TIMESTAMP),
        ("ctime=1448913907", "ctime=1e9", Reason.BAD_NUMBER),
        ("Exit_status=271", "Exit_status=ok", Reason.BAD_NUMBER),
        ("Exit_status=271", "Exit_status=99999999999", Reason.BAD_NUMBER),
        ("24940336.b0;", ";", Reason.MISSING_FIELD),  # no job id
    ],
)
def test_bad_fields_are_rejected_with_a_reason(
    line3: str, old: str, new: str, reason: Reason
) -> None:
    assert rejected(replaced(line3, old, new)) is reason


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        "10/02/2011 06:41:44;E;1.b0",  # three fields
        "10/02/2011 06:41:44;Ex;1.b0;user=a",  # not a record type
        "10/02/2011 06:41:44;;1.b0;user=a",
        "10/02/2011 06:41:44;é;1.b0;user=a",
    ],
)
def test_lines_that_are_not_records_are_malformed(line: str) -> None:
    assert rejected(line) is Reason.MALFORMED


def test_prefix_before_the_date_is_harmless(line3: str) -> None:
    # APEL ignores the date; so do we (the record's times are start and end, epoch seconds), so
    # neither a grep prefix nor an odd date fails a line whose start and end are fine.
    assert parsed("pbs.log.1:" + line3) == parsed(line3)
    assert parsed(replaced(line3, "11/30/2015 15:39:52;", "sometime;")) == parsed(line3)


def test_semicolon_inside_the_message_is_harmless(line3: str) -> None:
    # APEL splits on every ";" and fails the line (ValueError); only the first three count.
    line = replaced(line3, "jobname=cream_830820758", "jobname=a;b;c")
    assert parsed(line) == parsed(line3)


def test_other_fields(line3: str) -> None:
    record = parsed(replaced(line3, "group=atlaspt ", "group=atlaspt account=proj42 "))
    assert record.account == "proj42"
    assert (
        parsed(
            replaced(line3, "owner=atlaspt5@bugaboo-hep.westgrid.ca", "owner=atlaspt5")
        ).from_host
        is None
    )
    assert parsed(replaced(line3, "Exit_status=271", "Exit_status=-11")).exit_status == -11
    assert parsed(replaced(line3, " Exit_status=271", "")).exit_status is None
    # The submit time is ctime, else qtime.
    no_ctime = parsed(replaced(line3, "ctime=1448913907 qtime=1448913907", "qtime=1448913900"))
    assert no_ctime.submit_time == datetime.fromtimestamp(1448913900, UTC)
    no_submit = parsed(replaced(line3, " ctime=1448913907 qtime=1448913907", ""))
    assert no_submit.submit_time is None


def test_pbs_pro_quoted_values_lose_their_quotes(line3: str) -> None:
    line = replaced(line3, "jobname=cream_830820758", 'jobname="my job" account="big project"')
    record = parsed(line)
    assert record.account == "big project"
    assert record.wall_duration == 12767


def test_a_repeated_key_counts_once_the_last_one_wins(line3: str) -> None:
    line = replaced(line3, "session=22256", "session=22256 queue=other")
    assert parsed(line).queue == "other"
    assert parsed(line) == general(line)


def test_blanks_and_tabs_between_items(line3: str) -> None:
    line = replaced(line3, "queue=atlas ctime", "queue=atlas\t  ctime") + " "
    assert parsed(line) == parsed(line3)


def test_a_long_line_parses_in_linear_time(line3: str) -> None:
    # The fast regex skips unknown items lazily; a line where it fails late must not backtrack
    # for ever (with pytest-timeout, a hang fails the test).
    filler = " ".join(f"x{n}=1" for n in range(20000))
    assert parse(replaced(line3, "session=", filler + " session=")) is not None
    assert rejected(replaced(line3, " resources_used.walltime=03:32:47", " " + filler)) is (
        Reason.MISSING_FIELD
    )


def test_time_zone_configuration_does_not_change_epoch_times(line3: str) -> None:
    from zoneinfo import ZoneInfo

    zoned = PbsParser(
        ParserConfig(site="testSite", machine_name="testHost", timezone=ZoneInfo("Europe/Berlin"))
    )
    assert zoned.parse(line3, "pbs.log", 1) == parsed(line3)


def test_invalid_utf8_in_a_field_we_do_not_keep_is_harmless(line3: str) -> None:
    raw = replaced(line3, "cream_830820758", "cream_@").encode().replace(b"@", b"\xff")
    record = parse_line(make_parser("pbs", CONFIG), raw, "pbs.log", 7)
    assert isinstance(record, BatchEvent)
    assert record.local_job_id == "24940336.b0"


@pytest.mark.parametrize("old", ["user=atlaspt5", "24940336.b0", "exec_host=b341", "queue=atlas"])
def test_invalid_utf8_in_a_kept_field_is_rejected(line3: str, old: str) -> None:
    raw = replaced(line3, old, old + "@").encode().replace(b"@", b"\xff")
    rejection = parse_line(make_parser("pbs", CONFIG), raw, "pbs.log", 7)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_UTF8.value
    assert rejection.line == 7
    assert "\ufffd" in rejection.raw


def test_nul_in_a_kept_field_is_rejected(line3: str) -> None:
    # PostgreSQL text cannot hold NUL; in a field we do not keep it is harmless.
    raw = replaced(line3, "user=atlaspt5", "user=atlas\x00pt5").encode()
    rejection = parse_line(PbsParser(CONFIG), raw, "pbs.log", 3)
    assert isinstance(rejection, Rejection) and rejection.reason == Reason.INVALID_UTF8.value
    assert parse(replaced(line3, "jobname=cream_830820758", "jobname=cr\x00eam")) == parsed(line3)
