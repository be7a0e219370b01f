"""Property tests for CondorParser: whatever a history file holds, parsing gives records (or a
batch and CE pair), a Rejection or None, never another exception.

Inputs are arbitrary bytes, real batch lines mangled, and real ClassAd fixtures mangled: lines
mangled, dropped, duplicated or swapped, values moved to other attributes, separators inserted.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from batchacct.errors import Rejection
from batchacct.parsers import ParserConfig, make_parser, parse_lines
from batchacct.parsers.condor import _AD_LINE, _PIPE_LINE, CondorParser, _read_ad, _read_ad_lines
from batchacct.records import BatchEvent, CeEvent
from tests.unit.test_parser_properties import NOISE, decided_by, mangle

CONDOR_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "condor"
CONFIG = ParserConfig(
    site="testSite",
    machine_name="testHost",
    identity_map={
        "https://atlas-auth.cern.ch/ 7dee38a3-6ab8-4fe2-9e4c-58039c21d817": "/atlas/Role=production",
        "owner:cmspilot": "/cms/Role=pilot",
    },
)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)
PIPE_SAMPLES = ["htcondor.txt", "htcondor-ce-batch.txt"]
AD_SAMPLES = sorted(path.name for path in CONDOR_DIR.iterdir())
SEPARATORS = [b"", b"   ", b"*** Offset = 0 ClusterId = 1 ProcId = 0", b"-- Schedd: ce01 : <1:2>"]


def pipe_lines(formats_dir: Path) -> list[bytes]:
    return [raw for name in PIPE_SAMPLES for raw in (formats_dir / name).read_bytes().splitlines()]


def ad_lines(name: str) -> list[bytes]:
    return (CONDOR_DIR / name).read_bytes().splitlines()


def check_record(record: object) -> None:
    if isinstance(record, BatchEvent):
        assert record.local_job_id
        assert record.end_time >= record.start_time
        assert record.start_time.utcoffset() is not None
        assert record.wall_duration >= 0
        assert record.cpu_duration >= 0
        assert record.processors is None or record.processors > 0
        assert all(value >= 0 for value in record.machine_specs.values())
        return
    assert isinstance(record, CeEvent)
    assert record.lrms_id
    assert record.timestamp.utcoffset() is not None


def check_file(lines: list[bytes], parser: CondorParser | None = None) -> None:
    """Parse ``lines`` as one file; every entry's outcome must be one the contract allows."""
    parser = parser or CondorParser(CONFIG)
    last_line = 0
    for line_no, result in parse_lines(parser, lines, "mangled.log"):
        assert last_line < line_no <= len(lines)
        last_line = line_no
        if result is None:
            continue
        if isinstance(result, Rejection):
            assert (result.file, result.line, result.source_format) == (
                "mangled.log",
                line_no,
                "condor",
            )
            continue
        if isinstance(result, tuple):
            batch, ce = result
            assert isinstance(batch, BatchEvent)
            assert isinstance(ce, CeEvent)
            assert batch.key == ce.key
            assert ce.timestamp == batch.end_time
            check_record(batch)
            check_record(ce)
            continue
        assert isinstance(result, BatchEvent)
        check_record(result)


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    check_file(raw.splitlines())


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=300), first=st.sampled_from([b"A = 1", b"a|b", b"", b"?"]))
def test_arbitrary_bytes_after_any_first_line_never_raise(raw: bytes, first: bytes) -> None:
    check_file([first, *raw.splitlines()])


@PROPERTY_SETTINGS
@given(data=st.data())
def test_mangled_batch_lines_never_raise(formats_dir: Path, data: st.DataObject) -> None:
    samples = pipe_lines(formats_dir)
    lines = data.draw(st.lists(st.sampled_from(samples), min_size=1, max_size=4), label="lines")
    at = data.draw(st.integers(0, len(lines) - 1), label="mangled line")
    lines[at] = mangle(data, lines[at])
    check_file(lines)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_mangled_ads_never_raise(data: st.DataObject) -> None:
    lines = ad_lines(data.draw(st.sampled_from(AD_SAMPLES), label="sample"))
    for _ in range(data.draw(st.integers(1, 5), label="edits")):
        if not lines:
            break
        at = data.draw(st.integers(0, len(lines) - 1))
        operation = data.draw(
            st.sampled_from(["mangle", "drop", "dup", "swap_values", "separator", "noise_value"])
        )
        if operation == "mangle":
            lines[at] = mangle(data, lines[at])
        elif operation == "drop":
            del lines[at : at + data.draw(st.integers(1, 10))]
        elif operation == "dup":
            lines.insert(at, lines[at])
        elif operation == "swap_values":
            other = data.draw(st.integers(0, len(lines) - 1))
            name, sep, value = lines[at].partition(b" = ")
            other_name, other_sep, other_value = lines[other].partition(b" = ")
            if sep and other_sep:
                lines[at] = name + sep + other_value
                lines[other] = other_name + other_sep + value
        elif operation == "separator":
            lines.insert(at, data.draw(st.sampled_from(SEPARATORS)))
        else:
            name, sep, _ = lines[at].partition(b" = ")
            lines[at] = name + b" = " + data.draw(NOISE).encode()
    check_file(lines)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_parser_reused_across_files_never_raises(formats_dir: Path, data: st.DataObject) -> None:
    """One parser per source, files of both forms after one another (the mode is per file)."""
    parser = make_parser("condor", CONFIG)
    assert isinstance(parser, CondorParser)
    for _ in range(3):
        if data.draw(st.booleans(), label="ad file"):
            lines = ad_lines(data.draw(st.sampled_from(AD_SAMPLES)))
        else:
            lines = pipe_lines(formats_dir)
        check_file(lines, parser)


LINE = st.one_of(
    st.sampled_from([b"", b"  ", b"A = 1", b"B = 2", b"*** banner", b"-- Schedd: x"]),
    st.text(alphabet="AB =*-| \t", max_size=6).map(str.encode),
)


@PROPERTY_SETTINGS
@given(lines=st.lists(LINE, max_size=30), cuts=st.lists(st.integers(0, 30), max_size=4))
def test_split_groups_in_pieces_gives_the_same_entries(lines: list[bytes], cuts: list[int]) -> None:
    """Offering a file's lines in pieces (what a tailing collector does) finds the same entries
    as reading the finished file at once, and entries never overlap or include separators."""
    text = [line.decode() for line in lines]
    whole = CondorParser(CONFIG)
    whole.begin_file(text[0] if text else "")
    expected, consumed = whole.split_groups(text, final=True)
    assert consumed == len(text)
    previous_end = 0
    for start, end in expected:
        assert previous_end <= start < end <= len(text)
        previous_end = end

    pieces = CondorParser(CONFIG)
    pieces.begin_file(text[0] if text else "")
    found: list[tuple[int, int]] = []
    offset = 0
    for cut in [*sorted(cuts), len(text)]:
        final = cut >= len(text)
        pending = text[offset : max(cut, offset)]
        groups, used = pieces.split_groups(pending, final)
        assert 0 <= used <= len(pending)
        assert all(0 <= start < end <= used for start, end in groups)
        found.extend((offset + start, offset + end) for start, end in groups)
        offset += used
    assert offset == len(text)
    assert found == expected


DIGITS = st.one_of(
    st.integers(0, 2_000_000_000).map(str),
    st.sampled_from(["0", "00", "9" * 20, "253402300799", "253402300800", "999999999999999"]),
)
SCALE = st.one_of(
    st.just(""),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1", "0", ".5", "1e999", "1.5E+02", "0.9114035087719299"]),
)


@st.composite
def batch_lines(draw: st.DrawFn) -> str:
    job_id = draw(st.sampled_from(["ce.ac.uk#7", "1234567", " x", "a#b#c", "3.0_host"]))
    owner = draw(st.sampled_from(["", "tatls011", " u "]))
    numbers = draw(st.lists(DIGITS, min_size=8, max_size=8))
    line = "|".join([job_id, owner, *numbers])
    if draw(st.booleans()):
        line += "|" + draw(SCALE)
    if draw(st.booleans()):
        line += "|"
    return line


def decide_pipe(line: str) -> tuple[object, object]:
    parser = CondorParser(CONFIG)
    parser.begin_file(line)
    return decided_by(parser._parse_pipe, line), decided_by(parser._parse_pipe_columns, line)


@PROPERTY_SETTINGS
@given(line=batch_lines())
def test_pipe_fast_path_reads_lines_as_the_careful_path_does(line: str) -> None:
    fast, careful = decide_pipe(line)
    assert fast == careful


@PROPERTY_SETTINGS
@given(data=st.data())
def test_pipe_fast_path_agrees_on_mangled_lines(formats_dir: Path, data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(pipe_lines(formats_dir)), label="sample")
    line = mangle(data, raw).decode("utf-8", "surrogateescape")
    if _PIPE_LINE.fullmatch(line) is not None:
        fast, careful = decide_pipe(line)
        assert fast == careful


@PROPERTY_SETTINGS
@given(data=st.data())
def test_ad_fast_reader_reads_ads_as_the_careful_one_does(data: st.DataObject) -> None:
    lines = ad_lines(data.draw(st.sampled_from(AD_SAMPLES), label="sample"))
    lines = [line for line in lines if line and not line.startswith(b"***")]
    at = data.draw(st.integers(0, len(lines) - 1), label="mangled line")
    lines[at] = mangle(data, lines[at])
    text = b"\n".join(lines).decode("utf-8", "surrogateescape")
    if len(_AD_LINE.findall(text)) == text.count("\n") + 1:
        assert _read_ad(text, 1) == _read_ad_lines(text, 1)
