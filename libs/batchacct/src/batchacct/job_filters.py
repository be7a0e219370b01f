"""Which job records a report or a chart covers: one filter type for both.

:class:`JobFilters` is what ``batchacct report`` and ``batchacct plot`` take as options and what
``/api/v1/reports/{type}`` and ``/api/v1/charts/{name}`` take as query parameters: site, local
user, VO, queue, account, host (the submit host, the machine name or any execution host), an end
time range ``since <= end_time < until`` (UTC) and ``invalid_only`` (jobs whose account failed
validation). :meth:`JobFilters.checked` refuses bad values with a :class:`ParameterError` naming
the parameter; :meth:`JobFilters.where` gives the SQL condition with named parameters
(``%(filter_site)s`` ...), so callers add their own named parameters beside them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

MAX_FILTER_LENGTH = 512
# The text filters compared for equality: field name -> job_records column.
EQUAL_COLUMNS = {
    "site": "site",
    "user": "local_user_id",
    "vo": "vo",
    "queue": "queue",
    "account": "account",
}
TEXT_FILTERS = (*EQUAL_COLUMNS, "host")
# The prefix of the filters' parameter names: other parameters of the same query must not use it.
PARAM_PREFIX = "filter_"

Params = dict[str, Any]
# An SQL condition with its named parameters.
Condition = tuple[sql.Composable, Params]


class ParameterError(ValueError):
    """A bad filter or report parameter: ``param`` names it (``site``, ``until``, ``by`` ...),
    ``message`` says what is wrong with ``value``."""

    def __init__(self, param: str, message: str, value: object) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message
        self.value = value


def comma_list(
    text: str, allowed: Sequence[str], param: str, noun: str, allowed_label: str = "allowed"
) -> list[str]:
    """The names in the comma-separated ``text``, in order; a :class:`ParameterError` for
    ``param`` names any unknown (not in ``allowed``) or repeated ``noun``."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ParameterError(
            param,
            f"unknown {noun}(s) {', '.join(repr(n) for n in unknown)}; "
            f"{allowed_label}: {', '.join(allowed)}",
            text,
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ParameterError(param, f"{noun}(s) repeated: {', '.join(repeated)}", text)
    return names


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC; a naive time is taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class JobFilters:
    """Which jobs to count; ``None`` (and ``invalid_only=False``) selects every job."""

    site: str | None = None
    user: str | None = None  # the local user id
    vo: str | None = None
    queue: str | None = None
    account: str | None = None
    host: str | None = None  # the submit host, the machine name or any execution host
    since: datetime | None = None  # end_time >= since
    until: datetime | None = None  # end_time < until
    invalid_only: bool = False  # only jobs with job_records.account_valid = false

    def checked(self) -> JobFilters:
        """These filters with their times in UTC (naive ones taken as UTC); raises
        :class:`ParameterError` for a text with a NUL character or longer than
        ``MAX_FILTER_LENGTH``, or ``since`` not before ``until``."""
        for name in TEXT_FILTERS:
            value = getattr(self, name)
            if value is None:
                continue
            if "\x00" in value:
                raise ParameterError(name, "must not contain NUL characters", value)
            if len(value) > MAX_FILTER_LENGTH:
                raise ParameterError(
                    name, f"at most {MAX_FILTER_LENGTH} characters", value[:40] + "..."
                )
        since, until = as_utc(self.since), as_utc(self.until)
        if since is not None and until is not None and since >= until:
            raise ParameterError(
                "until", f"must be after since ({since.isoformat()})", until.isoformat()
            )
        return dataclasses.replace(self, since=since, until=until)

    def where(self, *extra: Condition) -> Condition:
        """The AND-ed condition on job_records (``TRUE`` when nothing is filtered) and its
        parameters, named ``filter_<field>``, followed by the ``extra`` conditions."""
        parts: list[sql.Composable] = []
        params: Params = {}
        for name, column in EQUAL_COLUMNS.items():
            value = getattr(self, name)
            if value is not None:
                key = PARAM_PREFIX + name
                parts.append(
                    sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(key))
                )
                params[key] = value
        if self.host is not None:
            parts.append(
                sql.SQL(
                    "(submit_host = %(filter_host)s OR machine_name = %(filter_host)s"
                    " OR %(filter_host)s = ANY(exec_hosts))"
                )
            )
            params["filter_host"] = self.host
        if self.since is not None:
            parts.append(sql.SQL("end_time >= %(filter_since)s"))
            params["filter_since"] = self.since
        if self.until is not None:
            parts.append(sql.SQL("end_time < %(filter_until)s"))
            params["filter_until"] = self.until
        if self.invalid_only:
            parts.append(sql.SQL("account_valid = false"))
        for condition, condition_params in extra:
            parts.append(condition)
            params.update(condition_params)
        if not parts:
            return sql.SQL("TRUE"), params
        return sql.SQL(" AND ").join(parts), params
