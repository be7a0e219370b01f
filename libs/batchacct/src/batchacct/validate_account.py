"""``batchacct-validate-account USER GROUP ACCOUNT``: may this user or group charge this account?

LoadLeveler's ``llacctval`` for LSF (esub), SLURM (cli_filter / job_submit) and HTCondor
submission hooks. Exit codes: 0 allowed, 1 not allowed, 2 usage error, 3 policy unavailable (no
database, no policy for the site, an unreadable policy file). The reason goes to stderr.

It runs at every job submission, so it starts fast: only the standard library, plus psycopg
for one short query (or PyYAML for ``--policy FILE``); no settings framework, no logging setup.
The database is ``BATCHACCT_DATABASE_URL`` or, when unset, the embedded stack's ``stack.env``
in ``$BATCHACCT_HOME`` (as every batchacct command).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from batchacct import accounts

ALLOWED, NOT_ALLOWED, USAGE, UNAVAILABLE = 0, 1, 2, 3
STACK_ENV_FILE = "stack.env"  # as batchacct.settings (not imported: it loads pydantic)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="batchacct-validate-account",
        description="Exit 0 if USER (in GROUP) may charge ACCOUNT at the site, 1 if not;"
        " 2: usage error, 3: policy unavailable. The reason is printed on stderr.",
    )
    p.add_argument("user", metavar="USER")
    p.add_argument("group", metavar="GROUP", help="the user's (primary) Unix group")
    p.add_argument("account", metavar="ACCOUNT", help="LSF project, SLURM account, AccountingGroup")
    p.add_argument("--site", help="the site (default: $BATCHACCT_SITE, or the policy file's site)")
    p.add_argument(
        "--policy", type=Path, metavar="FILE", help="a policy YAML file instead of the database"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds to wait for the database before giving up with exit 3 (default 5)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print the reason when allowed too")
    return p


def _database_url() -> str | None:
    url = os.environ.get("BATCHACCT_DATABASE_URL")
    if url:
        return url
    home = Path(os.environ.get("BATCHACCT_HOME", ".batchacct"))
    try:
        lines = (home / STACK_ENV_FILE).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "BATCHACCT_DATABASE_URL" and value.strip():
            return value.strip()
    return None


class Unavailable(Exception):
    """The policy cannot be read; the message says why."""


def _from_file(
    path: Path, site: str | None, user: str, group: str, account: str
) -> accounts.Decision:
    try:
        policy = accounts.load_file(path)
    except accounts.AccountPolicyError as err:
        raise Unavailable(str(err)) from None
    if site is not None and site != policy.site:
        raise Unavailable(f"{path} is the policy of site {policy.site}, not of {site}")
    return policy.decide(user, group, account)


def _from_database(
    site: str, user: str, group: str, account: str, timeout: float
) -> accounts.Decision:
    url = _database_url()
    if url is None:
        raise Unavailable(
            "BATCHACCT_DATABASE_URL is not set and no running stack was found; give --policy FILE"
        )
    import psycopg

    millis = max(int(timeout * 1000), 1)
    try:
        with psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=max(int(timeout + 0.999), 1),
            options=f"-c statement_timeout={millis}",
            application_name="batchacct-validate-account",
        ) as conn:
            rows = conn.execute(
                accounts.CHECK, {"site": site, "user": user, "group": group}
            ).fetchall()
    except psycopg.Error as err:
        text = str(err).strip().splitlines()
        # The first line only: it names the host, never the password.
        raise Unavailable(f"cannot read the account policy: {text[0] if text else err}") from None
    policy = accounts.policy_from_check(site, rows)
    if policy is None:
        raise Unavailable(f"site {site} has no account policy (batchacct accounts load FILE)")
    return policy.decide(user, group, account)


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("user", "group", "account"):
        if "\x00" in getattr(args, name):
            sys.stderr.write(f"error: {name.upper()} contains a NUL character\n")
            return USAGE
    if not args.user or not args.group:
        sys.stderr.write("error: USER and GROUP must not be empty\n")
        return USAGE
    site = args.site or os.environ.get("BATCHACCT_SITE") or None
    try:
        if args.policy is not None:
            decision = _from_file(args.policy, site, args.user, args.group, args.account)
        elif site is None:
            sys.stderr.write("error: give --site (or set BATCHACCT_SITE), or --policy FILE\n")
            return USAGE
        else:
            decision = _from_database(site, args.user, args.group, args.account, args.timeout)
    except Unavailable as err:
        sys.stderr.write(f"account policy unavailable: {err}\n")
        return UNAVAILABLE
    if not decision.allowed or args.verbose:
        sys.stderr.write(f"{decision.reason}\n")
    return ALLOWED if decision.allowed else NOT_ALLOWED


def main(argv: list[str] | None = None) -> None:
    raise SystemExit(run(argv))
