"""Account policies on the real PostgreSQL: the joiner's ``account_valid`` (jobs through
:class:`JoinStore`), revalidation, ``batchacct accounts load``, the validator against the
database, and the API routes."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from batchacct import accounts
from batchacct.accounts import Policy, Rule
from batchacct.cli import main
from batchacct.join import JoinStore
from batchacct.validate_account import ALLOWED, NOT_ALLOWED, UNAVAILABLE, run
from batchacct_api.app import create_app
from batchacct_api.settings import ApiSettings

from .conftest import Env
from .test_benchmarks import END, SITE, batch_event, ce_event

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*install `httpx2`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

POLICY = Policy(
    SITE,
    "deny",
    (
        Rule("user", "alice", "atlas-prod"),
        Rule("user", "alice", "atlas-user-*"),
        Rule("group", "cms", "cms_?"),
    ),
)


def job(job_id: str, user: str, group: str, account: str | None, **kw: Any) -> dict[str, Any]:
    event = batch_event(job_id, **kw)
    event.update(local_user_id=user, local_user_group=group, account=account)
    return event


# (job id, user, group, account, expected account_valid under POLICY)
JOBS = [
    ("1", "alice", "atlas", "atlas-prod", True),  # user rule
    ("2", "alice", "atlas", "atlas-user-7", True),  # user glob
    ("3", "alice", "atlas", "lhcb", False),  # listed user, other account
    ("4", "bob", "cms", "cms_1", True),  # group glob
    ("5", "bob", "cms", "cmsx1", False),  # _ is no wildcard: listed group, no match
    ("6", "carol", "lhcb", "lhcb", False),  # unlisted: default deny
    ("7", "carol", "lhcb", None, None),  # no account
    ("8", "carol", "lhcb", "", None),  # empty account = none
]


@pytest.fixture
def conn(env: Env) -> Iterator[psycopg.Connection]:
    with env.connect() as c:
        yield c


def validity(conn: psycopg.Connection, site: str = SITE) -> dict[str, bool | None]:
    rows = conn.execute(
        "SELECT local_job_id, account_valid FROM job_records WHERE site = %s", (site,)
    ).fetchall()
    return {job_id: valid for job_id, valid in rows}


def join_jobs(
    env: Env, events: list[dict[str, Any]], ce: list[dict[str, Any]] | None = None
) -> Any:
    with psycopg.connect(env.database_url) as jconn:
        return JoinStore(jconn).apply(events, ce or [])


def test_joiner_flags_accounts_by_the_policy(env: Env, conn: psycopg.Connection) -> None:
    accounts.store_policy(conn, POLICY, source="test")
    # Another site without a policy: NULL whatever the account.
    other = [job("x", "alice", "atlas", "lhcb", site="OTHER")]
    outcome = join_jobs(env, [job(j, u, g, a) for j, u, g, a, _ in JOBS] + other)
    assert validity(conn) == {j: expected for j, _u, _g, _a, expected in JOBS}
    assert validity(conn, "OTHER") == {"x": None}
    assert outcome.account_invalid == {SITE: 3}
    # The upgrade to grid keeps the flag, and counts nothing new.
    outcome = join_jobs(env, [], [ce_event("3")])
    assert validity(conn)["3"] is False
    assert outcome.counts["upgraded"] == 1 and not outcome.account_invalid


def test_default_allow_and_policy_replacement(env: Env, conn: psycopg.Connection) -> None:
    allow = Policy(SITE, "allow", POLICY.rules)
    replaced = accounts.store_policy(conn, allow, source="test")
    assert (replaced.changed, replaced.previous_rules) == (True, None)
    join_jobs(env, [job(j, u, g, a) for j, u, g, a, _ in JOBS])
    found = validity(conn)
    assert (found["6"], found["3"], found["1"]) == (True, False, True)
    # The same policy again writes nothing; a replacement drops the old rules.
    assert not accounts.store_policy(conn, allow, source="test").changed
    replaced = accounts.store_policy(conn, Policy(SITE, "deny", ()), source="test2")
    assert (replaced.changed, replaced.previous_rules) == (True, 3)
    assert accounts.list_policies(conn) == [Policy(SITE, "deny", ())]


def test_revalidate_applies_a_changed_policy_once(env_vars: Env, conn: psycopg.Connection) -> None:
    env = env_vars
    join_jobs(env, [job(j, u, g, a) for j, u, g, a, _ in JOBS])
    assert set(validity(conn).values()) == {None}  # no policy yet
    seq_before = conn.execute("SELECT sum(update_seq) FROM job_records").fetchone()
    accounts.store_policy(conn, POLICY, source="test")
    since = END.replace(day=1)
    assert accounts.revalidate(conn, since, batch_rows=2) == 6  # 2 stay NULL: no account
    assert validity(conn) == {j: expected for j, _u, _g, _a, expected in JOBS}
    assert accounts.revalidate(conn, since) == 0  # idempotent
    # Validity is not published: the records' update sequence is kept.
    assert conn.execute("SELECT sum(update_seq) FROM job_records").fetchone() == seq_before
    # Removing the site's policy: back to NULL, through the CLI.
    conn.execute("DELETE FROM account_policies WHERE site = %s", (SITE,))
    with pytest.raises(SystemExit) as exit_:
        main(["accounts", "revalidate", "--since", "2026-01-01", "--site", SITE])
    assert exit_.value.code == 0
    assert set(validity(conn).values()) == {None}


POLICY_FILE = f"""\
site: {SITE}
default: deny
rules:
  - user: alice
    accounts: [atlas-prod]
"""


def test_cli_load_is_all_or_nothing(
    env_vars: Env, conn: psycopg.Connection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(POLICY_FILE)
    bad.write_text(POLICY_FILE + "  - group: cms\n    accounts: []\n")
    for argv, code in (
        (["accounts", "load", str(bad)], 1),
        (["accounts", "load", str(good), "--dry-run"], 0),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == code
    assert "rule 2 (group cms): 'accounts' must be a non-empty list" in capsys.readouterr().err
    assert accounts.list_policies(conn) == []
    with pytest.raises(SystemExit):
        main(["accounts", "load", str(good)])
    [stored] = accounts.list_policies(conn)
    assert stored.rules == (Rule("user", "alice", "atlas-prod"),)
    assert stored.source == f"yaml:{good}"


def test_validator_against_the_database(
    env: Env, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BATCHACCT_DATABASE_URL", env.database_url)
    monkeypatch.delenv("BATCHACCT_SITE", raising=False)
    assert run(["alice", "atlas", "atlas-prod", "--site", SITE]) == UNAVAILABLE  # no policy
    accounts.store_policy(conn, POLICY, source="test")
    for _j, user, group, account, expected in JOBS:
        if account:
            code = run([user, group, account, "--site", SITE])
            assert code == (ALLOWED if expected else NOT_ALLOWED), (user, group, account)
    monkeypatch.setenv("BATCHACCT_SITE", SITE)
    assert run(["bob", "cms", "cms_9"]) == ALLOWED
    # The database down: unavailable, quickly, naming no password.
    monkeypatch.setenv("BATCHACCT_DATABASE_URL", "postgresql://u:secret@127.0.0.1:1/none")
    assert run(["bob", "cms", "cms_9", "--timeout", "1"]) == UNAVAILABLE


# --- API ----------------------------------------------------------------------------------------

URL = "/api/v1/accounts/policy"
BODY = {
    "site": SITE,
    "default": "deny",
    "rules": [
        {"user": "alice", "accounts": ["atlas-prod", "atlas-user-*"]},
        {"group": "cms", "accounts": ["cms_?"]},
    ],
}


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=env.database_url))) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_auth(client: TestClient, read_token: str, admin_token: str) -> None:
    assert client.get(URL).status_code == 401
    assert client.put(URL, json=BODY).status_code == 401
    assert client.put(URL, json=BODY, headers=bearer("nonsense")).status_code == 401
    assert client.put(URL, json=BODY, headers=bearer(read_token)).status_code == 403
    assert client.get(URL, headers=bearer(read_token)).json() == {"items": []}
    put = client.put(URL, json=BODY, headers=bearer(admin_token))
    assert put.status_code == 200, put.text
    assert put.json()["changed"] is True and put.json()["rules"] == 3
    again = client.put(URL, json=BODY, headers=bearer(admin_token)).json()
    assert again["changed"] is False and again["jobs_revalidated"] is False
    [item] = client.get(URL, headers=bearer(read_token), params={"site": SITE}).json()["items"]
    assert {k: item[k] for k in ("site", "default")} == {"site": SITE, "default": "deny"}
    assert [{k: v for k, v in r.items() if v is not None} for r in item["rules"]] == BODY["rules"]
    assert item["source"] == "api:test-admin"
    assert client.get(URL, headers=bearer(read_token), params={"site": "X"}).json() == {"items": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], None),
        ("garbage", None),
        ({**BODY, "default": "maybe"}, None),
        ({**BODY, "extra": 1}, None),
        ({**BODY, "site": ""}, None),
        ({**BODY, "rules": [{"user": "a", "accounts": []}]}, None),
        ({**BODY, "rules": [{"user": "a", "group": "g", "accounts": ["x"]}]}, "exactly one"),
        ({**BODY, "rules": [{"accounts": ["x"]}]}, "exactly one"),
        (
            {**BODY, "rules": [{"user": "a", "accounts": ["x"]}, {"user": "a", "accounts": ["y"]}]},
            "rules 1 and 2 both list user 'a'",
        ),
        ({**BODY, "rules": [{"user": "a", "accounts": ["x\u0000"]}]}, "NUL"),
        ({**BODY, "rules": [{"user": "a", "accounts": [5]}]}, None),
    ],
)
def test_api_refuses_garbage(
    client: TestClient, admin_token: str, conn: psycopg.Connection, body: Any, message: str | None
) -> None:
    answer = client.put(URL, json=body, headers=bearer(admin_token))
    assert answer.status_code == 422, answer.text
    if message:
        assert message in answer.text
    assert accounts.list_policies(conn) == []
