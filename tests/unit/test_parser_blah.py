"""BlahParser and parse_fqan against the BLAH samples and APEL 2.5.0's values (EXPECTED.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batchacct.errors import ParseError, Reason, Rejection
from batchacct.parsers import ParserConfig, make_parser, parse_line
from batchacct.parsers.blah import BlahParser, parse_fqan
from batchacct.records import CeEvent
from tests.samples import sample_lines, utc

CONFIG = ParserConfig(site="testSite", machine_name="testHost")

LINE = (
    '"timestamp=2012-05-20 23:59:47" "userDN=/O=Gd/OU=Un/CN=Chp" "userFQAN=/atlas/Role=prod" '
    '"ceID=cream.grid.io" "jobID=CREAM123" "lrmsID=9575064.lrms1" "localUser=11999"'
)


def parse(line: str, config: ParserConfig = CONFIG) -> CeEvent:
    return BlahParser(config).parse(line, "blah.log", 1)


@dataclass(frozen=True)
class Expected:
    """One row of EXPECTED.md's blah.log table.

    ValidFrom/ValidUntil are not in the CE event: the join window is the joiner's business.
    """

    line_no: int
    timestamp: str
    user_dn: str
    fqan: str
    vo: str
    vo_group: str
    vo_role: str | None
    ce: str
    grid_job_id: str
    lrms_id: str


TRIUMF_DN = "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=atlpilo2/CN=531497/CN=Robot: ATLAS Pilot2"
FZK_DN = "/O=GermanGrid/OU=UniWuppertal/CN=Torsten Harenberg"
FZK_CE = "cream-2-fzk.gridka.de:8443/cream-pbs-atlasXL"
EXPECTED = [
    Expected(
        1,
        "2012-05-20T23:59:47",
        FZK_DN,
        "/atlas/Role=production/Capability=NULL",
        "atlas",
        "/atlas",
        "Role=production",
        FZK_CE,
        "CREAM410741480",
        "9575064.lrms1",
    ),
    # APEL stores VORole as the literal string 'None' when the FQAN has no role; we store null.
    Expected(
        2,
        "2012-05-20T23:59:47",
        FZK_DN,
        "/wlcg",
        "wlcg",
        "/wlcg",
        None,
        FZK_CE,
        "CREAM410741480",
        "9575064.lrms1",
    ),
    Expected(
        3,
        "2014-05-18T00:00:58",
        "/C=CA/O=Grid/OU=triumf.ca/CN=Asoka De Silva GC1",
        "/atlas/Role=pilot/Capability=NULL",
        "atlas",
        "/atlas",
        "Role=pilot",
        "ce1.triumf.ca:8443/cream-pbs-atlas",
        "CREAM663276716",
        "15876368.ce1.triumf.ca",
    ),
    Expected(
        4,
        "2014-05-18T00:03:00",
        TRIUMF_DN,
        "/atlas/Role=pilot/Capability=NULL",
        "atlas",
        "/atlas",
        "Role=pilot",
        "ce1.triumf.ca:8443/cream-pbs-atlas",
        "CREAM503347888",
        "15876480.ce1.triumf.ca",
    ),
    Expected(
        5,
        "2012-05-20T23:59:47",
        "/O=Gd/OU=Un/CN=Chp",
        "/atlas/Role=prod",
        "atlas",
        "/atlas",
        "Role=prod",
        "cream.grid.io",
        "CREAM123",
        "9575064.lrms1",
    ),
]


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: f"line{e.line_no}")
def test_sample_lines_give_apel_values(formats_dir: Path, expected: Expected) -> None:
    line = sample_lines(formats_dir, "blah.log")[expected.line_no - 1]
    record = BlahParser(CONFIG).parse(line, "blah.log", expected.line_no)
    # APEL's stored TimeStamp equals this only on a UTC host (it goes through mktime); ours is
    # the instant the line names, whatever the host's time zone.
    assert record.timestamp == utc(expected.timestamp)
    assert record.global_user_name == expected.user_dn
    assert record.fqan == expected.fqan
    assert (record.vo, record.vo_group, record.vo_role) == (
        expected.vo,
        expected.vo_group,
        expected.vo_role,
    )
    assert record.submit_host == expected.ce
    assert record.grid_job_id == expected.grid_job_id
    assert record.lrms_id == expected.lrms_id
    assert record.site == "testSite"
    assert (record.source_format, record.source_file, record.source_line) == (
        "blah",
        "blah.log",
        expected.line_no,
    )
    assert record.key == f"testSite/{expected.lrms_id}"


def test_every_fqan_is_kept_in_order_and_the_first_is_primary(formats_dir: Path) -> None:
    record = parse(sample_lines(formats_dir, "blah.log")[2])
    assert record.fqans == [
        "/atlas/Role=pilot/Capability=NULL",
        "/atlas/Role=NULL/Capability=NULL",
        "/atlas/ca/Role=NULL/Capability=NULL",
        "/atlas/lcg1/Role=NULL/Capability=NULL",
    ]
    assert record.fqan == record.fqans[0]
    assert record.local_user == "41200"


def test_first_occurrence_of_a_key_wins() -> None:
    record = parse(LINE + ' "lrmsID=other" "ceID=other" "clientID=cream_1"')
    assert (record.lrms_id, record.submit_host) == ("9575064.lrms1", "cream.grid.io")


@pytest.mark.parametrize(
    ("line_no", "reason"),
    [
        (1, Reason.BAD_TIMESTAMP),  # "2012-05-20A23:59:47"; APEL: iso8601 ParseError
        (2, Reason.MALFORMED),  # '"jobID=..."&sd"lrmsID=..."'; APEL: ValueError unpacking
    ],
)
def test_malformed_samples_are_rejected(formats_dir: Path, line_no: int, reason: Reason) -> None:
    line = sample_lines(formats_dir, "blah-malformed.log")[line_no - 1]
    with pytest.raises(ParseError) as caught:
        parse(line)
    assert caught.value.reason is reason

    rejection = parse_line(make_parser("blah", CONFIG), line.encode(), "blah-bad.log", line_no)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == reason.value
    assert (rejection.file, rejection.line, rejection.raw) == ("blah-bad.log", line_no, line)
    assert (rejection.source_format, rejection.site) == ("blah", "testSite")


@pytest.mark.parametrize("key", ["timestamp", "userDN", "userFQAN", "ceID", "jobID", "lrmsID"])
def test_missing_required_key_is_rejected(key: str) -> None:
    items = [item for item in re.findall(r'"[^"]*"', LINE) if not item.startswith(f'"{key}=')]
    line = " ".join(items)
    assert line != LINE
    with pytest.raises(ParseError) as caught:
        parse(line)
    assert caught.value.reason is Reason.MISSING_FIELD
    assert key in caught.value.detail


@pytest.mark.parametrize("key", ["timestamp", "lrmsID"])
def test_empty_timestamp_or_lrms_id_is_missing(key: str) -> None:
    line = LINE.replace(f'"{key}=', f'"{key}=" "ignored=')
    with pytest.raises(ParseError) as caught:
        parse(line)
    assert caught.value.reason is Reason.MISSING_FIELD


def test_empty_identity_values_become_null() -> None:
    record = parse(
        '"timestamp=2012-05-20 23:59:47" "userDN=" "userFQAN=" "ceID=" "jobID=" "lrmsID=42"'
    )
    assert (record.global_user_name, record.fqan, record.vo, record.submit_host) == (
        None,
        None,
        None,
        None,
    )
    assert (record.grid_job_id, record.local_user, record.fqans) == (None, None, [])


@pytest.mark.parametrize(
    "line",
    [
        "",
        "timestamp=2012-05-20 23:59:47",
        '"timestamp=2012-05-20 23:59:47',
        '"timestamp=2012-05-20 23:59:47" "userDN',
        '"timestamp=2012-05-20 23:59:47""userDN=x"',
        '"timestamp=2012-05-20 23:59:47" junk "userDN=x"',
        LINE + ' "noequals"',
    ],
)
def test_broken_quoting_or_items_are_malformed(line: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line)
    assert caught.value.reason is Reason.MALFORMED


def test_extra_blanks_between_items_are_accepted() -> None:
    line = "  " + LINE.replace('" "', '"  \t "') + " "
    assert parse(line) == parse(LINE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2012-05-20 23:59:47", "2012-05-20T23:59:47"),
        ("2012-05-20T23:59:47", "2012-05-20T23:59:47"),
        ("2012-05-20T23:59:47Z", "2012-05-20T23:59:47"),
        ("2012-05-20T23:59:47.250000Z", "2012-05-20T23:59:47.250000"),
        ("2012-05-21 01:59:47+02:00", "2012-05-20T23:59:47"),
        ("2012-05-20T18:59:47-0500", "2012-05-20T23:59:47"),
    ],
)
def test_timestamp_forms(text: str, expected: str) -> None:
    assert parse(LINE.replace("2012-05-20 23:59:47", text)).timestamp == utc(expected)


@pytest.mark.parametrize(
    "text",
    [
        "2012-05-20A23:59:47",
        "2012-13-01 00:00:00",
        "2012-02-30 00:00:00",
        "2012-05-20 24:00:01",
        "2012-05-20",
        "20120520T235947",
        "2012-W20-1T23:59:47",
        "1337558387",
        "2012-05-20 23:59:47 CEST",
        "٢٠١٢-05-20 23:59:47",
    ],
)
def test_bad_timestamps_are_rejected(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(LINE.replace("2012-05-20 23:59:47", text))
    assert caught.value.reason is Reason.BAD_TIMESTAMP


def test_timestamp_without_offset_is_in_the_configured_time_zone() -> None:
    berlin = ParserConfig(site="testSite", timezone=ZoneInfo("Europe/Berlin"))
    summer = parse(LINE, berlin).timestamp  # CEST, UTC+2
    assert summer == utc("2012-05-20T21:59:47")
    assert summer.tzinfo is UTC
    winter = parse(LINE.replace("2012-05-20", "2012-01-20"), berlin).timestamp  # CET, UTC+1
    assert winter == utc("2012-01-20T22:59:47")
    # An explicit offset wins over the configured zone.
    explicit = parse(LINE.replace("2012-05-20 23:59:47", "2012-05-20T23:59:47Z"), berlin)
    assert explicit.timestamp == utc("2012-05-20T23:59:47")


def test_non_utf8_byte_in_a_kept_field_is_rejected() -> None:
    raw = LINE.replace("CN=Chp", "CN=Ch@p").encode().replace(b"@", b"\xff")
    rejection = parse_line(make_parser("blah", CONFIG), raw, "blah.log", 3)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_UTF8.value


def test_non_utf8_byte_in_an_ignored_field_is_harmless() -> None:
    raw = (LINE + ' "clientID=cream_@"').encode().replace(b"@", b"\xff")
    assert isinstance(parse_line(make_parser("blah", CONFIG), raw, "blah.log", 3), CeEvent)


@pytest.mark.parametrize(
    ("fqan", "expected"),
    [
        # APEL's own examples (apel-facts 1.3).
        ("/atlas/somethingelse/role=doer", ("atlas", "/atlas/somethingelse", "role=doer")),
        # APEL: VORole is the string 'None'; ours is null.
        ("/wlcg", ("wlcg", "/wlcg", None)),
        ("/atlas/Role=production/Capability=NULL", ("atlas", "/atlas", "Role=production")),
        ("/atlas/Role=NULL/Capability=NULL", ("atlas", "/atlas", "Role=NULL")),
        ("/atlas/lcg1/ROLE=pilot", ("atlas", "/atlas/lcg1", "ROLE=pilot")),
        ("/atlas//lcg1/Role=pilot", ("atlas", "/atlas/lcg1", "Role=pilot")),
        # Only the text before the first ';' counts.
        ("/atlas/Role=pilot;/cms/Role=x", ("atlas", "/atlas", "Role=pilot")),
        # Not a path: the whole text is the VO.
        ("atlas", ("atlas", None, None)),
        ("dteam;x", ("dteam", None, None)),
        # APEL puts "Capability=NULL" into the group when there is no role (and the role 'None');
        # a capability is not a group, so we drop it.
        ("/atlas/Capability=NULL", ("atlas", "/atlas", None)),
        ("", (None, None, None)),
        ("/", (None, None, None)),
    ],
)
def test_parse_fqan(fqan: str, expected: tuple[str | None, str | None, str | None]) -> None:
    assert parse_fqan(fqan) == expected
