"""API bearer tokens: stored as SHA-256 hashes with their scopes."""

from __future__ import annotations

import hashlib
import secrets

from batchacct import db

SCOPES = ("read", "admin")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    dsn: str, name: str, scopes: list[str], *, token: str | None = None, replace: bool = False
) -> str:
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(sorted(unknown))}")
    token = token or "ba_" + secrets.token_urlsafe(32)
    with db.connect(dsn) as conn:
        if replace:
            conn.execute("DELETE FROM api_tokens WHERE name = %s", (name,))
        conn.execute(
            "INSERT INTO api_tokens (token_sha256, name, scopes) VALUES (%s, %s, %s)",
            (token_hash(token), name, scopes),
        )
    return token


def lookup_token(dsn: str, token: str) -> list[str] | None:
    with db.connect(dsn) as conn:
        row = conn.execute(
            "SELECT scopes FROM api_tokens WHERE token_sha256 = %s", (token_hash(token),)
        ).fetchone()
    return list(row[0]) if row else None
