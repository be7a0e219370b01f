"""Property tests for the SLURM parser: whatever bytes sacct output holds, parsing gives a record,
a Rejection or None, in both step modes, and grouping (``"sum"`` mode) is consistent however the
lines arrive.

Lines are arbitrary bytes, or real sample lines mangled: characters deleted, inserted or replaced,
blank-separated tokens or ``|``-separated fields dropped, duplicated, swapped or replaced.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchacct.errors import Rejection
from batchacct.parsers import (
    LineParser,
    ParserConfig,
    make_parser,
    parse_grouped,
    parse_line,
    parse_lines,
)
from batchacct.parsers.slurm import SlurmStepSumParser
from batchacct.records import BatchEvent
from tests.unit.test_parser_properties import NOISE, check_outcome, mangle

CONFIG = ParserConfig(site="testSite", machine_name="testHost")
SUM = replace(CONFIG, slurm_steps="sum")
ZURICH_SUM = replace(SUM, timezone=ZoneInfo("Europe/Zurich"))
MODES = [CONFIG, SUM, ZURICH_SUM]
MODE_IDS = ["jobs", "sum", "sum-zurich"]
SAMPLES = ["slurm.txt", "slurm-ignored.txt", "slurm-malformed.txt"]
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)

HEADERS = [
    "JobID|JobName|User|Group|Start|End|Elapsed|CPUTimeRAW|Partition|NCPUS|NNodes|NodeList|"
    "MaxRSS|MaxVMSize|State",
    "State|End|JobID|Foo|MaxVMSize|Partition|NNodes|Elapsed|User|Start|NodeList|Group|NCPUS|"
    "CPUTimeRAW|MaxRSS|ReqMem",
    "JobID|State|Start|End|Elapsed|TotalCPU|NCPUS|NNodes|NodeList|MaxRSS|MaxVMSize|ExitCode",
    "JobID|User|Start|Elapsed",  # lacks required columns
]
# Rows of a job with its steps, under HEADERS[2].
STEP_ROWS = [
    "900|COMPLETED|2024-05-01T10:00:00|2024-05-01T11:00:00|01:00:00|00:50:00|4|1|wn[1-2]|||0:0",
    "900.batch|COMPLETED|2024-05-01T10:00:00|2024-05-01T11:00:00|01:00:00|00:40:00|4|1|wn1|2.00G|3G|0:0",
    "900.extern|COMPLETED|2024-05-01T10:00:00|2024-05-01T11:00:00|01:00:00|00:00.004|4|1|wn1|1024K|5.00G|0:0",
    "900.0|FAILED|2024-05-01T10:10:00|2024-05-01T10:20:00|00:10:00|00:09:59.800|4|1|wn1|3.00G|1024K|1:0",
    "901|CANCELLED by 5|Unknown|2024-05-01T11:00:00|00:00:00|00:00:00|4|1|None assigned|||0:0",
]

# Values that matter to sacct rows.
SLURM_NOISE = st.text(alphabet="|:-.T 0123456789KMGTP?_[],+\n\r\x00é", min_size=1, max_size=6)
FIELD = st.one_of(
    st.sampled_from(
        [
            "",
            "Unknown",
            "None",
            "COMPLETED",
            "CANCELLED by 0",
            "RUNNING",
            "OUT_OF_MEMORY",
            "2013-10-27T02:30:00",
            "2013-03-31T02:30:00",
            "9999-12-31T23:59:59",
            "0001-01-01T00:00:00",
            "2024-05-01T10:00:00+14:00",
            "1-02:24:13",
            "01:05.753",
            "99:99:99",
            "438.50M",
            "16?",
            "0",
            "-1",
            "wn[01-03,07]",
            "wn[9-1]",
            "w[0-99999999]",
            "123.batch",
            "123_[1-5]",
            "0:9",
        ]
    ),
    st.integers(-(10**20), 10**20).map(str),
    st.text(max_size=8),
    SLURM_NOISE,
)


def sample_lines(formats_dir: Path) -> list[bytes]:
    lines = [raw for name in SAMPLES for raw in (formats_dir / name).read_bytes().splitlines()]
    return lines + [row.encode() for row in STEP_ROWS]


def mangle_fields(data: st.DataObject, raw: bytes) -> bytes:
    """Mutate a row as format drift would: fields dropped, doubled, swapped or replaced."""
    fields = raw.split(b"|")
    for _ in range(data.draw(st.integers(1, 3), label="field mutations")):
        at = data.draw(st.integers(0, max(len(fields) - 1, 0)))
        operation = data.draw(st.sampled_from(["drop", "dup", "swap", "replace", "noise"]))
        if operation == "drop" and fields:
            del fields[at]
        elif operation == "dup" and fields:
            fields.insert(at, fields[at])
        elif operation == "swap" and len(fields) > 1:
            other = data.draw(st.integers(0, len(fields) - 1))
            fields[at], fields[other] = fields[other], fields[at]
        elif operation == "replace" and fields:
            fields[at] = data.draw(FIELD).encode("utf-8", "surrogateescape")
        else:
            fields.insert(at, data.draw(SLURM_NOISE).encode())
    return b"|".join(fields)


def mangled(data: st.DataObject, raw: bytes) -> bytes:
    how = data.draw(st.sampled_from(["chars", "fields", "both"]), label="how")
    if how in ("fields", "both"):
        raw = mangle_fields(data, raw)
    if how in ("chars", "both"):
        raw = mangle(data, raw)
    return raw


def check_result(parser: LineParser, outcome: object, file: str, line_no: int) -> None:
    """What check_outcome checks, for a result that parse_lines or parse_grouped gave."""
    if outcome is None:
        return
    if isinstance(outcome, Rejection):
        assert (outcome.file, outcome.line, outcome.source_format) == (file, line_no, "slurm")
        assert outcome.reason and outcome.detail
        return
    assert isinstance(outcome, BatchEvent)
    assert outcome.end_time >= outcome.start_time
    assert outcome.start_time.tzinfo is UTC and outcome.end_time.tzinfo is UTC
    assert outcome.wall_duration >= 0 and outcome.cpu_duration >= 0
    assert outcome.local_job_id and "." not in outcome.local_job_id
    assert (outcome.source_file, outcome.source_line) == (file, line_no)


def new_parser(config: ParserConfig, header: int | None) -> LineParser:
    parser = make_parser("slurm", config)
    if header is not None:
        parser.begin_file(HEADERS[header])  # type: ignore[attr-defined]
    return parser


@pytest.mark.parametrize("config", MODES, ids=MODE_IDS)
@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=300), header=st.sampled_from([None, 0, 1, 2, 3]))
def test_arbitrary_bytes_never_raise(config: ParserConfig, raw: bytes, header: int | None) -> None:
    check_outcome(new_parser(config, header), raw)


@pytest.mark.parametrize("config", MODES, ids=MODE_IDS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_mangled_real_lines_never_raise(
    formats_dir: Path, config: ParserConfig, data: st.DataObject
) -> None:
    raw = data.draw(st.sampled_from(sample_lines(formats_dir)), label="sample")
    header = data.draw(st.sampled_from([None, 2]), label="header")
    if header is None and raw in (row.encode() for row in STEP_ROWS):
        header = 2
    parser = new_parser(config, header)
    line = mangled(data, raw)
    check_outcome(parser, line)
    outcome = parse_line(parser, line, "mangled.log", 9)
    if isinstance(outcome, BatchEvent):
        assert outcome.start_time.tzinfo is UTC


@pytest.mark.parametrize("config", [CONFIG, SUM], ids=["jobs", "sum"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_mangled_files_never_raise(
    formats_dir: Path, config: ParserConfig, data: st.DataObject
) -> None:
    """Whole files through parse_lines: headers anywhere, blank lines, mangled rows."""
    pool = [*sample_lines(formats_dir), *(h.encode() for h in HEADERS), b"", b"  "]
    lines = data.draw(st.lists(st.sampled_from(pool), max_size=12), label="lines")
    lines = [mangled(data, raw) if data.draw(st.booleans()) else raw for raw in lines]
    parser = make_parser("slurm", config)
    for line_no, outcome in parse_lines(parser, lines, "mangled.log", 5):
        check_result(parser, outcome, "mangled.log", line_no)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_split_groups_invariants(formats_dir: Path, data: st.DataObject) -> None:
    pool = [*sample_lines(formats_dir), *(h.encode() for h in HEADERS), b"", b" "]
    raw = data.draw(st.lists(st.sampled_from(pool), max_size=15), label="lines")
    raw = [mangled(data, line) if data.draw(st.booleans()) else line for line in raw]
    lines = [line.decode("utf-8", "surrogateescape") for line in raw]
    final = data.draw(st.booleans(), label="final")
    parser = make_parser("slurm", SUM)
    assert isinstance(parser, SlurmStepSumParser)
    groups, consumed = parser.split_groups(lines, final)
    assert 0 <= consumed <= len(lines)
    if final:
        assert consumed == len(lines)
    covered: list[int] = []
    previous_end = 0
    for start, end in groups:
        assert previous_end <= start < end <= consumed
        previous_end = end
        covered.extend(range(start, end))
        assert all(lines[index].strip() for index in range(start, end))
    # Every line before `consumed` is in a group or blank (a separator).
    assert [i for i in range(consumed) if lines[i].strip()] == covered


@pytest.mark.parametrize("config", [SUM, ZURICH_SUM], ids=["sum", "sum-zurich"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_grouped_in_chunks_gives_what_one_pass_gives(
    formats_dir: Path, config: ParserConfig, data: st.DataObject
) -> None:
    """A collector reads a growing file in batches: what is left of one batch is offered again
    with the next. The results must not depend on where the batches were cut."""
    pool = [*sample_lines(formats_dir), *(r.encode() for r in STEP_ROWS), HEADERS[2].encode(), b""]
    lines = data.draw(st.lists(st.sampled_from(pool), max_size=15), label="lines")
    lines = [mangle_fields(data, raw) if data.draw(st.booleans()) else raw for raw in lines]
    first = HEADERS[2] if data.draw(st.booleans(), label="header first") else None
    if first is not None:
        lines.insert(0, first.encode())

    def begun() -> LineParser:
        parser = make_parser("slurm", config)
        if lines:
            parser.begin_file(lines[0].decode("utf-8", "surrogateescape"))  # type: ignore[attr-defined]
        return parser

    whole, used = parse_grouped(begun(), lines, "f", 1, final=True)
    assert used == len(lines)
    for _, outcome in whole:
        assert outcome is None or isinstance(outcome, BatchEvent | Rejection)

    parser = begun()
    results = []
    done = 0
    cuts = sorted(data.draw(st.lists(st.integers(0, len(lines)), max_size=4), label="cuts"))
    for cut in [*cuts, len(lines)]:
        if cut < done:
            continue
        final = cut == len(lines)
        chunk, used = parse_grouped(parser, lines[done:cut], "f", 1 + done, final=final)
        results.extend(chunk)
        done += used
    assert done == len(lines)
    assert results == whole


@PROPERTY_SETTINGS
@given(first_line=st.text(max_size=200), raw=st.binary(max_size=200))
def test_begin_file_with_anything_then_parse(first_line: str, raw: bytes) -> None:
    for config in (CONFIG, SUM):
        parser = make_parser("slurm", config)
        parser.begin_file(first_line)  # type: ignore[attr-defined]
        check_outcome(parser, raw)


@PROPERTY_SETTINGS
@given(noise=NOISE)
def test_noise_as_a_whole_line(noise: str) -> None:
    for config in MODES:
        check_outcome(make_parser("slurm", config), noise.encode())
