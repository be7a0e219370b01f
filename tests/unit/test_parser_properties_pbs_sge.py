"""Property tests for PBS and SGE: whatever bytes a line holds, parsing gives a record, a Rejection
or None, and the record's numbers fit their columns.

Lines are arbitrary bytes, or real sample lines mangled: characters deleted, inserted or replaced,
blank-separated tokens dropped, duplicated or swapped (:func:`mangle`), and, per format, the values
that matter replaced by tricky ones: ``key=value`` values for PBS, ``:``-separated fields for SGE.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchacct.errors import ParseError
from batchacct.parsers import ParserConfig, make_parser, parse_line
from batchacct.parsers.pbs import _FAST_MESSAGE, PbsParser
from batchacct.records import BatchEvent
from tests.unit.test_parser_pbs import PBS_PRO_LINE
from tests.unit.test_parser_properties import NOISE, check_outcome, mangle

CONFIG = ParserConfig(
    site="testSite", machine_name="testHost", host_multipliers={"compute-4-19.local": (2.0, 2.0)}
)
SAMPLES = {
    "pbs": ["pbs.log", "pbs-ignored.log", "pbs-malformed.log"],
    "sge": ["sge.acct", "sge-univa-ms.acct"],
}
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# Values that sit on the edges of what the parsers accept.
PBS_VALUE = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.from_regex(r"[0-9]{1,20}(kb|KB|mb|gb|tb|pb|b|w|kw|)", fullmatch=True),
    st.from_regex(r"-?[0-9]{1,3}-[0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}", fullmatch=True),
    st.from_regex(r"[0-9]{1,14}:[0-9]{1,3}:[0-9]{1,3}", fullmatch=True),
    st.from_regex(
        r"[a-z]{0,3}/[0-9]{1,7}([-*,][0-9]{0,7})*(\+[a-z]{0,3}/[0-9]{1,3})*", fullmatch=True
    ),
    st.sampled_from(["", "0", "00:00:00", "19:23:4", "99:99:99", "user@host", '"a b"', "1:ppn=8"]),
    NOISE,
)
SGE_FIELD = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:f}"),
    st.integers(10**11, 10**14).map(str),  # milliseconds
    st.sampled_from(["", "NONE", "undefined", "nan", "-inf", "1e400", "0", "0.000000", "-0"]),
    st.text(max_size=8),
    NOISE,
)


def sample_lines(formats_dir: Path, source_format: str) -> list[bytes]:
    lines = [
        raw
        for name in SAMPLES[source_format]
        for raw in (formats_dir / name).read_bytes().splitlines()
    ]
    return [*lines, PBS_PRO_LINE.encode()] if source_format == "pbs" else lines


def check(source_format: str, raw: bytes) -> None:
    parser = make_parser(source_format, CONFIG)
    check_outcome(parser, raw)
    outcome = parse_line(parser, raw, "mangled.log", 9)
    if isinstance(outcome, BatchEvent):
        assert outcome.local_job_id
        for count in (outcome.processors, outcome.node_count, outcome.exit_status):
            assert count is None or -INT32_MAX <= count <= INT32_MAX
        for kib in (outcome.memory_real, outcome.memory_virtual):
            assert kib is None or 0 <= kib <= INT64_MAX
        assert outcome.wall_duration <= INT64_MAX and outcome.cpu_duration <= INT64_MAX
        assert outcome.submit_time is None or outcome.submit_time.utcoffset() is not None


def mangle_values(data: st.DataObject, raw: bytes) -> bytes:
    """Replace the values of a few ``key=value`` tokens (PBS)."""
    tokens = raw.split(b" ")
    for _ in range(data.draw(st.integers(1, 4), label="values")):
        at = data.draw(st.integers(0, len(tokens) - 1))
        key, _, _ = tokens[at].partition(b"=")
        tokens[at] = key + b"=" + data.draw(PBS_VALUE).encode("utf-8", "surrogateescape")
    return b" ".join(tokens)


def mangle_fields(data: st.DataObject, raw: bytes) -> bytes:
    """Replace, drop, duplicate or insert ``:``-separated fields (SGE)."""
    fields = raw.split(b":")
    for _ in range(data.draw(st.integers(1, 4), label="fields")):
        operation = data.draw(st.sampled_from(["replace", "replace", "drop", "dup", "insert"]))
        at = data.draw(st.integers(0, max(len(fields) - 1, 0)))
        value = data.draw(SGE_FIELD).encode("utf-8", "surrogateescape")
        if operation == "replace":
            fields[at : at + 1] = [value]
        elif operation == "drop":
            del fields[at : at + data.draw(st.integers(1, 3))]
        elif operation == "dup":
            fields.insert(at, fields[at] if fields else b"")
        else:
            fields.insert(at, value)
    return b":".join(fields)


@pytest.mark.parametrize("source_format", ["pbs", "sge"])
@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(source_format: str, raw: bytes) -> None:
    check(source_format, raw)


@pytest.mark.parametrize("source_format", ["pbs", "sge"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_mangled_real_lines_never_raise(
    formats_dir: Path, source_format: str, data: st.DataObject
) -> None:
    raw = data.draw(st.sampled_from(sample_lines(formats_dir, source_format)), label="sample")
    check(source_format, mangle(data, raw))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_pbs_lines_with_tricky_values_never_raise(formats_dir: Path, data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(sample_lines(formats_dir, "pbs")), label="sample")
    check("pbs", mangle_values(data, raw))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_sge_lines_with_mangled_fields_never_raise(formats_dir: Path, data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(sample_lines(formats_dir, "sge")), label="sample")
    check("sge", mangle_fields(data, raw))


def decided_by_both_paths(line: str) -> tuple[object, object] | None:
    """What the PBS fast path and the general path make of a line the fast regex matches."""
    parts = line.split(";", 3)
    if len(parts) != 4 or parts[1] != "E" or not parts[2] or '"' in parts[3]:
        return None
    if _FAST_MESSAGE.fullmatch(parts[3]) is None:
        return None
    parser = PbsParser(CONFIG)
    fast: object
    general: object
    try:
        fast = parser.parse(line, "f", 1)
    except ParseError as err:
        fast = err.reason
    try:
        general = parser._parse_values(line, parts[2], parts[3], "f", 1)
    except ParseError as err:
        general = err.reason
    return fast, general


@PROPERTY_SETTINGS
@given(data=st.data())
def test_pbs_fast_path_reads_lines_as_the_general_path_does(
    formats_dir: Path, data: st.DataObject
) -> None:
    raw = data.draw(st.sampled_from(sample_lines(formats_dir, "pbs")), label="sample")
    if data.draw(st.booleans(), label="values"):
        raw = mangle_values(data, raw)
    else:
        raw = mangle(data, raw)
    both = decided_by_both_paths(raw.decode("utf-8", "surrogateescape"))
    if both is not None:
        fast, general = both
        assert fast == general
