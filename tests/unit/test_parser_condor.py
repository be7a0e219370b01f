"""CondorParser: HTCondor batch lines against APEL 2.5.0's values (EXPECTED.md), and ClassAds.

The ``|``-separated samples are the ones APEL's tests use (htcondor.txt) and real HTCondor-CE
batch-file lines (htcondor-ce-batch.txt). The ClassAd fixtures in ``tests/fixtures/condor`` are
per-job history files as HTCondor writes them into PER_JOB_HISTORY_DIR, and ``condor_history -l``
output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
from batchacct.parsers.condor import (
    INFRASTRUCTURE,
    CondorParser,
    Expression,
    load_identity_map,
    parse_literal,
)
from batchacct.records import BatchEvent, CeEvent
from tests.samples import sample_lines, utc

CONFIG = ParserConfig(site="testSite", machine_name="testHost")
CONDOR_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "condor"

X509_JOB = "history.3100144.0"
TOKEN_JOB = "history.3100145.0"
LOCAL_JOB = "history.1840213.0"
REMOVED_JOB = "history.3100150.0"
NO_JOB_ID = "history.3100151.0"
TRUNCATED = "history.3100152.0"
HISTORY_L = "condor_history-l.txt"

ATLAS_ISSUER = "https://atlas-auth.cern.ch/"
ATLAS_SUBJECT = "7dee38a3-6ab8-4fe2-9e4c-58039c21d817"
PILOT_DN = "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=atlpilo1/CN=614260/CN=Robot: ATLAS Pilot1"


def parse_file(
    path: Path, config: ParserConfig = CONFIG, data: bytes | None = None
) -> list[tuple[int, object]]:
    raw = path.read_bytes() if data is None else data
    return list(parse_lines(make_parser("condor", config), raw.splitlines(), path.name))


def only(path: Path, config: ParserConfig = CONFIG, data: bytes | None = None) -> object:
    results = parse_file(path, config, data)
    assert len(results) == 1, results
    return results[0][1]


def pipe(line: str) -> BatchEvent | None:
    parser = CondorParser(CONFIG)
    parser.begin_file(line)
    result = parser.parse(line, "batch", 1)
    assert not isinstance(result, tuple)
    return result


def pipe_error(line: str) -> Reason:
    with pytest.raises(ParseError) as caught:
        pipe(line)
    return caught.value.reason


def ad_text(name: str) -> str:
    return (CONDOR_DIR / name).read_text(encoding="utf-8")


def edited(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def parse_ad(
    text: str, config: ParserConfig = CONFIG
) -> BatchEvent | tuple[BatchEvent, CeEvent] | None:
    parser = CondorParser(config)
    parser.begin_file(text.split("\n", 1)[0])
    return parser.parse(text.rstrip("\n"), "history", 1)


def ad_error(text: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_ad(text)
    return caught.value


def grid_job(text: str, config: ParserConfig = CONFIG) -> tuple[BatchEvent, CeEvent]:
    result = parse_ad(text, config)
    assert isinstance(result, tuple)
    batch, ce = result
    assert isinstance(batch, BatchEvent)
    assert isinstance(ce, CeEvent)
    return batch, ce


# -- '|'-separated batch lines against EXPECTED.md -------------------------------------------


@dataclass(frozen=True)
class Expected:
    """One row of EXPECTED.md's htcondor tables, with our values where we deliberately differ.

    APEL multiplies wall and CPU by the scale column and truncates (287 × 1.5 → 430); we keep
    the raw durations and the scale in ``host_factor`` for normalisation, so ``wall``/``cpu`` are
    the unscaled values and ``apel_wall``/``apel_cpu`` APEL's. APEL's NodeCount is always 0
    ("unknown"); ours is None.
    """

    file: str
    line_no: int
    local_job_id: str
    user: str
    start: str
    end: str
    wall: int
    cpu: int
    memory_real: int
    memory_virtual: int
    processors: int
    host_factor: float | None
    apel_wall: int
    apel_cpu: int
    from_host: str | None


HT = "htcondor.txt"
CE = "htcondor-ce-batch.txt"
KIT = "htcondor-ce-1-kit.gridka.de"
EXPECTED = [
    # No scale column: APEL's default 1.0; we say "unknown".
    Expected(HT, 1, "1234567", "opssgm", "2014-10-07T13:24:33", "2014-10-07T18:56:39", 19, 26,
             712944, 2075028, 1, None, 19, 26, None),
    Expected(HT, 2, "arcce.rl.ac.uk#2376.0#1589", "tatls011", "2015-06-30T13:40:43",
             "2015-06-30T13:45:30", 287, 118, 26636, 26832, 1, 1.0, 287, 118, "arcce.rl.ac.uk"),
    Expected(HT, 3, "arcce.rl.ac.uk#2486.0#1888", "t2k016", "2015-06-30T13:45:19",
             "2015-06-30T13:45:22", 4, 0, 0, 11, 1, 1.0, 4, 0, "arcce.rl.ac.uk"),
    Expected(HT, 4, "arcce.rl.ac.uk#2478.0#1874", "snoplus014", "2015-06-30T13:45:18",
             "2015-06-30T13:45:20", 2, 0, 0, 11, 1, 1.0, 2, 0, "arcce.rl.ac.uk"),
    # A trailing '|' without a scale (apel#341).
    Expected(HT, 5, "arcce.rl.ac.uk#2376.0#71589", "tatls011", "2015-06-30T13:40:43",
             "2015-06-30T13:45:30", 287, 118, 26636, 26832, 1, None, 287, 118, "arcce.rl.ac.uk"),
    # Scale 1.5: APEL gives wall 28, CPU 39; we keep 19 and 26 and the factor.
    Expected(HT, 6, "1234567", "opsgm", "2014-10-07T13:24:33", "2014-10-07T18:56:39", 19, 26,
             712944, 2075028, 1, 1.5, 28, 39, None),
    Expected(HT, 7, "ce.ac.uk#7", "l011", "2015-06-30T13:40:43", "2015-06-30T13:45:30", 287,
             119, 6636, 6832, 1, 1.5, 430, 178, "ce.ac.uk"),
    Expected(HT, 8, "ce.ac.uk#2486.0", "t2k016", "2015-06-30T13:45:19", "2015-06-30T13:45:22",
             4, 0, 0, 11, 1, 1.5, 6, 0, "ce.ac.uk"),
    Expected(HT, 9, "ce.ac.uk#278.0", "snoplus014", "2015-06-30T13:45:18",
             "2015-06-30T13:45:20", 2, 0, 0, 11, 1, 1.5, 3, 0, "ce.ac.uk"),
    # Line 10 ends before it starts: see test_negative_interval_is_rejected.
    Expected(CE, 1, f"3099992.0_{KIT}", "alicesgm", "2021-01-31T05:42:04", "2021-01-31T18:57:42",
             47738, 43132, 2046508, 6599748, 1, 1.069035087719298, 51033, 46109, KIT),
    Expected(CE, 2, f"3099996.0_{KIT}", "atlasprd", "2021-01-31T07:07:34", "2021-01-31T13:47:09",
             23975, 183513, 8745192, 42251352, 8, 0.9114035087719299, 21850, 167254, KIT),
    Expected(CE, 3, f"3099991.0_{KIT}", "atlasprd", "2021-01-31T07:07:35", "2021-01-31T13:25:48",
             22693, 179460, 9823420, 43896844, 8, 0.9151754385964912, 20768, 164237, KIT),
    Expected(CE, 4, f"3099997.0_{KIT}", "atlasprd", "2021-01-31T07:15:09", "2021-01-31T12:58:59",
             20630, 165000, 9061048, 43332508, 8, 0.9151754385964912, 18880, 151003, KIT),
]  # fmt: skip


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda e: f"{e.file}:{e.line_no}")
def test_batch_lines_give_apel_values(formats_dir: Path, expected: Expected) -> None:
    results = dict(parse_file(formats_dir / expected.file))
    record = results[expected.line_no]
    assert isinstance(record, BatchEvent)
    assert record.local_job_id == expected.local_job_id
    assert record.local_user_id == expected.user
    assert record.local_user_group is None
    assert record.queue is None
    assert record.start_time == utc(expected.start)
    assert record.end_time == utc(expected.end)
    assert record.wall_duration == expected.wall
    assert record.cpu_duration == expected.cpu
    assert record.host_factor == expected.host_factor
    # APEL's figures are ours scaled by the factor and truncated.
    factor = expected.host_factor or 1.0
    assert int(expected.wall * factor) == expected.apel_wall
    assert int(expected.cpu * factor) == expected.apel_cpu
    assert record.memory_real == expected.memory_real
    assert record.memory_virtual == expected.memory_virtual
    assert record.processors == expected.processors
    assert record.node_count is None
    assert record.exec_hosts == []
    assert record.from_host == expected.from_host
    assert record.machine_specs == {}
    assert (record.site, record.machine_name) == ("testSite", "testHost")
    assert record.infrastructure_description == INFRASTRUCTURE == "APEL-CREAM-HTCONDOR"
    assert (record.source_format, record.source_file, record.source_line) == (
        "condor",
        expected.file,
        expected.line_no,
    )
    assert record.key == f"testSite/{expected.local_job_id}"


def test_every_sample_line_is_accounted_for(formats_dir: Path) -> None:
    for name, count in ((HT, 10), (CE, 4)):
        results = parse_file(formats_dir / name)
        assert [line_no for line_no, _ in results] == list(range(1, count + 1))
        expected_lines = {e.line_no for e in EXPECTED if e.file == name}
        assert {n for n, r in results if isinstance(r, BatchEvent)} == expected_lines


def test_negative_interval_is_rejected(formats_dir: Path) -> None:
    # htcondor.txt line 10 stops (epoch 140) before it starts (1463). APEL accepts it (no sanity
    # checks, EXPECTED.md); we reject it: a negative interval is not a job.
    results = dict(parse_file(formats_dir / HT))
    rejection = results[10]
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INCONSISTENT.value
    assert (rejection.file, rejection.line, rejection.source_format) == (HT, 10, "condor")
    assert rejection.raw == sample_lines(formats_dir, HT)[9]


LINE = "arcce.rl.ac.uk#2376.0#1589|tatls011|287|107|11|1435671643|1435671930|26636|26832|1|1"


def test_eight_columns_are_malformed() -> None:
    # What sites saw in HTCondor-CE batch files: "-format" skips an UNDEFINED attribute, so the
    # line comes out short (apel-on-htcondor-ce: "8 instead of 11").
    assert pipe_error("ce.ac.uk#7|l011|287|107|12|1435671643|26636|26832") is Reason.MALFORMED
    assert pipe_error(LINE + "|1|") is Reason.MALFORMED  # 12 columns
    assert pipe_error("just some text") is Reason.MALFORMED


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("#1589|tatls011|287|", "#1589|tatls011|x87|", Reason.BAD_NUMBER),
        ("|107|11|", "|107|1.1.1|", Reason.BAD_NUMBER),
        ("|107|11|", "|107|nan|", Reason.BAD_NUMBER),
        ("|107|11|", "|107|1e999|", Reason.BAD_NUMBER),
        ("|26832|1|1", "|26832|1|fast", Reason.BAD_NUMBER),
        ("|26832|1|1", "|26832|1.5|1", Reason.BAD_NUMBER),  # not a CPU count
        ("|287|107|", "||107|", Reason.MISSING_FIELD),
        ("|287|107|", "|undefined|107|", Reason.MISSING_FIELD),
        ("arcce.rl.ac.uk#2376.0#1589|", "|", Reason.MISSING_FIELD),
        ("|1435671643|1435671930|", "|1435671643|99999999999999|", Reason.BAD_TIMESTAMP),
        ("|287|107|", "|-287|107|", Reason.INCONSISTENT),
        ("|287|107|", "|1e16|107|", Reason.BAD_NUMBER),
        ("|26636|26832|", "|26636|" + "9" * 30 + "|", Reason.BAD_NUMBER),
    ],
)
def test_bad_columns_are_rejected_with_a_reason(old: str, new: str, reason: Reason) -> None:
    assert pipe_error(edited(LINE, old, new)) is reason


def test_job_that_never_started_is_ignored() -> None:
    assert pipe(edited(LINE, "|1435671643|", "|0|")) is None


def test_float_columns_are_rounded() -> None:
    # condor_history -format "%s" prints RemoteWallClockTime as a real.
    record = pipe(edited(LINE, "|287|107|11|", "|287.0|106.6|11.2|"))
    assert record is not None
    assert (record.wall_duration, record.cpu_duration) == (287, 118)


@pytest.mark.parametrize("scale", ["", "undefined", "UNDEFINED", "0", "-1"])
def test_scale_that_is_no_factor_is_unknown(scale: str) -> None:
    record = pipe(LINE[: LINE.rindex("|") + 1] + scale)
    assert record is not None
    assert record.host_factor is None
    assert record.wall_duration == 287


def test_blanks_around_a_line_are_ignored() -> None:
    assert pipe("  " + LINE + " \t") == pipe(LINE)


# -- ClassAds ------------------------------------------------------------------------------------


def test_x509_grid_job_gives_both_halves_with_one_key() -> None:
    result = only(CONDOR_DIR / X509_JOB)
    assert isinstance(result, tuple)
    batch, ce = result
    assert isinstance(batch, BatchEvent)
    assert isinstance(ce, CeEvent)
    job_id = "ce01.example.org#3100144.0#1738300800"
    assert batch.key == ce.key == f"testSite/{job_id}"
    assert batch.local_job_id == ce.lrms_id == ce.grid_job_id == job_id

    assert batch.local_user_id == "atlpil01"
    assert batch.local_user_group == "group_atlas.pilot"
    assert batch.account == "group_atlas.pilot.atlpil01"
    assert batch.queue is None
    assert batch.submit_time == utc("2025-01-31T05:20:00")
    assert batch.start_time == utc("2025-01-31T05:22:04")
    assert batch.end_time == utc("2025-01-31T18:37:42")
    assert batch.wall_duration == 47738
    assert batch.cpu_duration == 342537 + 5951
    assert batch.memory_real == 8745192  # ResidentSetSize_RAW, not the rounded ResidentSetSize
    assert batch.memory_virtual == 42251352
    assert batch.processors == 8
    assert batch.node_count == 1
    assert batch.exec_hosts == ["wn042.example.org"]
    assert batch.exit_status == 0
    assert batch.from_host == "ce01.example.org"
    assert batch.host_factor == 1.069035087719298
    assert batch.machine_specs == {"HEPSPEC": 12.19, "HEPscore23": 13.5}
    assert batch.infrastructure_description == "APEL-CREAM-HTCONDOR"
    assert (batch.source_format, batch.source_file, batch.source_line) == ("condor", X509_JOB, 1)

    assert ce.timestamp == batch.end_time
    assert ce.global_user_name == PILOT_DN
    # x509UserProxyFQAN is "<DN>,<FQAN>,...": the DN is not an FQAN.
    assert ce.fqans == [
        "/atlas/Role=pilot/Capability=NULL",
        "/atlas/Role=NULL/Capability=NULL",
        "/atlas/lcg1/Role=NULL/Capability=NULL",
    ]
    assert ce.fqan == "/atlas/Role=pilot/Capability=NULL"
    assert (ce.vo, ce.vo_group, ce.vo_role) == ("atlas", "/atlas", "Role=pilot")
    assert ce.submit_host == "ce01.example.org"
    assert ce.local_user == "atlpil01"
    assert (ce.site, ce.source_format, ce.source_file, ce.source_line) == (
        "testSite",
        "condor",
        X509_JOB,
        1,
    )


def test_first_fqan_attribute_decides_the_primary_fqan() -> None:
    text = edited(
        ad_text(X509_JOB),
        'x509UserProxyFirstFQAN = "/atlas/Role=pilot/Capability=NULL"',
        'x509UserProxyFirstFQAN = "/atlas/Role=NULL/Capability=NULL"',
    )
    _, ce = grid_job(text)
    assert ce.fqans[:2] == ["/atlas/Role=NULL/Capability=NULL", "/atlas/Role=pilot/Capability=NULL"]
    assert ce.vo_role == "Role=NULL"


def test_fqan_list_without_the_dn_and_without_first_fqan() -> None:
    text = "\n".join(
        line
        for line in ad_text(X509_JOB).splitlines()
        if not line.startswith(("x509UserProxyFirstFQAN", "x509UserProxyFQAN"))
    )
    text += '\nx509UserProxyFQAN = "/atlas/Role=production/Capability=NULL,/atlas/Capability=NULL"'
    _, ce = grid_job(text)
    assert ce.fqans == ["/atlas/Role=production/Capability=NULL", "/atlas/Capability=NULL"]
    assert ce.vo_role == "Role=production"


def test_dn_with_a_comma_is_cut_off_by_the_subject() -> None:
    dn = "/DC=org/DC=example/CN=Doe, Jane"
    text = ad_text(X509_JOB).replace(PILOT_DN, dn)
    _, ce = grid_job(text)
    assert ce.global_user_name == dn
    assert ce.fqans[0] == "/atlas/Role=pilot/Capability=NULL"
    assert len(ce.fqans) == 3


def test_proxy_without_voms_gives_the_vo_name_or_the_owner_map() -> None:
    text = "\n".join(
        line
        for line in ad_text(X509_JOB).splitlines()
        if not line.startswith(("x509UserProxyFirstFQAN", "x509UserProxyFQAN"))
    )
    _, ce = grid_job(text)
    assert (ce.fqan, ce.fqans, ce.vo) == (None, [], "atlas")
    mapped = ParserConfig(site="testSite", identity_map={"owner:atlpil01": "/atlas/Role=pilot"})
    _, ce = grid_job(text, mapped)
    assert (ce.fqan, ce.vo, ce.vo_role) == ("/atlas/Role=pilot", "atlas", "Role=pilot")


TOKEN_MAP = {f"{ATLAS_ISSUER} {ATLAS_SUBJECT}": "/atlas/Role=production/Capability=NULL"}


def test_token_job_fqan_from_issuer_and_subject() -> None:
    config = ParserConfig(site="testSite", machine_name="testHost", identity_map=TOKEN_MAP)
    result = only(CONDOR_DIR / TOKEN_JOB, config)
    assert isinstance(result, tuple)
    batch, ce = result
    assert isinstance(batch, BatchEvent)
    assert isinstance(ce, CeEvent)
    assert batch.key == ce.key == "testSite/ce01.example.org#3100145.0#1738312200"
    # The token's subject is unique per issuer only, so the user name holds both.
    assert ce.global_user_name == f"https://atlas-auth.cern.ch/{ATLAS_SUBJECT}"
    assert ce.fqan == "/atlas/Role=production/Capability=NULL"
    assert ce.fqans == [ce.fqan]
    assert (ce.vo, ce.vo_group, ce.vo_role) == ("atlas", "/atlas", "Role=production")
    assert ce.local_user == batch.local_user_id == "atlasprd"
    assert batch.wall_duration == 20630
    assert batch.cpu_duration == 165000
    assert batch.host_factor == 0.9151754385964912
    assert batch.machine_specs == {"HEPSPEC": 10.44, "HEPscore23": 11.2}


def test_token_job_fqan_from_owner() -> None:
    config = ParserConfig(
        site="testSite", identity_map={"owner:atlasprd": "/atlas/Role=production"}
    )
    result = only(CONDOR_DIR / TOKEN_JOB, config)
    assert isinstance(result, tuple)
    ce = result[1]
    assert isinstance(ce, CeEvent)
    assert (ce.fqan, ce.vo, ce.vo_role) == ("/atlas/Role=production", "atlas", "Role=production")


def test_token_mapping_wins_over_owner_mapping() -> None:
    both = {**TOKEN_MAP, "owner:atlasprd": "/atlas/Role=lcgadmin"}
    _, ce = grid_job(ad_text(TOKEN_JOB), ParserConfig(site="testSite", identity_map=both))
    assert ce.vo_role == "Role=production"


def test_unmapped_token_job_still_gives_the_ce_half_without_a_vo() -> None:
    # The joiner's VO map (local group or account to VO) decides later.
    _, ce = grid_job(ad_text(TOKEN_JOB))
    assert ce.global_user_name == f"https://atlas-auth.cern.ch/{ATLAS_SUBJECT}"
    assert (ce.fqan, ce.fqans, ce.vo, ce.vo_group, ce.vo_role) == (None, [], None, None, None)


def test_plain_token_attributes_as_the_ce_schedd_has_them() -> None:
    # On the CE's own schedd the claims are AuthToken*; the router copies them to orig_AuthToken*.
    text = ad_text(TOKEN_JOB).replace("\norig_AuthToken", "\nAuthToken")
    _, ce = grid_job(text, ParserConfig(site="testSite", identity_map=TOKEN_MAP))
    assert ce.fqan == "/atlas/Role=production/Capability=NULL"
    assert ce.global_user_name == f"https://atlas-auth.cern.ch/{ATLAS_SUBJECT}"


def test_local_token_submission_is_a_local_job() -> None:
    # HTCondor >= 9 users authenticate to their schedd with tokens too; only a job the CE's
    # router brought in (RoutedFromJobId, orig_AuthToken*) is a grid job.
    text = ad_text(TOKEN_JOB).replace("\norig_AuthToken", "\nAuthToken")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("RoutedFromJobId"))
    result = CondorParser(ParserConfig(site="testSite", identity_map=TOKEN_MAP)).parse(
        text, "history.3100145.0", 1
    )
    assert isinstance(result, BatchEvent)


def test_local_job_gives_only_the_batch_half() -> None:
    record = only(CONDOR_DIR / LOCAL_JOB)
    assert isinstance(record, BatchEvent)
    assert record.local_job_id == "submit01.example.org#1840213.0#1738231200"
    assert record.local_user_id == "jdoe"
    assert (record.local_user_group, record.account) == ("group_physics", "group_physics.jdoe")
    assert record.wall_duration == 14408
    assert record.cpu_duration == 27901 + 212
    assert (record.processors, record.node_count) == (2, 1)
    assert record.from_host == "submit01.example.org"
    assert record.exec_hosts == ["wn017.example.org"]
    assert (record.host_factor, record.machine_specs) == (None, {})


def test_removed_before_start_is_ignored() -> None:
    assert only(CONDOR_DIR / REMOVED_JOB) is None


def test_removed_after_it_ran_is_accounted() -> None:
    results = parse_file(CONDOR_DIR / HISTORY_L)
    removed = results[2][1]
    assert isinstance(removed, tuple)
    batch = removed[0]
    assert isinstance(batch, BatchEvent)
    assert batch.local_job_id == "ce01.example.org#3100162.0#1738402000"
    assert batch.wall_duration == 7200
    assert batch.end_time == utc("2025-02-01T11:27:30")  # EnteredCurrentStatus; CompletionDate 0
    assert batch.exit_status is None


def test_ad_without_global_job_id_is_missing_field() -> None:
    rejection = only(CONDOR_DIR / NO_JOB_ID)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.MISSING_FIELD.value
    assert rejection.detail == "no GlobalJobId"
    assert (rejection.file, rejection.line) == (NO_JOB_ID, 1)
    assert rejection.raw == (CONDOR_DIR / NO_JOB_ID).read_text().rstrip("\n")


def test_truncated_file_is_malformed_with_the_line() -> None:
    rejection = only(CONDOR_DIR / TRUNCATED)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.MALFORMED.value
    assert "line 68" in rejection.detail  # the last line, cut short
    assert 'x509userproxysubject = "/DC=ch' in rejection.detail


def test_truncated_in_an_attribute_name_is_malformed() -> None:
    error = ad_error(ad_text(LOCAL_JOB).rstrip("\n") + "\nWhenToTransf")
    assert error.reason is Reason.MALFORMED
    assert "line 77" in error.detail


def test_condor_history_long_output() -> None:
    results = parse_file(CONDOR_DIR / HISTORY_L)
    # Ads at lines 1, 38 (after a blank line) and 82 (after a '***' banner).
    assert [line_no for line_no, _ in results] == [1, 38, 82]
    local, grid, token = (result for _, result in results)
    assert isinstance(local, BatchEvent)
    assert local.local_user_id == "jdoe"
    assert local.exit_status == 128 + 9  # ExitBySignal, ExitSignal 9
    assert local.host_factor is None
    assert isinstance(grid, tuple)
    assert isinstance(grid[1], CeEvent)
    assert grid[1].vo == "alice"
    assert isinstance(token, tuple)
    assert isinstance(token[1], CeEvent)
    assert token[1].global_user_name == (
        "https://cms-auth.web.cern.ch/bad55f4e-602c-4e8d-a5c5-bd8ffb762113"
    )


# -- what an ad may hold ---------------------------------------------------------------------


def test_ce_side_source_of_a_routed_job_is_ignored() -> None:
    # The CE schedd's job (RoutedToJobId) repeats the usage of its routed copy: counted once.
    assert parse_ad(ad_text(X509_JOB) + 'RoutedToJobId = "3100144.0"') is None


def test_grid_universe_job_is_ignored() -> None:
    assert parse_ad(edited(ad_text(X509_JOB), "JobUniverse = 5", "JobUniverse = 9")) is None


@pytest.mark.parametrize("status", ["1", "2", "5", "6", "7"])
def test_jobs_not_completed_or_removed_are_ignored(status: str) -> None:
    assert parse_ad(edited(ad_text(LOCAL_JOB), "JobStatus = 4", f"JobStatus = {status}")) is None


def test_attribute_names_are_case_insensitive() -> None:
    text = ad_text(X509_JOB).replace("RemoteWallClockTime", "REMOTEWALLCLOCKTIME")
    batch, _ = grid_job(text)
    assert batch.wall_duration == 47738


def test_request_cpus_expression_falls_back_to_cpus_provisioned() -> None:
    text = edited(ad_text(LOCAL_JOB), "RequestCpus = 2", "RequestCpus = ifThenElse(Big, 4, 2)")
    record = parse_ad(text)
    assert isinstance(record, BatchEvent)
    assert record.processors == 2  # CpusProvisioned


def test_fallback_attributes() -> None:
    text = ad_text(LOCAL_JOB)
    for name in ("JobStartDate", "ResidentSetSize_RAW", "ImageSize_RAW", "EnteredCurrentStatus"):
        text = "\n".join(line for line in text.splitlines() if not line.startswith(name + " "))
    record = parse_ad(text)
    assert isinstance(record, BatchEvent)
    assert record.start_time == utc("2025-01-30T10:01:02")  # JobCurrentStartDate
    assert record.end_time == utc("2025-01-30T14:01:10")  # CompletionDate
    assert (record.memory_real, record.memory_virtual) == (2750000, 2750000)


def test_undefined_scaling_and_specs_are_unknown() -> None:
    text = edited(
        ad_text(X509_JOB),
        "MachineAttrApelScaling0 = 1.069035087719298",
        "MachineAttrApelScaling0 = undefined",
    )
    text = edited(
        text,
        "MachineAttrApelSpecs0 = [ HEPSPEC = 12.19; HEPscore23 = 13.5 ]",
        'MachineAttrApelSpecs0 = [ HEPSPEC = 12.19; Note = "a; b = 3"; Bad = x; HEPscore23 = 13 ]',
    )
    batch, _ = grid_job(text)
    assert batch.host_factor is None
    assert batch.machine_specs == {"HEPSPEC": 12.19, "HEPscore23": 13.0}


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("RemoteWallClockTime = 14408.0", "RemoteWallClockTime = undefined", Reason.MISSING_FIELD),
        ("RemoteWallClockTime = 14408.0\n", "", Reason.MISSING_FIELD),
        ("\nRemoteUserCpu = 27901.0", "\nRemoteUserCpu = UNDEFINED", Reason.MISSING_FIELD),
        ("RemoteWallClockTime = 14408.0", "RemoteWallClockTime = lots", Reason.BAD_NUMBER),
        ("RemoteWallClockTime = 14408.0", 'RemoteWallClockTime = "14408"', Reason.BAD_NUMBER),
        ("RemoteWallClockTime = 14408.0", "RemoteWallClockTime = 1e999", Reason.BAD_NUMBER),
        ("RemoteWallClockTime = 14408.0", "RemoteWallClockTime = -1.0", Reason.INCONSISTENT),
        ("JobStatus = 4", "JobStatus = undefined", Reason.MISSING_FIELD),
        ("JobStatus = 4", 'JobStatus = "4"', Reason.BAD_NUMBER),
        ("ImageSize_RAW = 2684420", "ImageSize_RAW = big", Reason.BAD_NUMBER),
        ("RequestCpus = 2", 'RequestCpus = "2"', Reason.BAD_NUMBER),
        ("EnteredCurrentStatus = 1738245670", "EnteredCurrentStatus = 1738231000", Reason.INCONSISTENT),
        ("QDate = 1738231200", "QDate = 1e13", Reason.BAD_TIMESTAMP),
        ('Owner = "jdoe"', "Owner = jdoe", Reason.MALFORMED),
        ('Owner = "jdoe"', 'Owner = "jd"oe"', Reason.MALFORMED),
        ('Owner = "jdoe"', "Owner = ", Reason.MALFORMED),
        ('Owner = "jdoe"', "Owner", Reason.MALFORMED),
        ('Owner = "jdoe"', 'Owner= "jdoe"', Reason.MALFORMED),
        ('Args = "--events 50000 --seed 1840213"', 'Args = "--events', Reason.MALFORMED),
        ('GlobalJobId = "submit01.example.org#1840213.0#1738231200"', 'GlobalJobId = ""', Reason.MISSING_FIELD),
    ],
)  # fmt: skip
def test_bad_attributes_are_rejected_with_a_reason(old: str, new: str, reason: Reason) -> None:
    assert ad_error(edited(ad_text(LOCAL_JOB), old, new)).reason is reason


def test_completed_job_without_a_start_is_missing_field() -> None:
    text = "\n".join(line for line in ad_text(LOCAL_JOB).splitlines() if "StartDate" not in line)
    assert ad_error(text).reason is Reason.MISSING_FIELD


def test_escaped_quotes_in_a_kept_string() -> None:
    record = parse_ad(edited(ad_text(LOCAL_JOB), 'Owner = "jdoe"', r'Owner = "j\"doe"'))
    assert isinstance(record, BatchEvent)
    assert record.local_user_id == 'j"doe'


def test_repeated_attribute_keeps_the_last_value() -> None:
    record = parse_ad(ad_text(LOCAL_JOB) + "RemoteWallClockTime = 14000.0")
    assert isinstance(record, BatchEvent)
    assert record.wall_duration == 14000


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("1.5E+02", 150.0),
        (".5", 0.5),
        ('"a \\"quoted\\" word"', 'a "quoted" word'),
        ('"back\\\\slash"', "back\\slash"),
        ('""', ""),
        ("true", True),
        ("FALSE", False),
        ("undefined", None),
        ("UNDEFINED", None),
        ('{ "a","b" }', ["a", "b"]),
        ('{ 1, 2.5, "x,y" }', [1, 2.5, "x,y"]),
        ("{ }", []),
        ("[ HEPSPEC = 10.5; HEPscore23 = 12 ]", {"HEPSPEC": 10.5, "HEPscore23": 12}),
        ('[ a = "x;y"; b = { 1,2 } ]', {"a": "x;y", "b": [1, 2]}),
    ],
)
def test_literals(text: str, value: object) -> None:
    parsed = parse_literal(text)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize(
    "text", ["DiskUsage", "((ResidentSetSize + 1023) / 1024)", "1 + 2", "error"]
)
def test_expressions_keep_their_raw_text(text: str) -> None:
    parsed = parse_literal(text)
    assert isinstance(parsed, Expression)
    assert parsed == text


@pytest.mark.parametrize("text", ['"open', '"a"b"', '{ "a", }', "[ = 1 ]"])
def test_broken_literals_are_malformed(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_literal(text)
    assert caught.value.reason is Reason.MALFORMED


# -- entries: split_groups and begin_file -----------------------------------------------------


def test_parser_is_grouped_and_file_aware() -> None:
    parser = make_parser("condor", CONFIG)
    assert isinstance(parser, CondorParser)
    assert isinstance(parser, GroupedParser)
    assert isinstance(parser, FileAwareParser)
    assert parser.source_format == "condor"


def ads_parser() -> CondorParser:
    parser = CondorParser(CONFIG)
    parser.begin_file("ClusterId = 1")
    return parser


AD = ["ClusterId = 1", "ProcId = 0"]


def test_last_ad_is_held_back_until_final() -> None:
    parser = ads_parser()
    lines = [*AD, "", *AD, "", *AD]
    assert parser.split_groups(lines, final=False) == ([(0, 2), (3, 5)], 6)
    assert parser.split_groups(lines, final=True) == ([(0, 2), (3, 5), (6, 8)], 8)
    assert parser.split_groups(AD, final=False) == ([], 0)
    assert parser.split_groups([], final=False) == ([], 0)
    assert parser.split_groups([], final=True) == ([], 0)


def test_banners_and_blank_runs_separate_ads() -> None:
    parser = ads_parser()
    banner = '*** Offset = 0 ClusterId = 1 ProcId = 0 Owner = "u" CompletionDate = 1'
    lines = ["", "  ", *AD, banner, *AD, "-- Schedd: ce01.example.org : <192.0.2.10:9618>", "", ""]
    assert parser.split_groups(lines, final=False) == ([(2, 4), (5, 7)], 10)
    assert parser.split_groups(["", "", banner], final=False) == ([], 3)


def test_an_ad_followed_by_a_separator_is_complete() -> None:
    assert ads_parser().split_groups([*AD, ""], final=False) == ([(0, 2)], 3)


def test_pipe_mode_one_line_per_group() -> None:
    parser = CondorParser(CONFIG)
    parser.begin_file(LINE)
    lines = [LINE, "", LINE, "   ", LINE]
    assert parser.split_groups(lines, final=False) == ([(0, 1), (2, 3), (4, 5)], 5)


def test_mode_is_chosen_per_file() -> None:
    parser = make_parser("condor", CONFIG)
    ad = ad_text(LOCAL_JOB).encode()
    ((_, first),) = parse_lines(parser, ad.splitlines(), "a")
    assert isinstance(first, BatchEvent)
    results = list(parse_lines(parser, [LINE.encode(), LINE.encode()], "b"))
    assert [line_no for line_no, _ in results] == [1, 2]
    assert all(isinstance(result, BatchEvent) for _, result in results)
    ((_, again),) = parse_lines(parser, ad.splitlines(), "c")
    assert isinstance(again, BatchEvent)


def test_undecided_form_is_held_back_until_a_line_tells_it() -> None:
    parser = CondorParser(CONFIG)
    parser.begin_file("")
    assert parser.split_groups(["", "  "], final=False) == ([], 0)
    assert parser.split_groups(["", "??"], final=True) == ([(1, 2)], 2)  # rejected on its own
    parser.begin_file("-- Schedd: ce01.example.org : <192.0.2.10:9618>")
    assert parser.split_groups(["-- Schedd: ce01", *AD], final=True) == ([(1, 3)], 3)


def test_undecided_first_line_is_decided_by_the_lines_after_it() -> None:
    parser = make_parser("condor", CONFIG)
    results = list(parse_lines(parser, [b"", LINE.encode(), b"garbage", LINE.encode()], "f"))
    assert [line_no for line_no, _ in results] == [2, 3, 4]
    assert isinstance(results[1][1], Rejection)
    assert results[1][1].reason == Reason.MALFORMED.value
    lines = [b"", *ad_text(LOCAL_JOB).encode().splitlines()]
    results = list(parse_lines(parser, lines, "g"))
    assert [(line_no, type(result)) for line_no, result in results] == [(2, BatchEvent)]


def test_resuming_in_the_middle_of_a_history_file() -> None:
    text = (CONDOR_DIR / HISTORY_L).read_bytes().splitlines()
    parser = make_parser("condor", CONFIG)
    assert isinstance(parser, CondorParser)
    parser.begin_file(text[0].decode())
    # From the second ad on: it ends at the banner, the third at the file's last (blank) line.
    results, consumed = parse_grouped(parser, text[37:], HISTORY_L, 38, final=False)
    assert [line_no for line_no, _ in results] == [38, 82]
    assert consumed == len(text) - 37
    # Without that blank line the third ad may still be growing: it is held back.
    results, consumed = parse_grouped(parser, text[37:-1], HISTORY_L, 38, final=False)
    assert [line_no for line_no, _ in results] == [38]
    assert consumed == 81 - 37


# -- bytes that are not UTF-8 ------------------------------------------------------------------


def test_non_utf8_in_a_kept_field_is_rejected() -> None:
    data = ad_text(LOCAL_JOB).encode().replace(b'Owner = "jdoe"', b'Owner = "jd\xffe"')
    rejection = only(CONDOR_DIR / LOCAL_JOB, data=data)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_UTF8.value
    assert "jd\ufffde" in rejection.raw


def test_non_utf8_in_the_ce_half_is_rejected() -> None:
    data = ad_text(X509_JOB).encode().replace(b"Robot: ATLAS Pilot1", b"Robot: ATL\xffS Pilot1")
    rejection = only(CONDOR_DIR / X509_JOB, data=data)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_UTF8.value


def test_non_utf8_in_an_attribute_we_do_not_keep_is_harmless() -> None:
    data = ad_text(LOCAL_JOB).encode().replace(b"run_sim.sh,", b"run_s\xffm.sh,")
    record = only(CONDOR_DIR / LOCAL_JOB, data=data)
    assert isinstance(record, BatchEvent)


def test_non_utf8_through_parse_line() -> None:
    parser = make_parser("condor", CONFIG)
    raw = LINE.replace("tatls011", "tatls\xff11").encode("latin-1")
    rejection = parse_line(parser, raw, "batch", 4)
    assert isinstance(rejection, Rejection)
    assert (rejection.reason, rejection.line) == (Reason.INVALID_UTF8.value, 4)
    raw = LINE.encode() + b"\xff"  # in the scale column: not a number
    rejection = parse_line(parser, raw, "batch", 5)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.BAD_NUMBER.value


# -- identity map file -------------------------------------------------------------------------


def test_load_identity_map(tmp_path: Path) -> None:
    path = tmp_path / "identity.map"
    path.write_text(
        "# issuer, subject or Owner, then the FQAN\n"
        "\n"
        f"token {ATLAS_ISSUER} {ATLAS_SUBJECT} /atlas/Role=production/Capability=NULL\n"
        "  owner   cmspilot   /cms/Role=pilot  \n"
        "owner atlasprd /atlas/Role=production\n"
    )
    mapping = load_identity_map(path)
    assert mapping == {
        f"{ATLAS_ISSUER} {ATLAS_SUBJECT}": "/atlas/Role=production/Capability=NULL",
        "owner:cmspilot": "/cms/Role=pilot",
        "owner:atlasprd": "/atlas/Role=production",
    }
    config = ParserConfig(site="testSite", identity_map=mapping)
    _, ce = grid_job(ad_text(TOKEN_JOB), config)
    assert ce.fqan == "/atlas/Role=production/Capability=NULL"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("token https://issuer/ /atlas", "expected 'token"),
        ("owner atlasprd", "expected 'token"),
        ("owner atlasprd /atlas extra", "expected 'token"),
        ("group atlas /atlas", "expected 'token"),
        ("owner atlasprd atlas", "does not start with '/'"),
        ("owner cmspilot /cms/Role=other", "mapped twice"),
    ],
)
def test_identity_map_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "identity.map"
    path.write_text("# header\nowner cmspilot /cms/Role=pilot\n" + line + "\n")
    with pytest.raises(ValueError, match=message) as caught:
        load_identity_map(path)
    assert f"{path}:3:" in str(caught.value)


def test_rejected_ad_is_stored_without_the_job_environment() -> None:
    ad = b'MyType = "Job"\nEnvironment = "AWS_SECRET_ACCESS_KEY=hunter2 HOME=/tmp"\nEnv = "X=1"\nOwner = "a"'
    parser = CondorParser(ParserConfig(site="testSite"))
    parser.begin_file('MyType = "Job"')
    result = parse_line(parser, ad, "history.1.0", 1)
    assert isinstance(result, Rejection) and result.reason == "missing_field"
    assert "hunter2" not in result.raw and "X=1" not in result.raw
    assert 'Environment = "(removed by batchacct)"' in result.raw and 'Owner = "a"' in result.raw
