"""BLAH accounting logs written by CREAM and HTCondor-CE: the grid identity of each job.

One job per line, a blank-separated list of double-quoted ``key=value`` items::

    "timestamp=2012-05-20 23:59:47" "userDN=/O=..." "userFQAN=/atlas/Role=production" ...

The first occurrence of a key wins, except ``userFQAN``: every value is kept, in order, and the
first one is the job's primary FQAN.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from functools import lru_cache

from batchacct.errors import ParseError, Reason
from batchacct.parsers import ParserConfig
from batchacct.records import CeEvent

REQUIRED_KEYS = ("timestamp", "userDN", "ceID", "jobID", "lrmsID")  # and at least one userFQAN

_ITEMS = re.compile(r'[ \t]*+"[^"]*+"(?:[ \t]++"[^"]*+")*+[ \t]*+')
_ITEM = re.compile(r'"([^"]*+)"')
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)


def parse_fqan(fqan: str) -> tuple[str | None, str | None, str | None]:
    """``(vo, vo_group, vo_role)`` from a VOMS FQAN, as APEL reads it.

    Only the text before the first ``;`` counts. Text that does not start with ``/`` is the VO
    itself. Otherwise the VO is the first path element, the group is every element before the
    ``Role=`` one (any case), joined with a leading ``/``, and the role is that element as written
    (``Role=production``; ``Role=NULL`` is kept too, as APEL keeps it). ``Capability=`` elements are
    dropped. Unlike APEL, a missing role is ``None``, not the string ``'None'``, and a
    ``Capability=`` element never ends up in the group.

    >>> parse_fqan("/atlas/somethingelse/Role=doer/Capability=NULL")
    ('atlas', '/atlas/somethingelse', 'Role=doer')
    >>> parse_fqan("/wlcg")
    ('wlcg', '/wlcg', None)
    """
    fqan = fqan.split(";", 1)[0]
    if not fqan:
        return None, None, None
    if fqan[0] != "/":
        return fqan, None, None
    group: list[str] = []
    role = None
    for element in fqan.split("/"):
        if not element:
            continue
        lowered = element[:11].lower()
        if lowered.startswith("role="):
            role = element
            break
        if lowered.startswith("capability="):
            continue
        group.append(element)
    if not group:
        return None, None, role
    return group[0], "/" + "/".join(group), role


# FQANs repeat across millions of jobs; the cache keeps the per-line cost to a dict lookup.
_parse_fqan_cached = lru_cache(maxsize=4096)(parse_fqan)


class BlahParser:
    source_format = "blah"

    def __init__(self, config: ParserConfig) -> None:
        self.site = config.site
        self.timezone: tzinfo = config.timezone or UTC

    def parse(self, line: str, file: str, line_no: int) -> CeEvent:
        items = _split_items(line)
        values: dict[str, str] = {}
        fqans: list[str] = []
        has_fqan = False
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise ParseError(Reason.MALFORMED, f"item without '=': {item[:60]!r}")
            if key == "userFQAN":
                has_fqan = True
                if value:
                    fqans.append(value)
            elif key not in values:
                values[key] = value
        try:
            timestamp_text = values["timestamp"]
            user_dn = values["userDN"]
            ce_id = values["ceID"]
            grid_job_id = values["jobID"]
            lrms_id = values["lrmsID"]
        except KeyError as missing:
            raise ParseError(Reason.MISSING_FIELD, f"no {missing.args[0]}") from None
        if not has_fqan:
            raise ParseError(Reason.MISSING_FIELD, "no userFQAN")
        if not lrms_id:
            raise ParseError(Reason.MISSING_FIELD, "empty lrmsID: the job cannot be joined")
        if not timestamp_text:
            raise ParseError(Reason.MISSING_FIELD, "empty timestamp")
        primary = fqans[0] if fqans else None
        vo, vo_group, vo_role = _parse_fqan_cached(primary) if primary else (None, None, None)
        return CeEvent(
            site=self.site,
            lrms_id=lrms_id,
            timestamp=self._utc(timestamp_text),
            global_user_name=user_dn or None,
            fqan=primary,
            vo=vo,
            vo_group=vo_group,
            vo_role=vo_role,
            submit_host=ce_id or None,
            grid_job_id=grid_job_id or None,
            source_format=self.source_format,
            source_file=file,
            source_line=line_no,
            fqans=fqans,
            local_user=values.get("localUser") or None,
        )

    def _utc(self, text: str) -> datetime:
        if _is_plain_timestamp(text):
            # The usual "YYYY-MM-DD HH:MM:SS": fromisoformat checks the digits.
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise ParseError(Reason.BAD_TIMESTAMP, f"no such time: {text!r}") from None
            return (
                moment.replace(tzinfo=UTC)
                if self.timezone is UTC
                else moment.replace(tzinfo=self.timezone).astimezone(UTC)
            )
        if _TIMESTAMP.fullmatch(text) is None:
            raise ParseError(
                Reason.BAD_TIMESTAMP, f"timestamp is not YYYY-MM-DD HH:MM:SS: {text[:40]!r}"
            )
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=self.timezone)
                if self.timezone is UTC:
                    return moment
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            raise ParseError(Reason.BAD_TIMESTAMP, f"no such time: {text[:40]!r}") from None


def _is_plain_timestamp(text: str) -> bool:
    return (
        len(text) == 19
        and text[4] == "-"
        and text[7] == "-"
        and text[10] in " T"
        and text[13] == ":"
        and text[16] == ":"
        and text.isascii()
    )


def _split_items(line: str) -> list[str]:
    """The ``key=value`` texts of a line, or MALFORMED when its quoting is broken."""
    if len(line) >= 2 and line[0] == '"' and line[-1] == '"':
        items = line[1:-1].split('" "')
        # Every quote inside must be part of a '" "' separator; else quoting is broken or the
        # separators are unusual, and the careful path decides.
        if line.count('"') == 2 * len(items):
            return items
    if _ITEMS.fullmatch(line) is None:
        raise ParseError(Reason.MALFORMED, 'not a list of blank-separated "key=value" items')
    items = _ITEM.findall(line)
    if not items:
        raise ParseError(Reason.MALFORMED, "no items")
    return items
