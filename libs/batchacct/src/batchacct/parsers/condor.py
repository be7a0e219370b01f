"""HTCondor and HTCondor-CE job history: batch usage and, for grid jobs, the grid identity.

Three inputs, told apart per file by its first line (:meth:`CondorParser.begin_file`):

- **Batch files**: ``|``-separated lines, as ``condor_history -format`` and HTCondor-CE's
  ``condor_batch_blah.py`` write them (the format APEL reads, apel-facts 1.8)::

      GlobalJobId|Owner|RemoteWallClockTime|RemoteUserCpu|RemoteSysCpu|JobStartDate|
      EnteredCurrentStatus|ResidentSetSize_RAW|ImageSize_RAW|RequestCpus[|scale][|]

  Every non-blank line is one entry and gives one batch event.
- **ClassAds in "long" form**, one ``Attr = value`` line per attribute: the per-job history files
  HTCondor writes into ``PER_JOB_HISTORY_DIR`` (one ad per file), ``condor_history -l`` output and
  the central history file. Ads are separated by blank lines or banner lines (``*** ...``,
  ``-- ...``). One ad gives a batch event and, when it carries a grid identity (an X.509 proxy
  or a token), also the CE event, so an HTCondor-CE site needs neither ``condor_batch_blah.py``
  nor BLAH files. Both halves are keyed by GlobalJobId, so they join.

What an HTCondor-CE job looks like: the CE's job router copies each grid job into the batch
schedd (on the CE host). That routed copy runs and is the one whose history file lands in
``PER_JOB_HISTORY_DIR``: it has the accounting (RemoteWallClockTime, MachineAttrApelScaling0 ...),
``RoutedFromJobId``, the proxy attributes (``x509userproxysubject``, ``x509UserProxyFQAN`` ...)
and, for token jobs, the router's copies of the token claims (``orig_AuthTokenIssuer``,
``orig_AuthTokenSubject`` ...). The CE-side source job (it has ``RoutedToJobId``) repeats the
same usage, so it is ignored: reading both schedds' histories does not count a job twice.

ClassAd attribute names are case-insensitive (``x509userproxysubject`` is how HTCondor prints
``x509UserProxySubject``), so names are compared in lower case.
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import TypeAlias

from batchacct.errors import ParseError, Reason
from batchacct.parsers import ParserConfig
from batchacct.parsers.blah import parse_fqan
from batchacct.parsers.numbers import INT64_MAX
from batchacct.records import BatchEvent, CeEvent

INFRASTRUCTURE = "APEL-CREAM-HTCONDOR"
_SECRET_ATTRIBUTE = re.compile(r"(?im)^[ \t]*((?:orig_)?env(?:ironment)?)[ \t]*=.*$")

PIPE = "pipe"
ADS = "ads"

PIPE_COLUMNS = (
    "GlobalJobId",
    "Owner",
    "RemoteWallClockTime",
    "RemoteUserCpu",
    "RemoteSysCpu",
    "JobStartDate",
    "EnteredCurrentStatus",
    "ResidentSetSize_RAW",
    "ImageSize_RAW",
    "RequestCpus",
)

JOB_STATUS_REMOVED = 3
JOB_STATUS_COMPLETED = 4
UNIVERSE_GRID = 9
UNIVERSE_PARALLEL = 11

_DURATION_MAX = 1e15  # seconds; far beyond any job, far below float trouble
_EPOCH_MAX = 253402300799  # 9999-12-31T23:59:59Z

_REAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r'\\(["\\])')
_LIST_ITEM = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^,"\s][^,"]*?)\s*(?:,|$)')
_RECORD_ITEM = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^;"]*?)\s*(?:;|$)'
)
_OLD_BATCH_ID = re.compile(r"[0-9]+\.[0-9]+_(.+)")
# Fast paths; whatever they do not match goes the careful way, which decides.
_AD_LINE = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*) = ("[^\n]*"[ \t]*|[^"\n].*)$', re.MULTILINE)
_PIPE_LINE = re.compile(
    r"([^|\s][^|]*)\|([^|]*)"
    + r"\|([0-9]+)" * 8
    + r"(?:\|([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)?)?\|?"
)
_BLANK = " \t\r\x0b\x0c"
_SEPARATOR_START = frozenset(("", "*", "-", *_BLANK))


# FQANs repeat across millions of jobs.
_parse_fqan = lru_cache(maxsize=4096)(parse_fqan)


class Expression(str):
    """An attribute value that is not a literal (``RequestDisk = DiskUsage``): its raw text."""

    __slots__ = ()


# None is UNDEFINED; a record (``[ a = 1; b = "x" ]``) is a dict.
ClassAdValue: TypeAlias = (
    int | float | bool | str | Expression | list["ClassAdValue"] | dict[str, "ClassAdValue"] | None
)


class CondorParser:
    """HTCondor history: batch files (``|``-separated) and ClassAds (``Attr = value`` lines).

    Always a grouped parser (see :class:`batchacct.parsers.GroupedParser`); the file's first line
    decides which of the two forms it holds.
    """

    source_format = "condor"

    def __init__(self, config: ParserConfig) -> None:
        self.site = config.site
        self.machine_name = config.machine_name
        self.identity_map = config.identity_map
        self._mode: str | None = None

    def begin_file(self, first_line: str) -> None:
        # A first line that says nothing (blank, garbage) leaves the choice to the lines that follow.
        self._mode = _detect(first_line)

    @staticmethod
    def redact(text: str) -> str:
        """A rejected ad without the job's environment, which users fill with secrets."""
        return _SECRET_ATTRIBUTE.sub(lambda m: f'{m[1]} = "(removed by batchacct)"', text)

    def split_groups(self, lines: list[str], final: bool) -> tuple[list[tuple[int, int]], int]:
        mode = self._mode
        if mode is None:
            for line in lines:
                mode = _detect(line)
                if mode is not None:
                    self._mode = mode
                    break
            else:
                if not final:
                    return [], 0  # wait for a line that tells the form
                mode = PIPE  # nothing recognisable: every line is rejected on its own
        if mode == PIPE:
            return [(i, i + 1) for i, line in enumerate(lines) if line.strip(_BLANK)], len(lines)
        groups: list[tuple[int, int]] = []
        start = consumed = 0
        for i, line in enumerate(lines):
            if line[:1] in _SEPARATOR_START and _is_separator(line):
                if i > start:
                    groups.append((start, i))
                start = consumed = i + 1
        if start < len(lines) and final:
            groups.append((start, len(lines)))
            consumed = len(lines)
        return groups, consumed

    def parse(
        self, line: str, file: str, line_no: int
    ) -> BatchEvent | tuple[BatchEvent, CeEvent] | None:
        mode = self._mode
        if mode is None:
            mode = ADS if "\n" in line else (_detect(line) or PIPE)
        if mode == PIPE:
            return self._parse_pipe(line, file, line_no)
        return self._parse_ad(line, file, line_no)

    # -- batch files ---------------------------------------------------------------------------

    def _parse_pipe(self, line: str, file: str, line_no: int) -> BatchEvent | None:
        match = _PIPE_LINE.fullmatch(line)
        if match is None:
            return self._parse_pipe_columns(line, file, line_no)
        job_id, owner, wall, user, system, start, end, rss, image, cpus, scale = match.groups()
        # The checks of _build, in its order, for columns that are plain digits.
        factor: float | None = None
        if scale:
            factor = float(scale)
            if not math.isfinite(factor):
                raise ParseError(Reason.BAD_NUMBER, f"scale is not a number: {scale[:40]!r}")
            if factor <= 0:
                factor = None
        started = int(start)
        ended = int(end)
        if started == 0:
            return None
        if ended < started:
            raise ParseError(
                Reason.INCONSISTENT,
                f"job ends (EnteredCurrentStatus {ended}) before it starts ({started})",
            )
        wall_seconds = int(wall)
        cpu_seconds = int(user) + int(system)
        if wall_seconds >= _DURATION_MAX or cpu_seconds >= _DURATION_MAX:
            raise ParseError(Reason.BAD_NUMBER, "wall or CPU time out of range")
        if ended > _EPOCH_MAX:
            raise ParseError(
                Reason.BAD_TIMESTAMP, f"JobStartDate or EnteredCurrentStatus out of range: {ended}"
            )
        processors = int(cpus)
        real_kib = int(rss)
        virtual_kib = int(image)
        if processors > INT64_MAX or real_kib > INT64_MAX or virtual_kib > INT64_MAX:
            raise ParseError(Reason.BAD_NUMBER, "RequestCpus or memory out of range")
        return BatchEvent(
            site=self.site,
            machine_name=self.machine_name,
            local_job_id=job_id,
            start_time=datetime.fromtimestamp(started, UTC),
            end_time=datetime.fromtimestamp(ended, UTC),
            wall_duration=wall_seconds,
            cpu_duration=cpu_seconds,
            source_format=self.source_format,
            source_file=file,
            source_line=line_no,
            local_user_id=owner or None,
            processors=processors or None,
            memory_real=real_kib,
            memory_virtual=virtual_kib,
            from_host=_schedd_host(job_id),
            infrastructure_description=INFRASTRUCTURE,
            host_factor=factor,
        )

    def _parse_pipe_columns(self, line: str, file: str, line_no: int) -> BatchEvent | None:
        """The careful path: any line, split into columns, each checked on its own."""
        fields = line.strip().split("|")
        count = len(fields)
        if count > 10 and fields[-1] == "":
            count -= 1  # the trailing '|' HTCondor-CE writes
        if count not in (10, 11):
            raise ParseError(
                Reason.MALFORMED,
                f"{count} columns; a batch line has 10 or 11: {'|'.join(PIPE_COLUMNS)}[|scale]",
            )
        job_id = fields[0]
        if not job_id or job_id.isspace():
            raise ParseError(Reason.MISSING_FIELD, "empty GlobalJobId")
        factor: float | None = None
        if count == 11:
            scale = fields[10].strip()
            if scale and scale.lower() != "undefined":
                value = _pipe_number(scale, "scale")
                factor = float(value) if value > 0 else None
        return self._build(
            job_id=job_id,
            owner=fields[1] or None,
            group=None,
            account=None,
            wall=_pipe_number(fields[2], "RemoteWallClockTime"),
            user_cpu=_pipe_number(fields[3], "RemoteUserCpu"),
            sys_cpu=_pipe_number(fields[4], "RemoteSysCpu"),
            start=_pipe_number(fields[5], "JobStartDate"),
            end=_pipe_number(fields[6], "EnteredCurrentStatus"),
            submitted=None,
            rss=_pipe_number(fields[7], "ResidentSetSize_RAW"),
            image=_pipe_number(fields[8], "ImageSize_RAW"),
            cpus=_pipe_number(fields[9], "RequestCpus"),
            exec_hosts=[],
            node_count=None,
            exit_status=None,
            host_factor=factor,
            specs={},
            file=file,
            line_no=line_no,
        )

    # -- ClassAds ------------------------------------------------------------------------------

    def _parse_ad(
        self, text: str, file: str, line_no: int
    ) -> BatchEvent | tuple[BatchEvent, CeEvent] | None:
        ad = _read_ad(text, line_no)
        job_id = _text(ad, "globaljobid", "GlobalJobId")
        if not job_id:
            raise ParseError(Reason.MISSING_FIELD, "no GlobalJobId")
        status = _number(ad, "jobstatus", "JobStatus")
        if status is None:
            raise ParseError(Reason.MISSING_FIELD, "no JobStatus")
        if status not in (JOB_STATUS_COMPLETED, JOB_STATUS_REMOVED):
            return None
        if _present(ad, "routedtojobid"):
            # The CE-side source of a routed job: its routed copy is the one accounted.
            return None
        universe = _number(ad, "jobuniverse", "JobUniverse")
        if universe == UNIVERSE_GRID:
            # Ran on another system (a grid-universe job), which accounts for it.
            return None
        start = _first_number(
            ad, ("jobstartdate", "JobStartDate"), ("jobcurrentstartdate", "JobCurrentStartDate")
        )
        if start is None or start <= 0:
            if status == JOB_STATUS_REMOVED:
                return None  # removed before it ever ran
            raise ParseError(Reason.MISSING_FIELD, "completed job without JobStartDate")
        end = _number(ad, "enteredcurrentstatus", "EnteredCurrentStatus")
        if end is None or end <= 0:
            end = _number(ad, "completiondate", "CompletionDate")
            if end is None or end <= 0:
                raise ParseError(Reason.MISSING_FIELD, "no EnteredCurrentStatus or CompletionDate")
        owner = _text(ad, "owner", "Owner") or None
        host = _text(ad, "lastremotehost", "LastRemoteHost") or _text(
            ad, "remotehost", "RemoteHost"
        )
        exec_hosts = [host.rpartition("@")[2]] if host else []
        specs = ad.get("machineattrapelspecs0")
        batch = self._build(
            job_id=job_id,
            owner=owner,
            group=_text(ad, "acctgroup", "AcctGroup") or None,
            account=_text(ad, "accountinggroup", "AccountingGroup") or None,
            wall=_required(ad, "remotewallclocktime", "RemoteWallClockTime"),
            user_cpu=_required(ad, "remoteusercpu", "RemoteUserCpu"),
            sys_cpu=_required(ad, "remotesyscpu", "RemoteSysCpu"),
            start=start,
            end=end,
            submitted=_number(ad, "qdate", "QDate"),
            rss=_first_number(
                ad,
                ("residentsetsize_raw", "ResidentSetSize_RAW"),
                ("residentsetsize", "ResidentSetSize"),
            ),
            image=_first_number(ad, ("imagesize_raw", "ImageSize_RAW"), ("imagesize", "ImageSize")),
            cpus=_cpus(ad),
            exec_hosts=exec_hosts,
            node_count=1 if exec_hosts and universe != UNIVERSE_PARALLEL else None,
            exit_status=_exit_status(ad),
            host_factor=_scaling(ad.get("machineattrapelscaling0")),
            specs=_specs(specs) if specs is not None else {},
            file=file,
            line_no=line_no,
        )
        if batch is None:
            return None
        ce = self._ce_event(ad, batch, file, line_no)
        return batch if ce is None else (batch, ce)

    def _ce_event(
        self, ad: dict[str, str], batch: BatchEvent, file: str, line_no: int
    ) -> CeEvent | None:
        """The grid half of a job whose ad carries an X.509 proxy or token identity, else None.

        - ``global_user_name``: the proxy subject (DN); for a token job without a proxy,
          ``<issuer>/<subject>`` (the issuer's trailing ``/`` dropped), the token's subject
          alone being unique only per issuer.
        - FQANs: ``x509UserProxyFQAN`` (whose first element, the DN, is dropped), with
          ``x509UserProxyFirstFQAN`` first; without them, the identity map: ``"<issuer>
          <subject>"`` for a token, then ``"owner:<Owner>"``. A token job the map does not know
          gets no FQAN and no VO: the joiner's VO map (local group or account to VO) decides.
        """
        subject = _text_any(ad, "x509userproxysubject", "orig_x509userproxysubject")
        fqan_list = _text_any(ad, "x509userproxyfqan", "orig_x509userproxyfqan")
        first_fqan = _text_any(ad, "x509userproxyfirstfqan", "orig_x509userproxyfirstfqan")
        issuer = _text_any(ad, "orig_authtokenissuer", "authtokenissuer")
        token_subject = _text_any(ad, "orig_authtokensubject")
        if token_subject is None and _present(ad, "routedfromjobid"):
            token_subject = _text_any(ad, "authtokensubject")
        # A plain AuthTokenSubject on a job that did not come through a CE's router is a local
        # user who authenticated to the schedd with a token: a local job, not a grid one.
        if not (subject or fqan_list or first_fqan or token_subject):
            return None
        fqans = _proxy_fqans(fqan_list, subject)
        if first_fqan:
            fqans = [first_fqan, *(fqan for fqan in fqans if fqan != first_fqan)]
        if not fqans:
            mapped = None
            if token_subject and issuer:
                mapped = self.identity_map.get(f"{issuer} {token_subject}")
            if mapped is None and batch.local_user_id:
                mapped = self.identity_map.get(f"owner:{batch.local_user_id}")
            if mapped:
                fqans = [mapped]
        primary = fqans[0] if fqans else None
        if primary:
            vo, vo_group, vo_role = _parse_fqan(primary)
        else:
            vo = _text_any(ad, "x509userproxyvoname", "orig_x509userproxyvoname")
            vo_group = vo_role = None
        if subject:
            user_name: str | None = subject
        elif token_subject:
            user_name = f"{issuer.rstrip('/')}/{token_subject}" if issuer else token_subject
        else:
            user_name = None
        return CeEvent(
            site=self.site,
            lrms_id=batch.local_job_id,
            timestamp=batch.end_time,
            global_user_name=user_name,
            fqan=primary,
            vo=vo,
            vo_group=vo_group,
            vo_role=vo_role,
            submit_host=batch.from_host,
            grid_job_id=batch.local_job_id,
            source_format=self.source_format,
            source_file=file,
            source_line=line_no,
            fqans=fqans,
            local_user=batch.local_user_id,
        )

    # -- both ----------------------------------------------------------------------------------

    def _build(
        self,
        *,
        job_id: str,
        owner: str | None,
        group: str | None,
        account: str | None,
        wall: float,
        user_cpu: float,
        sys_cpu: float,
        start: float,
        end: float,
        submitted: float | None,
        rss: float | None,
        image: float | None,
        cpus: float | None,
        exec_hosts: list[str],
        node_count: int | None,
        exit_status: int | None,
        host_factor: float | None,
        specs: dict[str, float],
        file: str,
        line_no: int,
    ) -> BatchEvent | None:
        """Check and convert the values; both forms end here."""
        if start <= 0:
            return None  # never started: nothing ran, nothing to account
        if end < start:
            raise ParseError(
                Reason.INCONSISTENT,
                f"job ends (EnteredCurrentStatus {end:.0f}) before it starts ({start:.0f})",
            )
        if wall < 0 or user_cpu < 0 or sys_cpu < 0:
            raise ParseError(
                Reason.INCONSISTENT,
                f"negative duration (wall {wall}, user CPU {user_cpu}, system CPU {sys_cpu})",
            )
        cpu = user_cpu + sys_cpu
        if not (wall < _DURATION_MAX and cpu < _DURATION_MAX):
            raise ParseError(Reason.BAD_NUMBER, "wall or CPU time out of range")
        if end > _EPOCH_MAX:
            raise ParseError(
                Reason.BAD_TIMESTAMP, f"JobStartDate or EnteredCurrentStatus out of range: {end}"
            )
        started_at = datetime.fromtimestamp(int(start), UTC)
        ended_at = datetime.fromtimestamp(int(end), UTC)
        submitted_at = (
            _time(submitted, "QDate") if submitted is not None and submitted > 0 else None
        )
        processors: int | None = None
        if cpus is not None:
            if cpus != int(cpus) or cpus > INT64_MAX:
                raise ParseError(Reason.BAD_NUMBER, f"RequestCpus is not a count: {cpus}")
            processors = int(cpus) if cpus > 0 else None
        return BatchEvent(
            site=self.site,
            machine_name=self.machine_name,
            local_job_id=job_id,
            start_time=started_at,
            end_time=ended_at,
            wall_duration=round(wall),
            cpu_duration=round(cpu),
            source_format=self.source_format,
            source_file=file,
            source_line=line_no,
            local_user_id=owner,
            local_user_group=group,
            account=account,
            submit_time=submitted_at,
            processors=processors,
            node_count=node_count,
            exec_hosts=exec_hosts,
            memory_real=_kib(rss, "ResidentSetSize"),
            memory_virtual=_kib(image, "ImageSize"),
            exit_status=exit_status,
            from_host=_schedd_host(job_id),
            infrastructure_description=INFRASTRUCTURE,
            host_factor=host_factor,
            machine_specs=specs,
        )


def load_identity_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read an identity map file for :attr:`ParserConfig.identity_map`.

    One mapping per line, fields separated by blanks; ``#`` starts a comment line::

        token https://atlas-auth.web.cern.ch/ 7dee38a3-6ab8-4fe2-9e4c-58039c21d817 /atlas/Role=production
        owner cmsprd /cms/Role=production

    A ``token`` line maps a token's issuer and subject, an ``owner`` line a local user (Owner),
    to an FQAN. Raises ValueError naming the line for anything else, or a key given twice.
    """
    mapping: dict[str, str] = {}
    with open(path, encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if fields[0] == "token" and len(fields) == 4:
                key = f"{fields[1]} {fields[2]}"
            elif fields[0] == "owner" and len(fields) == 3:
                key = f"owner:{fields[1]}"
            else:
                raise ValueError(
                    f"{path}:{line_no}: expected 'token <issuer> <subject> <FQAN>' or "
                    f"'owner <Owner> <FQAN>', got {line.strip()[:80]!r}"
                )
            fqan = fields[-1]
            if not fqan.startswith("/"):
                raise ValueError(f"{path}:{line_no}: FQAN {fqan[:80]!r} does not start with '/'")
            if key in mapping:
                raise ValueError(f"{path}:{line_no}: {key!r} is mapped twice")
            mapping[key] = fqan
    return mapping


def _detect(line: str) -> str | None:
    """The form a line belongs to: ADS, PIPE, or None when it does not say (blank, garbage)."""
    if " = " in line or line.startswith(("***", "-- ")):
        return ADS
    if "|" in line:
        return PIPE
    return None


def _is_separator(line: str) -> bool:
    """A blank line (blanks and tabs only) or a banner (``*** ...``, ``-- ...``)."""
    return not line.strip(_BLANK) or line.startswith(("***", "-- "))


def _read_ad(text: str, line_no: int) -> dict[str, str]:
    """The raw values of the ad's attributes, keyed by lower-case name.

    Every line must be ``Attr = value``; a quoted value must end with its closing quote (what a
    truncated file breaks). A repeated attribute keeps its last value, as in a ClassAd.
    """
    pairs: list[tuple[str, str]] = _AD_LINE.findall(text)
    if len(pairs) == text.count("\n") + 1:
        names, values = zip(*pairs, strict=True)
        return dict(zip(map(str.lower, names), values, strict=True))
    return _read_ad_lines(text, line_no)


def _read_ad_lines(text: str, line_no: int) -> dict[str, str]:
    """The careful path of :func:`_read_ad`: line by line, saying which line is broken."""
    ad: dict[str, str] = {}
    for offset, line in enumerate(text.split("\n")):
        name, sep, value = line.partition(" = ")
        if not sep or not value or not name.isidentifier():
            raise ParseError(
                Reason.MALFORMED, f"line {line_no + offset} is not 'Attr = value': {line[:80]!r}"
            )
        if value[0] == '"' and (len(value) < 2 or value.rstrip()[-1] != '"'):
            raise ParseError(
                Reason.MALFORMED, f"line {line_no + offset}: unterminated string: {line[:80]!r}"
            )
        ad[name.lower()] = value
    return ad


def parse_literal(value: str) -> ClassAdValue:
    """A ClassAd value: int, float, bool, str, list, dict (record), None (UNDEFINED), or, for
    anything else, the raw text as an :class:`Expression`.

    Raises MALFORMED for a string whose quoting is broken.
    """
    value = value.strip()
    first = value[:1]
    if first == '"':
        return _unquote(value)
    if first and (first.isdigit() or first in "+-."):
        if value.isdigit() and value.isascii():
            return int(value)
        if _INTEGER.fullmatch(value):
            return int(value)
        if _REAL.fullmatch(value):
            number = float(value)
            if not math.isfinite(number):
                raise ParseError(Reason.BAD_NUMBER, f"number out of range: {value[:40]!r}")
            return number
        return Expression(value)
    lowered = value.lower()
    if lowered == "undefined":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    if first == "{" and value.endswith("}"):
        return [parse_literal(item) for item in _items(_LIST_ITEM, value[1:-1])]
    if first == "[" and value.endswith("]"):
        return {name: parse_literal(item) for name, item in _record_items(value[1:-1])}
    return Expression(value)


def _items(pattern: re.Pattern[str], inner: str) -> list[str]:
    if not inner.strip():
        return []
    items = []
    pos = 0
    while pos < len(inner):
        match = pattern.match(inner, pos)
        if match is None or match.end() == pos:
            raise ParseError(Reason.MALFORMED, f"not a ClassAd list: {inner[:60]!r}")
        items.append(match.group(1))
        pos = match.end()
    return items


def _record_items(inner: str) -> list[tuple[str, str]]:
    items = []
    pos = 0
    while pos < len(inner) and not inner[pos:].isspace():
        match = _RECORD_ITEM.match(inner, pos)
        if match is None or match.end() == pos:
            raise ParseError(Reason.MALFORMED, f"not a ClassAd record: {inner[:60]!r}")
        if match.group(2):
            items.append((match.group(1), match.group(2)))
        pos = match.end()
    return items


def _unquote(value: str) -> str:
    inner = value[1:-1]
    if len(value) >= 2 and value[-1] == '"' and '"' not in inner and "\\" not in inner:
        return inner
    match = _STRING.fullmatch(value)
    if match is None:
        raise ParseError(Reason.MALFORMED, f"broken string: {value[:60]!r}")
    return _ESCAPE.sub(r"\1", match.group(1))


def _present(ad: dict[str, str], key: str) -> bool:
    raw = ad.get(key)
    return raw is not None and raw.strip().lower() != "undefined"


def _text(ad: dict[str, str], key: str, name: str) -> str | None:
    """A string attribute; None when absent or UNDEFINED."""
    raw = ad.get(key)
    if raw is None:
        return None
    if raw[0] == '"' and raw[-1] == '"' and len(raw) > 1:
        inner = raw[1:-1]
        if '"' not in inner and "\\" not in inner:
            return inner
    value = parse_literal(raw)
    if value is None:
        return None
    if not isinstance(value, str) or isinstance(value, Expression):
        raise ParseError(Reason.MALFORMED, f"{name} is not a string: {raw[:60]!r}")
    return value


def _text_any(ad: dict[str, str], *keys: str) -> str | None:
    """The first of ``keys`` that holds a non-empty string (identity attributes, never required)."""
    for key in keys:
        value = _text(ad, key, key)
        if value:
            return value
    return None


def _number(ad: dict[str, str], key: str, name: str) -> float | None:
    """A numeric attribute; None when absent or UNDEFINED, BAD_NUMBER for anything else."""
    raw = ad.get(key)
    if raw is None:
        return None
    if raw.isdigit() and raw.isascii():
        return int(raw)
    if _REAL.fullmatch(raw):  # "47738.0"
        number = float(raw)
        if math.isfinite(number):
            return number
    value = parse_literal(raw)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(Reason.BAD_NUMBER, f"{name} is not a number: {raw[:60]!r}")
    return value


def _first_number(ad: dict[str, str], *keys: tuple[str, str]) -> float | None:
    for key, name in keys:
        value = _number(ad, key, name)
        if value is not None:
            return value
    return None


def _required(ad: dict[str, str], key: str, name: str) -> float:
    value = _number(ad, key, name)
    if value is None:
        raise ParseError(Reason.MISSING_FIELD, f"no {name}")
    return value


def _cpus(ad: dict[str, str]) -> float | None:
    """RequestCpus, or CpusProvisioned when RequestCpus is an expression or absent."""
    raw = ad.get("requestcpus")
    if raw is not None:
        value = parse_literal(raw)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if not isinstance(value, Expression) and value is not None:
            raise ParseError(Reason.BAD_NUMBER, f"RequestCpus is not a number: {raw[:60]!r}")
    return _number(ad, "cpusprovisioned", "CpusProvisioned")


def _exit_status(ad: dict[str, str]) -> int | None:
    """ExitCode; for a job killed by a signal, 128 + the signal, as a shell reports it."""
    by_signal = ad.get("exitbysignal")
    if by_signal is not None and parse_literal(by_signal) is True:
        signal = _number(ad, "exitsignal", "ExitSignal")
        return 128 + int(signal) if signal is not None and 0 < signal < 128 else None
    code = _number(ad, "exitcode", "ExitCode")
    if code is None:
        return None
    if code != int(code) or abs(code) > INT64_MAX:
        raise ParseError(Reason.BAD_NUMBER, f"ExitCode is not an integer: {code}")
    return int(code)


def _scaling(raw: str | None) -> float | None:
    """MachineAttrApelScaling0 when it is a positive number; else unknown (never a rejection)."""
    if raw is None:
        return None
    try:
        value = parse_literal(raw)
    except ParseError:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _specs(raw: str) -> dict[str, float]:
    """MachineAttrApelSpecs0, a record ``[ HEPSPEC = 10.5; HEPscore23 = 12 ]``: its numbers."""
    try:
        value = parse_literal(raw)
    except ParseError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        name: float(number)
        for name, number in value.items()
        if isinstance(number, int | float) and not isinstance(number, bool) and number >= 0
    }


def _pipe_number(text: str, name: str) -> float:
    if text.isdigit() and text.isascii():
        return int(text)
    stripped = text.strip()
    if not stripped or stripped.lower() == "undefined":
        raise ParseError(Reason.MISSING_FIELD, f"{name} is empty")
    if _REAL.fullmatch(stripped):
        number = float(stripped)
        if math.isfinite(number):
            return int(stripped) if _INTEGER.fullmatch(stripped) else number
    raise ParseError(Reason.BAD_NUMBER, f"{name} is not a number: {text[:40]!r}")


def _time(epoch: float, name: str) -> datetime:
    if not 0 <= epoch <= _EPOCH_MAX:
        raise ParseError(Reason.BAD_TIMESTAMP, f"{name} out of range: {epoch}")
    return datetime.fromtimestamp(int(epoch), UTC)


def _kib(value: float | None, name: str) -> int | None:
    if value is None or value < 0:
        return None
    if value > INT64_MAX:
        raise ParseError(Reason.BAD_NUMBER, f"{name} out of range: {value}")
    return round(value)


def _proxy_fqans(fqan_list: str | None, subject: str | None) -> list[str]:
    """The FQANs of ``x509UserProxyFQAN``: ``"<DN>,<FQAN>,<FQAN>..."`` or just the FQANs.

    The DN may itself hold commas, so it is cut off by the subject when we know it; any other
    element that is not an FQAN (a DN's ``/DC=ch/...``, a piece of one) is dropped.
    """
    if not fqan_list:
        return []
    if subject and fqan_list.startswith(subject):
        fqan_list = fqan_list[len(subject) :].removeprefix(",")
    fqans = []
    for item in fqan_list.split(","):
        item = item.strip()
        if item.startswith("/") and "=" not in item.split("/", 2)[1] and item not in fqans:
            fqans.append(item)
    return fqans


def _schedd_host(job_id: str) -> str | None:
    """The submitting schedd's host from a GlobalJobId (``<schedd>#<cluster>.<proc>#<qdate>``,
    the schedd possibly ``name@host``), or from the older ``<cluster>.<proc>_<host>`` ids."""
    if "#" in job_id:
        return job_id.partition("#")[0].rpartition("@")[2] or None
    match = _OLD_BATCH_ID.fullmatch(job_id)
    return match.group(1) if match else None
