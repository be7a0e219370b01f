"""Avro single-object encoding (marker ``C3 01`` + 8-byte CRC-64-AVRO fingerprint + body).

Every schema version under ``schemas/<record type>/vN.avsc`` is loaded; a reader finds the
writer's schema by its fingerprint, so no registry server is needed, and decodes into the
current (highest) version of that record type.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from io import BytesIO
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from batchacct.records import BatchEvent, CeEvent, JobRecord, as_dict

MARKER = b"\xc3\x01"
HEADER_LEN = 10


class DecodeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    record_type: str
    version: int
    schema: Any  # a parsed fastavro schema
    fingerprint: bytes  # 8 bytes, little-endian, as on the wire
    # The same schema with timestamps read as plain epoch milliseconds: decoding datetimes
    # costs half the time of a whole message, and bulk loaders do not need them.
    schema_epoch_millis: Any


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def schemas_dir() -> Path:
    return Path(str(resources.files("batchacct") / "_schemas"))


def load_versions(directory: Path | None = None) -> list[SchemaVersion]:
    directory = directory or schemas_dir()
    versions = []
    for path in sorted(directory.glob("*/v*.avsc")):
        raw = json.loads(path.read_text())
        parsed = parse_schema(raw)
        digest = int(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"), 16)
        plain = parse_schema(_without_logical_types(raw))
        versions.append(
            SchemaVersion(
                path.parent.name, int(path.stem[1:]), parsed, struct.pack("<Q", digest), plain
            )
        )
    return versions


class Codec:
    def __init__(self, directory: Path | None = None) -> None:
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        self.current: dict[str, SchemaVersion] = {}
        for v in load_versions(directory):
            self._by_fingerprint[v.fingerprint] = v
            best = self.current.get(v.record_type)
            if best is None or v.version > best.version:
                self.current[v.record_type] = v

    def encode(self, record_type: str, datum: dict[str, Any]) -> bytes:
        version = self.current[record_type]
        buf = BytesIO()
        buf.write(MARKER)
        buf.write(version.fingerprint)
        schemaless_writer(buf, version.schema, datum)
        return buf.getvalue()

    def encode_record(self, record: BatchEvent | CeEvent | JobRecord) -> bytes:
        datum = as_dict(record)
        for name, value in datum.items():
            if isinstance(value, datetime):
                datum[name] = int(value.timestamp() * 1000)
        return self.encode(RECORD_TYPES[type(record)], datum)

    def decode(self, data: bytes, *, epoch_millis: bool = False) -> tuple[str, dict[str, Any]]:
        """Return ``(record type, datum in the current schema)``; raise DecodeError on bad input.

        With ``epoch_millis`` timestamps come back as integers (milliseconds since the epoch).
        """
        if len(data) < HEADER_LEN or data[:2] != MARKER:
            raise DecodeError("not Avro single-object encoded (no C3 01 marker)")
        writer = self._by_fingerprint.get(data[2:HEADER_LEN])
        if writer is None:
            raise DecodeError(f"unknown schema fingerprint {data[2:HEADER_LEN].hex()}")
        reader = self.current[writer.record_type]
        buf = BytesIO(data)
        buf.seek(HEADER_LEN)
        if epoch_millis:
            writer_schema, reader_schema = writer.schema_epoch_millis, reader.schema_epoch_millis
        else:
            writer_schema, reader_schema = writer.schema, reader.schema
        try:
            datum = schemaless_reader(
                buf, writer_schema, None if reader is writer else reader_schema
            )
        except Exception as err:
            raise DecodeError(f"corrupt {writer.record_type} body: {err}") from None
        return writer.record_type, datum  # type: ignore[return-value]


RECORD_TYPES: dict[type, str] = {
    BatchEvent: "batch_event",
    CeEvent: "ce_event",
    JobRecord: "job_record",
}
