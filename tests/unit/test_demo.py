"""The synthetic site (batchacct.demo) against the real LSF and BLAH parsers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batchacct.demo import (
    LOCAL_VO,
    DemoSite,
    blah_line,
    generate_site,
    lsf_line,
    write_lines,
)
from batchacct.errors import Rejection
from batchacct.parsers import ParserConfig, make_parser, parse_lines
from batchacct.records import BatchEvent, CeEvent

END = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
JOBS = 2000


@dataclass
class Parsed:
    batch: list[BatchEvent] = field(default_factory=list)
    ce: list[CeEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # raw lines a parser returned None for


def parse_site(site: DemoSite) -> Parsed:
    config = ParserConfig(site=site.site, machine_name=site.machine_name)
    parsed = Parsed()
    for source_format, files in (("lsf", site.lsf_files), ("blah", site.blah_files)):
        parser = make_parser(source_format, config)
        for path in files:
            lines = path.read_bytes().splitlines()
            for line_no, result in parse_lines(parser, lines, str(path)):
                if result is None:
                    parsed.ignored.append(lines[line_no - 1].decode())
                elif isinstance(result, Rejection):
                    parsed.rejections.append(result)
                elif isinstance(result, BatchEvent):
                    parsed.batch.append(result)
                else:
                    parsed.ce.append(result)
    return parsed


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> DemoSite:
    return generate_site(
        tmp_path_factory.mktemp("demo"), jobs=JOBS, seed=7, end=END, files_per_kind=2
    )


@pytest.fixture(scope="module")
def parsed(site: DemoSite) -> Parsed:
    return parse_site(site)


def test_files_and_counts(site: DemoSite) -> None:
    assert [p.name for p in site.lsf_files] == ["lsb.acct.1", "lsb.acct"]
    assert len(site.blah_files) == 2
    assert all(p.name.startswith("blahp.log-") for p in site.blah_files)
    assert site.jobs == JOBS == site.grid_jobs + site.local_jobs
    assert 0.06 * JOBS < site.local_jobs < 0.14 * JOBS
    assert site.malformed == 5 == site.lsf_malformed + site.blah_malformed
    assert sum(n for n, _, _ in site.expected_by_vo_month.values()) == JOBS


def test_parsers_accept_every_good_line(site: DemoSite, parsed: Parsed) -> None:
    assert len(parsed.batch) == site.jobs
    assert len(parsed.ce) == site.grid_jobs
    assert len(parsed.ignored) == site.ignored


def test_exactly_the_malformed_lines_are_rejected(site: DemoSite, parsed: Parsed) -> None:
    by_format = Counter(r.source_format for r in parsed.rejections)
    assert by_format == {"lsf": site.lsf_malformed, "blah": site.blah_malformed}
    assert {r.reason for r in parsed.rejections} == {
        "malformed",  # truncated LSF record
        "inconsistent",  # LSF record ending before it starts
        "bad_timestamp",  # BLAH timestamp
        "missing_field",  # BLAH line without lrmsID
    }
    # spread over the files, not all in one
    assert len({r.file for r in parsed.rejections}) >= 3


def test_ignored_records_are_the_non_job_ones(parsed: Parsed) -> None:
    kinds = Counter(line.split('"', 2)[1] for line in parsed.ignored)
    assert set(kinds) == {"JOB_RESIZE", "EVENT_ADRSV_FINISH", "JOB_FINISH"}
    # the ignored JOB_FINISH records are jobs killed while pending (startTime 0)
    for line in parsed.ignored:
        if line.startswith('"JOB_FINISH"'):
            assert line.split(" ")[10] == "0"


def test_parsed_values_match_the_expectation(site: DemoSite, parsed: Parsed) -> None:
    ce_by_lrms = {ce.lrms_id: ce for ce in parsed.ce}
    assert len(ce_by_lrms) == len(parsed.ce)  # one BLAH line per grid job
    totals: dict[tuple[str, str], list[int]] = {}
    joined = 0
    for event in parsed.batch:
        ce = ce_by_lrms.get(event.local_job_id)
        if ce is not None:
            joined += 1
            assert ce.vo is not None
            vo = ce.vo
            # CREAM semantics: the BLAH timestamp is the submission, shortly before the start
            assert ce.timestamp == event.submit_time
            assert ce.timestamp <= event.start_time
        else:
            vo = LOCAL_VO
        sums = totals.setdefault((vo, event.end_time.strftime("%Y-%m")), [0, 0, 0])
        sums[0] += 1
        sums[1] += event.wall_duration
        sums[2] += event.cpu_duration
    assert joined == site.grid_jobs
    assert {k: tuple(v) for k, v in totals.items()} == site.expected_by_vo_month
    assert {vo for vo, _ in site.expected_by_vo_month} == {
        "atlas", "cms", "lhcb", "alice", "dteam", LOCAL_VO,
    }  # fmt: skip


def test_records_look_like_a_real_site(site: DemoSite, parsed: Parsed) -> None:
    assert site.start is not None and site.end is not None
    assert all(site.start <= e.start_time < e.end_time <= site.end for e in parsed.batch)
    assert len({e.key for e in parsed.batch}) == site.jobs
    assert any("[" in e.local_job_id for e in parsed.batch)  # job-array elements
    assert any("[" in ce.lrms_id for ce in parsed.ce)
    assert {e.processors for e in parsed.batch} >= {1, 8, 16}
    assert any(e.node_count == 2 for e in parsed.batch)  # 16 slots on 2 hosts
    assert all(e.exec_hosts[0][0] == "b" and "g" in e.exec_hosts[0] for e in parsed.batch)
    for e in parsed.batch:
        assert e.processors is not None
        efficiency = e.cpu_duration / (e.wall_duration * e.processors)
        assert 0.29 <= efficiency <= 0.99
        assert e.memory_real is not None and e.memory_real > 0
        assert e.account
    assert any(len(ce.fqans) > 1 for ce in parsed.ce)
    assert {ce.vo_role for ce in parsed.ce} >= {"Role=production", "Role=pilot"}
    # BLAH lines are in time order, across files too
    stamps = [ce.timestamp for ce in parsed.ce]
    assert stamps == sorted(stamps)
    # lsb.acct records are in end-time order, across the rotated files
    ends = [e.end_time for e in parsed.batch]
    assert ends == sorted(ends)


def test_same_seed_same_files(tmp_path: Path, site: DemoSite) -> None:
    again = generate_site(tmp_path / "a", jobs=JOBS, seed=7, end=END, files_per_kind=2)
    assert [p.name for p in again.files] == [p.name for p in site.files]
    for mine, theirs in zip(again.files, site.files, strict=True):
        assert mine.read_bytes() == theirs.read_bytes()
    assert again.expected_by_vo_month == site.expected_by_vo_month
    other = generate_site(tmp_path / "b", jobs=JOBS, seed=8, end=END, files_per_kind=2)
    assert other.lsf_files[-1].read_bytes() != site.lsf_files[-1].read_bytes()


def test_regenerating_removes_stale_rotated_files(tmp_path: Path) -> None:
    generate_site(tmp_path, jobs=50, end=END, files_per_kind=3, malformed=0)
    small = generate_site(tmp_path, jobs=50, end=END, files_per_kind=1, malformed=0)
    assert sorted(p.name for p in (tmp_path / "lsf").iterdir()) == ["lsb.acct"]
    assert sorted((tmp_path / "blah").iterdir()) == small.blah_files


def test_all_local_and_empty_sites(tmp_path: Path) -> None:
    local = generate_site(tmp_path / "l", jobs=100, end=END, local_fraction=1.0, malformed=4)
    parsed = parse_site(local)
    assert (local.grid_jobs, len(parsed.batch), len(parsed.ce)) == (0, 100, 0)
    assert len(parsed.rejections) == 4
    empty = generate_site(tmp_path / "e", jobs=0, end=END, malformed=2)
    parsed = parse_site(empty)
    assert (len(parsed.batch), len(parsed.ce), len(parsed.rejections)) == (0, 0, 2)
    assert empty.expected_by_vo_month == {}


def test_lsf_line_round_trip(tmp_path: Path) -> None:
    start = datetime(2025, 1, 31, 23, 0, tzinfo=UTC)
    line = lsf_line(
        job_id=4242,
        idx=3,
        submit_time=int(start.timestamp()) - 30,
        start_time=start,
        end_time=int(start.timestamp()) + 7200,
        user='we"ird',
        queue="grid_atlas",
        asked_hosts=("b7g12p3456", "b7g12p3457"),
        exec_hosts=("b7g12p3456",) * 8 + ("b7g12p3457",) * 8,
        utime=1000.25,
        stime=20.2,
        project="atlas",
        max_rmem=2_000_000,
        max_rswap=3_000_000,
        exit_status=256,
    )
    path = tmp_path / "lsb.acct"
    assert write_lines(path, [line, lsf_line(job_id=1, submit_time=0, start_time=1,
                                             end_time=2, record_type="JOB_RESIZE")]) == 2  # fmt: skip
    parser = make_parser("lsf", ParserConfig(site="S", machine_name="M"))
    results = [r for _, r in parse_lines(parser, path.read_bytes().splitlines(), str(path))]
    event = results[0]
    assert isinstance(event, BatchEvent)
    assert results[1] is None
    assert event.local_job_id == "4242[3]"
    assert event.local_user_id == 'we"ird'
    assert (event.start_time, event.wall_duration) == (start, 7200)
    assert (event.cpu_duration, event.processors, event.node_count) == (1020, 16, 2)
    assert (event.memory_real, event.memory_virtual, event.exit_status) == (2_000_000, 3_000_000, 1)
    assert event.account == "atlas"


def test_blah_line_round_trip() -> None:
    when = datetime(2025, 2, 1, 0, 0, 5, tzinfo=UTC)
    line = blah_line(
        timestamp=when,
        user_dn="/DC=ch/DC=cern/CN=Someone",
        fqans=("/cms/Role=pilot/Capability=NULL", "/cms/Role=NULL/Capability=NULL"),
        ce_id="ce503.demo.example:8443/cream-lsf-grid_cms",
        grid_job_id="CREAM123456789",
        lrms_id="4242[3]",
        local_user="42100",
    )
    parser = make_parser("blah", ParserConfig(site="S"))
    ce = parser.parse(line, "f", 1)
    assert isinstance(ce, CeEvent)
    assert (ce.lrms_id, ce.timestamp, ce.vo, ce.vo_role) == ("4242[3]", when, "cms", "Role=pilot")
    assert len(ce.fqans) == 2
    broken = blah_line(
        timestamp="2025-02-01A00:00:05",
        user_dn="/CN=x",
        fqans=("/cms",),
        ce_id="ce",
        grid_job_id="CREAM1",
        lrms_id=None,
    )
    assert "lrmsID" not in broken and "timestamp=2025-02-01A00:00:05" in broken


def test_naive_end_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone"):
        generate_site(tmp_path, jobs=1, end=datetime(2025, 1, 1))
