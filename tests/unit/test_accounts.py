"""Account policies without a database: semantics, policy files, and the validator's exit codes
with ``--policy FILE``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from batchacct import accounts
from batchacct.accounts import AccountPolicyFileError, Policy, Rule
from batchacct.validate_account import ALLOWED, NOT_ALLOWED, UNAVAILABLE, USAGE, run

POLICY_YAML = """\
site: SITE-A
default: deny
rules:
  - user: alice
    accounts: [atlas-prod, "atlas-user-*"]
  - group: cms
    accounts: ["cms-?"]
"""


def policy(default: str = "deny") -> Policy:
    return Policy(
        "SITE-A",
        default,
        (
            Rule("user", "alice", "atlas-prod"),
            Rule("user", "alice", "atlas-user-*"),
            Rule("group", "cms", "cms-?"),
        ),
    )


@pytest.mark.parametrize(
    ("user", "group", "account", "default", "allowed"),
    [
        ("alice", "atlas", "atlas-prod", "deny", True),  # user rule, exact
        ("alice", "atlas", "atlas-user-x", "deny", True),  # user rule, glob
        ("alice", "atlas", "atlas-user-", "deny", True),  # * matches nothing too
        ("alice", "atlas", "lhcb", "deny", False),  # listed user, account not listed
        ("alice", "atlas", "lhcb", "allow", False),  # the default is for unlisted subjects only
        ("bob", "cms", "cms-1", "deny", True),  # group rule, ? is one character
        ("bob", "cms", "cms-12", "deny", False),
        ("bob", "cms", "cms-1", "allow", True),
        ("alice", "cms", "cms-1", "deny", True),  # the group's rules count for a listed user
        ("carol", "lhcb", "anything", "deny", False),  # unlisted: the default
        ("carol", "lhcb", "anything", "allow", True),
        ("alice", "atlas", "ATLAS-PROD", "deny", False),  # names are case-sensitive
        ("alice", "atlas", "atlas_prod", "deny", False),  # _ and % are not wildcards
    ],
)
def test_decide(user: str, group: str, account: str, default: str, allowed: bool) -> None:
    decision = policy(default).decide(user, group, account)
    assert decision.allowed is allowed, decision.reason
    assert decision.reason.startswith("allowed" if allowed else "not allowed")


def test_glob_has_only_star_and_question_mark() -> None:
    rule = Rule("user", "u", "a.[b]%_*")
    assert rule.matches("a.[b]%_xyz")
    assert not rule.matches("aX[b]%_xyz")


def test_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_YAML)
    loaded = accounts.load_file(path)
    assert loaded == policy()
    assert loaded.as_document()["rules"] == [
        {"user": "alice", "accounts": ["atlas-prod", "atlas-user-*"]},
        {"group": "cms", "accounts": ["cms-?"]},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("site: [unclosed", "not valid YAML: line 1"),
        ("- a\n- b\n", "expected a mapping"),
        ("site: S\ndefault: maybe\n", "default 'maybe' is not one of allow, deny"),
        ("site: S\n", "'default' must be text, found nothing"),
        ("site: 12\ndefault: deny\n", "'site' must be text, found a number"),
        ("site: S\ndefault: deny\nusers: []\n", "unknown key(s) 'users'"),
        ("site: S\ndefault: deny\nsite: T\n", "given twice"),
        ("site: S\ndefault: deny\nrules: {a: b}\n", "'rules' must be a list"),
        ("site: S\ndefault: deny\nrules: [x]\n", "rule 1: expected a mapping"),
        (
            "site: S\ndefault: deny\nrules:\n  - {user: a, group: b, accounts: [x]}\n",
            "rule 1 (user a): give exactly one of 'user' and 'group'",
        ),
        (
            "site: S\ndefault: deny\nrules:\n  - {user: a, accounts: x}\n",
            "rule 1 (user a): 'accounts' must be a non-empty list",
        ),
        (
            "site: S\ndefault: deny\nrules:\n  - {user: a, accounts: [x]}\n"
            "  - {group: g, accounts: [123]}\n",
            "rule 2 (group g): account 123 must be text",
        ),
        (
            "site: S\ndefault: deny\nrules:\n  - {user: a, accounts: [x]}\n"
            "  - {user: a, accounts: [y]}\n",
            "rules 1 and 2 both list user 'a'",
        ),
        (
            "site: S\ndefault: deny\nrules:\n  - {user: a, accounts: [x, x]}\n",
            "user 'a' may charge 'x' is given twice",
        ),
        (
            "site: S\ndefault: deny\nrules:\n  - {user: a, acounts: [x]}\n",
            "unknown key(s) 'acounts'",
        ),
        ("site: ' '\ndefault: deny\n", "the site name is empty"),
    ],
)
def test_garbage_files_are_refused_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(AccountPolicyFileError) as err:
        accounts.parse_policy(text, "p.yaml")
    assert str(err.value).startswith("p.yaml: ")
    assert message in str(err.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(AccountPolicyFileError, match="cannot read it"):
        accounts.load_file(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(AccountPolicyFileError, match="not UTF-8"):
        accounts.load_file(binary)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_YAML)
    return path


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (["alice", "atlas", "atlas-prod"], ALLOWED, ""),
        (["alice", "atlas", "lhcb"], NOT_ALLOWED, "not allowed: user 'alice' may not charge"),
        (["carol", "lhcb", "x"], NOT_ALLOWED, "default is deny"),
        (["carol", "lhcb", ""], NOT_ALLOWED, "default is deny"),
        (["alice", "atlas", "atlas-prod", "--site", "SITE-A"], ALLOWED, ""),
        (["alice", "atlas", "atlas-prod", "--site", "OTHER"], UNAVAILABLE, "not of OTHER"),
        (["alice", "atlas", "atlas-prod", "-v"], ALLOWED, "allowed: user 'alice' may charge"),
        (["alice", "atlas"], USAGE, "the following arguments are required"),
        (["alice", "atlas", "x", "--bogus"], USAGE, "unrecognized arguments"),
        (["", "atlas", "x"], USAGE, "must not be empty"),
    ],
)
def test_validator_with_a_policy_file(
    policy_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    code: int,
    stderr: str,
) -> None:
    monkeypatch.delenv("BATCHACCT_SITE", raising=False)
    try:
        result = run([*args, "--policy", str(policy_file)])
    except SystemExit as exit_:
        result = int(exit_.code or 0)
    assert result == code
    err = capsys.readouterr().err
    assert stderr in err if stderr else err == ""


def test_validator_policy_unavailable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: S\ndefault: nope\n")
    assert run(["a", "g", "x", "--policy", str(bad)]) == UNAVAILABLE
    assert "account policy unavailable" in capsys.readouterr().err
    assert run(["a", "g", "x", "--policy", str(tmp_path / "none.yaml")]) == UNAVAILABLE
    # No site and no file: a usage error; a site but no database anywhere: unavailable.
    monkeypatch.delenv("BATCHACCT_SITE", raising=False)
    monkeypatch.delenv("BATCHACCT_DATABASE_URL", raising=False)
    monkeypatch.setenv("BATCHACCT_HOME", str(tmp_path / "nowhere"))
    assert run(["a", "g", "x"]) == USAGE
    assert run(["a", "g", "x", "--site", "S"]) == UNAVAILABLE
    assert "BATCHACCT_DATABASE_URL is not set" in capsys.readouterr().err


def test_validator_process_exit_codes_and_light_imports(policy_file: Path) -> None:
    """As a hook runs it: a process; and it must not load the settings or Kafka machinery."""
    code = (
        "import sys\n"
        "from batchacct.validate_account import run\n"
        "status = run(sys.argv[1:])\n"
        "heavy = [m for m in ('pydantic', 'confluent_kafka', 'fastavro', 'rich', 'psycopg_pool')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "raise SystemExit(status)\n"
    )
    for args, expected in (
        (["alice", "atlas", "atlas-prod"], ALLOWED),
        (["alice", "atlas", "lhcb"], NOT_ALLOWED),
    ):
        done = subprocess.run(
            [sys.executable, "-c", code, *args, "--policy", str(policy_file)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert done.returncode == expected, done.stderr
