"""Account validation: which accounts each user or group of a site may charge.

LoadLeveler's ``llacctval`` for today's schedulers. An *account* is what a job charges: an LSF
project, a SLURM account, a PBS or Grid Engine account, an HTCondor ``AccountingGroup``. A site's
policy lists, for users and for (Unix) groups, the accounts they may charge (exact names or globs
with ``*`` and ``?``), plus a default for the users and groups it does not list.

Decision for a job of ``user`` in ``group`` charging ``account`` at a site:

1. the site has no policy: no decision (a job record's ``account_valid`` stays NULL, and
   ``batchacct-validate-account`` exits 3);
2. a rule of the user, or of the group, matches the account: allowed;
3. the user or the group is listed (has any rule): not allowed;
4. neither is listed: the site's default (``allow`` or ``deny``).

A job record without an account gets NULL (nothing to validate). At submission an empty account
is judged like any other: only a ``*`` rule matches it, and unlisted subjects get the default.

Policy files (``batchacct accounts load FILE``, :func:`load_file`) are YAML, one site each; a
loaded file replaces that site's whole policy::

    site: EXAMPLE-SITE
    default: deny                  # allow | deny: for users and groups not listed below
    rules:
      - user: alice
        accounts: [atlas-prod, "atlas-user-*"]
      - group: cms
        accounts: [cms, "cms-?"]

``PUT /api/v1/accounts/policy`` takes the same document as JSON. Storing a policy does not touch
stored job records: :func:`revalidate` (``batchacct accounts revalidate --since``) does.

This module imports nothing heavy at import time (``batchacct-validate-account`` runs at every
job submission): YAML and the database helpers are imported where they are used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchacct.record_batches import in_end_time_batches, rewrite_batch_sql

if TYPE_CHECKING:
    import psycopg

SUBJECT_KINDS = ("user", "group")
DEFAULT_RULES = ("allow", "deny")
MAX_NAME_LENGTH = 512


class AccountPolicyError(ValueError):
    """A policy that cannot be stored or used; the message says why."""


class AccountPolicyFileError(AccountPolicyError):
    """A policy file that cannot be loaded; the message names the file and the entry."""


def is_pattern(account: str) -> bool:
    return "*" in account or "?" in account


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """The glob as a regular expression with exactly the meaning of its SQL LIKE form: only
    ``*`` and ``?`` are special (as in :func:`batchacct.benchmarks.glob_to_like`)."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One user or group may charge one account (an exact name or a glob)."""

    kind: str
    subject: str
    account: str

    def matches(self, account: str) -> bool:
        if not is_pattern(self.account):
            return account == self.account
        return _glob_regex(self.account).fullmatch(account) is not None

    def describe(self) -> str:
        return f"{self.kind} {self.subject!r} may charge {self.account!r}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class Policy:
    site: str
    default: str
    rules: tuple[Rule, ...] = ()
    source: str = field(default="", compare=False)
    created_at: datetime | None = field(default=None, compare=False)

    def checked(self) -> Policy:
        """This policy, or AccountPolicyError saying what is wrong with it."""
        _name(self.site, "site")
        if self.default not in DEFAULT_RULES:
            raise AccountPolicyError(
                f"default {self.default!r} is not one of {', '.join(DEFAULT_RULES)}"
            )
        seen: set[tuple[str, str, str]] = set()
        for rule in self.rules:
            if rule.kind not in SUBJECT_KINDS:
                raise AccountPolicyError(
                    f"subject kind {rule.kind!r} is not one of {', '.join(SUBJECT_KINDS)}"
                )
            _name(rule.subject, rule.kind)
            _name(rule.account, "account")
            key = (rule.kind, rule.subject, rule.account)
            if key in seen:
                raise AccountPolicyError(f"{rule.describe()} is given twice")
            seen.add(key)
        return self

    def listed(self, kind: str, subject: str) -> bool:
        return any(r.kind == kind and r.subject == subject for r in self.rules)

    def decide(self, user: str, group: str, account: str) -> Decision:
        """Whether ``user`` in ``group`` may charge ``account`` (the module docstring's rules)."""
        for rule in self.rules:
            subject = user if rule.kind == "user" else group
            if rule.subject == subject and rule.matches(account):
                return Decision(True, f"allowed: {rule.describe()} (site {self.site})")
        listed = [
            f"{kind} {subject!r}"
            for kind, subject in (("user", user), ("group", group))
            if self.listed(kind, subject)
        ]
        if listed:
            allowed = sorted(
                {
                    r.account
                    for r in self.rules
                    if (r.kind, r.subject) in (("user", user), ("group", group))
                }
            )
            return Decision(
                False,
                f"not allowed: {' and '.join(listed)} may not charge account {account!r} at site"
                f" {self.site} (allowed: {', '.join(allowed)})",
            )
        if self.default == "allow":
            return Decision(
                True,
                f"allowed: user {user!r} and group {group!r} are not listed and site"
                f" {self.site}'s default is allow",
            )
        return Decision(
            False,
            f"not allowed: user {user!r} and group {group!r} are not listed and site"
            f" {self.site}'s default is deny",
        )

    def as_document(self) -> dict[str, Any]:
        """The policy in its file's shape (rules grouped per subject, in order)."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for rule in self.rules:
            grouped.setdefault((rule.kind, rule.subject), []).append(rule.account)
        return {
            "site": self.site,
            "default": self.default,
            "rules": [
                {kind: subject, "accounts": accounts}
                for (kind, subject), accounts in grouped.items()
            ],
        }


def _name(value: str, what: str) -> str:
    if not value.strip():
        raise AccountPolicyError(f"the {what} name is empty")
    if "\x00" in value:
        raise AccountPolicyError(f"the {what} name {value!r} contains a NUL character")
    if len(value) > MAX_NAME_LENGTH:
        raise AccountPolicyError(f"the {what} name is longer than {MAX_NAME_LENGTH} characters")
    return value


# --- Policy files -------------------------------------------------------------------------------

_FILE_KEYS = ("site", "default", "rules")
_RULE_KEYS = ("user", "group", "accounts")


def load_file(path: str | Path) -> Policy:
    """The policy of a YAML file (format in the module docstring), checked whole.

    Raises :class:`AccountPolicyFileError` naming the file and the entry for anything wrong.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise AccountPolicyFileError(f"{path}: cannot read it: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise AccountPolicyFileError(f"{path}: not UTF-8 text") from None
    return parse_policy(text, str(path))


def parse_policy(text: str, origin: str) -> Policy:
    """The policy of a YAML document; ``origin`` names it in errors (the file's path)."""
    import yaml

    from batchacct.config_files import parse_yaml, yaml_problem

    try:
        document = parse_yaml(text)
    except yaml.YAMLError as err:
        raise AccountPolicyFileError(f"{origin}: not valid YAML: {yaml_problem(err)}") from None
    return policy_from_document(document, origin)


def policy_from_document(document: object, origin: str) -> Policy:
    """A policy from a parsed document (a YAML file's, or a JSON body's), checked whole."""
    from batchacct.config_files import kind_of, strict_mapping

    document = strict_mapping(
        document,
        _FILE_KEYS,
        "a mapping with 'site', 'default' and 'rules'",
        "a policy",
        lambda message: AccountPolicyFileError(f"{origin}: {message}"),
    )
    for key in ("site", "default"):
        value = document.get(key)
        if not isinstance(value, str):
            raise AccountPolicyFileError(
                f"{origin}: '{key}' must be text, found {kind_of(value)}"
                + (" (allow or deny)" if key == "default" else "")
            )
    entries = document.get("rules", [])
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise AccountPolicyFileError(f"{origin}: 'rules' must be a list, found {kind_of(entries)}")
    rules: list[Rule] = []
    first: dict[tuple[str, str], int] = {}
    for number, entry in enumerate(entries, 1):
        try:
            kind, subject, accounts = _rule_entry(entry)
        except AccountPolicyError as err:
            raise AccountPolicyFileError(f"{origin}: rule {number}{_label(entry)}: {err}") from None
        earlier = first.setdefault((kind, subject), number)
        if earlier != number:
            raise AccountPolicyFileError(
                f"{origin}: rules {earlier} and {number} both list {kind} {subject!r};"
                " give each user and group once"
            )
        rules.extend(Rule(kind, subject, account) for account in accounts)
    policy = Policy(site=document["site"], default=document["default"], rules=tuple(rules))
    try:
        return policy.checked()
    except AccountPolicyError as err:
        raise AccountPolicyFileError(f"{origin}: {err}") from None


def _rule_entry(entry: object) -> tuple[str, str, list[str]]:
    from batchacct.config_files import kind_of, strict_mapping

    entry = strict_mapping(
        entry, _RULE_KEYS, "a mapping (user or group, accounts)", "a rule", AccountPolicyError
    )
    kinds = [k for k in SUBJECT_KINDS if entry.get(k) is not None]
    if len(kinds) != 1:
        raise AccountPolicyError("give exactly one of 'user' and 'group'")
    kind = kinds[0]
    subject = entry[kind]
    if not isinstance(subject, str):
        raise AccountPolicyError(f"'{kind}' must be text, found {kind_of(subject)} (quote it)")
    accounts = entry.get("accounts")
    if not isinstance(accounts, list) or not accounts:
        raise AccountPolicyError(
            f"'accounts' must be a non-empty list of account names, found {kind_of(accounts)}"
        )
    for account in accounts:
        if not isinstance(account, str):
            raise AccountPolicyError(
                f"account {account!r} must be text, found {kind_of(account)} (quote it)"
            )
        _name(account, "account")
    _name(subject, kind)
    return kind, subject, accounts


def _label(entry: object) -> str:
    if not isinstance(entry, dict):
        return ""
    for kind in SUBJECT_KINDS:
        if isinstance(entry.get(kind), str):
            return f" ({kind} {entry[kind]})"
    return ""


# --- Storing and reading policies ---------------------------------------------------------------

_OLD = (
    "SELECT p.default_rule, r.subject_kind, r.subject, r.account FROM account_policies p"
    " LEFT JOIN account_rules r ON r.site = p.site WHERE p.site = %s FOR UPDATE OF p"
)
_DELETE = "DELETE FROM account_policies WHERE site = %s"  # its rules go with it (cascade)
_INSERT_POLICY = "INSERT INTO account_policies (site, default_rule, source) VALUES (%s, %s, %s)"
_INSERT_RULE = (
    "INSERT INTO account_rules (site, subject_kind, subject, account, account_like, source)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class Replaced:
    """What storing a site's policy did."""

    policy: Policy
    changed: bool  # False: the stored policy was the same (nothing written)
    previous_rules: int | None  # None: the site had no policy


def _rule_rows(policy: Policy, source: str) -> list[tuple[Any, ...]]:
    from batchacct.config_files import glob_to_like

    return [
        (
            policy.site,
            r.kind,
            r.subject,
            r.account,
            glob_to_like(r.account) if is_pattern(r.account) else None,
            source,
        )
        for r in policy.rules
    ]


def _plan(policy: Policy, old_rows: Sequence[tuple[Any, ...]]) -> tuple[bool, int | None]:
    if not old_rows:
        return True, None
    old_default = old_rows[0][0]
    old_rules = {(k, s, a) for _d, k, s, a in old_rows if k is not None}
    new_rules = {(r.kind, r.subject, r.account) for r in policy.rules}
    return (old_default != policy.default or old_rules != new_rules), len(old_rules)


def store_policy(conn: psycopg.Connection[Any], policy: Policy, *, source: str) -> Replaced:
    """Replace the site's policy with ``policy`` in one transaction (all of it, or nothing).

    An identical policy writes nothing (``changed`` false). Job records are not touched.
    """
    policy = policy.checked()
    with conn.transaction(), conn.cursor() as cur:
        old_rows = cur.execute(_OLD, (policy.site,)).fetchall()
        changed, previous = _plan(policy, old_rows)
        if changed:
            cur.execute(_DELETE, (policy.site,))
            cur.execute(_INSERT_POLICY, (policy.site, policy.default, source))
            cur.executemany(_INSERT_RULE, _rule_rows(policy, source))
    return Replaced(policy, changed, previous)


async def store_policy_async(
    conn: psycopg.AsyncConnection[Any], policy: Policy, *, source: str
) -> Replaced:
    """:func:`store_policy` on an asynchronous connection (the API)."""
    policy = policy.checked()
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(_OLD, (policy.site,))
        old_rows = await cur.fetchall()
        changed, previous = _plan(policy, old_rows)
        if changed:
            await cur.execute(_DELETE, (policy.site,))
            await cur.execute(_INSERT_POLICY, (policy.site, policy.default, source))
            await cur.executemany(_INSERT_RULE, _rule_rows(policy, source))
    return Replaced(policy, changed, previous)


# Every policy (or one site's) with its rules, ready for :func:`policies_from_rows`.
LIST = """
SELECT p.site, p.default_rule, p.source, p.created_at, r.subject_kind, r.subject, r.account
FROM account_policies p LEFT JOIN account_rules r ON r.site = p.site
WHERE %(site)s::text IS NULL OR p.site = %(site)s
ORDER BY p.site, r.id
"""


def policies_from_rows(rows: Iterable[Sequence[Any]]) -> list[Policy]:
    """Rows of :data:`LIST` as policies, in order."""
    found: dict[str, tuple[str, str, datetime, list[Rule]]] = {}
    for site, default, source, created_at, kind, subject, account in rows:
        entry = found.setdefault(site, (default, source, created_at, []))
        if kind is not None:
            entry[3].append(Rule(kind, subject, account))
    return [
        Policy(site, default, tuple(rules), source, created_at)
        for site, (default, source, created_at, rules) in found.items()
    ]


def list_policies(conn: psycopg.Connection[Any], site: str | None = None) -> list[Policy]:
    return policies_from_rows(conn.execute(LIST, {"site": site}).fetchall())


# What one submission check needs: the site's default and the rules of the user and the group.
CHECK = """
SELECT p.default_rule, r.subject_kind, r.subject, r.account
FROM account_policies p
LEFT JOIN account_rules r ON r.site = p.site
    AND ((r.subject_kind = 'user' AND r.subject = %(user)s)
         OR (r.subject_kind = 'group' AND r.subject = %(group)s))
WHERE p.site = %(site)s
ORDER BY r.id
"""


def policy_from_check(site: str, rows: Sequence[Sequence[Any]]) -> Policy | None:
    """The part of a site's policy :data:`CHECK` read (None: the site has no policy)."""
    if not rows:
        return None
    rules = tuple(Rule(k, s, a) for _d, k, s, a in rows if k is not None)
    return Policy(site, rows[0][0], rules)


# --- Validating job records ---------------------------------------------------------------------


def validity_sql(job: Mapping[str, str], any_policy: bool = True) -> str:
    """A ``LEFT JOIN LATERAL ... av`` giving a job's ``av.account_valid`` (NULL: no policy at the
    job's site, or no account), by the rules of the module docstring.

    ``job`` maps site, local_user_id, local_user_group and account to SQL expressions of the
    query it goes into. Its cost per job is constant: one primary-key probe of the site's policy
    (and nothing more when the site has none), then one index probe each for the rules of the
    user and of the group.
    """
    if not any_policy:  # no site has a policy: nothing to look up (the joiner asks per batch)
        return "LEFT JOIN LATERAL (SELECT NULL::boolean AS account_valid) av ON true"
    site, account = job["site"], job["account"]

    def rules_of(kind: str, subject: str) -> str:
        return (
            "SELECT r0.account, r0.account_like FROM account_rules r0"
            f" WHERE r0.site = p.site AND r0.subject_kind = '{kind}' AND r0.subject = {subject}"
        )

    return f"""
    LEFT JOIN LATERAL (
        SELECT CASE WHEN r.allowed THEN true WHEN r.listed THEN false
                    ELSE p.default_rule = 'allow' END AS account_valid
        FROM account_policies p
        CROSS JOIN LATERAL (
            SELECT COALESCE(bool_or(r1.account = {account}
                                    OR {account} LIKE r1.account_like), false) AS allowed,
                   count(*) > 0 AS listed
            FROM ({rules_of("user", job["local_user_id"])}
                  UNION ALL
                  {rules_of("group", job["local_user_group"])}) r1
        ) r
        WHERE p.site = {site} AND {account} <> ''
    ) av ON true"""


_RECORD_JOB = {
    "site": "j.site",
    "local_user_id": "j.local_user_id",
    "local_user_group": "j.local_user_group",
    "account": "j.account",
}

# One batch: the records whose account_valid changes get the new value. update_seq is kept:
# validity is not part of what is published.
_REVALIDATE = rewrite_batch_sql(validity_sql(_RECORD_JOB), {"account_valid": "av.account_valid"})


def revalidate(
    conn: psycopg.Connection[Any],
    since: datetime,
    site: str | None = None,
    *,
    batch_rows: int = 50_000,
    progress: Callable[[datetime, int], None] | None = None,
) -> int:
    """Apply the stored policies again to every job record that ended at or after ``since`` (at
    ``site``, or every site). Returns how many records changed; a second run changes none.

    Set-based, oldest first, in transactions of about ``batch_rows`` records (by end time, as
    :func:`batchacct.benchmarks.renormalise`), writing only the records whose validity changes.
    """
    batch_sql = _REVALIDATE.format(site_filter="AND j.site = %(site)s" if site is not None else "")
    return in_end_time_batches(
        conn, batch_sql, since, site, batch_rows=batch_rows, progress=progress
    )


# Stored job records whose account is not allowed, by site (the partial index's rows).
INVALID_BY_SITE = """
SELECT site, account, local_user_id, local_user_group, count(*) AS jobs,
       min(end_time) AS first_end_time, max(end_time) AS last_end_time
FROM job_records
WHERE account_valid = false AND (%(site)s::text IS NULL OR site = %(site)s)
GROUP BY site, account, local_user_id, local_user_group
ORDER BY site, account, local_user_id, local_user_group
"""
