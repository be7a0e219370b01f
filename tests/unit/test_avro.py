"""Avro single-object encoding, and every earlier schema version read by the current one."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from fastavro import schemaless_writer

from batchacct.avro import MARKER, Codec, DecodeError, load_versions
from batchacct.records import BatchEvent, CeEvent


def _example(schema: Any) -> dict[str, Any]:
    """A datum for any record schema: a value of the right type for every field."""
    samples = {"string": "x", "long": 7, "int": 7, "double": 1.5, "boolean": True}
    datum: dict[str, Any] = {}
    for f in schema["fields"]:
        t = f["type"]
        if isinstance(t, list):
            t = next(x for x in t if x != "null")
        if isinstance(t, dict):
            empty = {"array": [], "map": {"k": 1.5}}
            datum[f["name"]] = empty.get(t["type"], 1_600_000_000_000)
        else:
            datum[f["name"]] = samples[t]
    return datum


def test_round_trip_batch_and_ce_events() -> None:
    codec = Codec()
    batch = BatchEvent(
        "S",
        "H",
        "42[3]",
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
        86400,
        3600,
        "lsf",
        "lsb.acct",
        9,
        exec_hosts=["a", "a", "b"],
        host_factor=12.5,
        machine_specs={"HEPscore23": 14.25},
    )
    data = codec.encode_record(batch)
    assert data[:2] == MARKER
    kind, datum = codec.decode(data)
    assert kind == "batch_event"
    assert BatchEvent(**datum) == batch
    ce = CeEvent(
        "S",
        "42[3]",
        datetime(2026, 1, 1, tzinfo=UTC),
        "/CN=x",
        "/atlas",
        "atlas",
        "/atlas",
        None,
        "ce:9619/ce-condor",
        "J1",
        "blah",
        "blahp.log",
        1,
        fqans=["/atlas", "/atlas/x"],
    )
    kind, datum = codec.decode(codec.encode_record(ce))
    assert kind == "ce_event" and CeEvent(**datum) == ce
    _, millis = codec.decode(data, epoch_millis=True)
    assert millis["end_time"] == 1767312000000


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x01", MARKER + b"\x00" * 8 + b"body", b"\x7b\x22json\x22: 1}"],
    ids=["empty", "no-marker", "unknown-fingerprint", "json"],
)
def test_garbage_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        Codec().decode(data)


def test_truncated_body_is_a_decode_error() -> None:
    codec = Codec()
    data = codec.encode(
        "rejection",
        {
            "source_format": "lsf",
            "site": "S",
            "file": "f",
            "line": 1,
            "reason": "malformed",
            "detail": "d",
            "raw": "r" * 50,
        },
    )
    with pytest.raises(DecodeError):
        codec.decode(data[:15])


def test_current_schemas_read_every_earlier_version() -> None:
    codec = Codec()
    versions = load_versions()
    assert {v.record_type for v in versions} >= {
        "batch_event",
        "ce_event",
        "job_record",
        "rejection",
    }
    for version in versions:
        buf = BytesIO()
        buf.write(MARKER + version.fingerprint)
        schemaless_writer(buf, version.schema, _example(version.schema))
        kind, datum = codec.decode(buf.getvalue())
        assert kind == version.record_type
        current_fields = {f["name"] for f in codec.current[kind].schema["fields"]}
        assert set(datum) == current_fields
