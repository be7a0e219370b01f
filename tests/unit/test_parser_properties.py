"""Property tests: whatever bytes a log line holds, parsing gives a record, a Rejection or None.

Lines are arbitrary bytes, or real sample lines mangled: characters deleted, inserted or replaced,
tokens dropped, duplicated or swapped for other tokens.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchacct.errors import ParseError, Rejection
from batchacct.parsers import LineParser, ParserConfig, make_parser, parse_line
from batchacct.parsers.lsf import _FAST_RECORD, LsfParser
from batchacct.records import BatchEvent, CeEvent

CONFIG = ParserConfig(site="testSite", machine_name="testHost")
SAMPLES = {
    "lsf": ["lsf.acct", "lsf-ignored.acct", "lsf-malformed.acct"],
    "blah": ["blah.log", "blah-malformed.log"],
}
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)

# Characters that matter to the two formats, plus a few that do not.
NOISE = st.text(alphabet=' \t"=;-.:/0123456789eEaZ\\\n\x00é', min_size=1, max_size=6)
TOKEN = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:f}"),
    st.text(max_size=8).map(lambda s: '"' + s.replace('"', '""') + '"'),
    NOISE,
)


def sample_lines(formats_dir: Path, source_format: str) -> list[bytes]:
    return [
        raw
        for name in SAMPLES[source_format]
        for raw in (formats_dir / name).read_bytes().splitlines()
    ]


def mangle(data: st.DataObject, raw: bytes) -> bytes:
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        operation = data.draw(
            st.sampled_from(["delete", "insert", "insert_bytes", "replace", "drop", "dup", "swap"])
        )
        if operation in ("delete", "insert", "insert_bytes", "replace"):
            at = data.draw(st.integers(0, len(raw)))
            if operation == "delete":
                raw = raw[:at] + raw[at + data.draw(st.integers(1, 40)) :]
            elif operation == "insert":
                raw = raw[:at] + data.draw(NOISE).encode() + raw[at:]
            elif operation == "insert_bytes":
                raw = raw[:at] + data.draw(st.binary(min_size=1, max_size=3)) + raw[at:]
            else:
                raw = raw[:at] + data.draw(NOISE).encode()[:1] + raw[at + 1 :]
        else:
            tokens = raw.split(b" ")
            at = data.draw(st.integers(0, max(len(tokens) - 1, 0)))
            if operation == "drop":
                del tokens[at : at + data.draw(st.integers(1, 3))]
            elif operation == "dup":
                tokens.insert(at, tokens[at] if tokens else b"")
            else:
                tokens[at : at + 1] = [data.draw(TOKEN).encode("utf-8", "surrogateescape")]
            raw = b" ".join(tokens)
    return raw


def check_outcome(parser: LineParser, raw: bytes) -> None:
    outcome = parse_line(parser, raw, "mangled.log", 9)
    if outcome is None:
        return
    if isinstance(outcome, Rejection):
        assert (outcome.file, outcome.line, outcome.source_format) == (
            "mangled.log",
            9,
            parser.source_format,
        )
        return
    if isinstance(outcome, BatchEvent):
        assert outcome.end_time >= outcome.start_time
        assert outcome.wall_duration >= 0
        assert outcome.cpu_duration >= 0
        assert outcome.start_time.utcoffset() is not None
        return
    assert isinstance(outcome, CeEvent)
    assert outcome.timestamp.utcoffset() is not None
    assert outcome.lrms_id


def decided_by(parse: object, line: str) -> object:
    """What a parse function makes of a line: its record, or the reason it rejects it."""
    assert callable(parse)
    try:
        return parse(line, "f", 1)
    except ParseError as err:
        return err.reason


@pytest.mark.parametrize("source_format", ["lsf", "blah"])
@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(source_format: str, raw: bytes) -> None:
    check_outcome(make_parser(source_format, CONFIG), raw)


@pytest.mark.parametrize("source_format", ["lsf", "blah"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_mangled_real_lines_never_raise(
    formats_dir: Path, source_format: str, data: st.DataObject
) -> None:
    raw = data.draw(st.sampled_from(sample_lines(formats_dir, source_format)), label="sample")
    check_outcome(make_parser(source_format, CONFIG), mangle(data, raw))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_lsf_fast_path_reads_lines_as_the_tokenizer_does(
    formats_dir: Path, data: st.DataObject
) -> None:
    raw = data.draw(st.sampled_from(sample_lines(formats_dir, "lsf")[:3]), label="sample")
    line = mangle(data, raw).decode("utf-8", "surrogateescape")
    if _FAST_RECORD.fullmatch(line) is None:
        return
    parser = LsfParser(CONFIG)
    assert decided_by(parser.parse, line) == decided_by(parser._parse_tokens, line)
