"""``batchacct``: the umbrella command (stack, migrate, parse, demo, token)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from batchacct import db, stack
from batchacct.errors import Rejection
from batchacct.parsers import FORMATS, ParserConfig, make_parser, parse_lines
from batchacct.records import as_dict
from batchacct.settings import CommonSettings, SettingsError, batchacct_home, load_settings


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def cmd_parse(args: argparse.Namespace) -> int:
    try:
        tz = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"error: unknown time zone {args.timezone!r}", file=sys.stderr)
        return 2
    parser = make_parser(args.format, ParserConfig(args.site, args.machine_name, tz))
    out = sys.stdout
    status = 0
    for path in args.files:
        from batchacct.files import compression_of, open_content

        try:
            stream = open_content(path, compression_of(path))
        except OSError as err:
            print(f"error: cannot read {path}: {err.strerror}", file=sys.stderr)
            status = 1
            continue
        with stream:
            for _line_no, result in parse_lines(parser, stream, str(path)):
                if result is None:
                    continue
                if isinstance(result, Rejection):
                    obj: dict[str, Any] = {
                        "kind": "rejected",
                        "file": result.file,
                        "line": result.line,
                        "reason": result.reason,
                        "detail": result.detail,
                        "raw": result.raw,
                    }
                else:
                    obj = {"kind": result.kind, **{k: _iso(v) for k, v in as_dict(result).items()}}
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return status


def cmd_stack(args: argparse.Namespace) -> int:
    home = batchacct_home()
    if args.action == "up":
        info = stack.up(home)
        print(f"stack up in {info.home}")
        print(f"  Kafka:      {info.bootstrap_servers}")
        print(f"  PostgreSQL: {info.database_url}")
        print(f'  settings:   {info.home / "stack.env"}  (eval "$(batchacct stack env)")')
    elif args.action == "down":
        stopped = stack.down(home)
        print(
            ", ".join(f"{k}: {'stopped' if v else 'was not running'}" for k, v in stopped.items())
        )
    elif args.action == "status":
        for key, value in stack.status(home).items():
            print(f"{key}: {value}")
    else:
        values = stack.read_env(home)
        if not values:
            print(f"error: no running stack in {home}; run 'batchacct stack up'", file=sys.stderr)
            return 1
        for key, value in values.items():
            print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    settings = load_settings(CommonSettings)
    applied = db.migrate(settings.database_dsn)
    print(f"applied: {', '.join(applied)}" if applied else "schema up to date")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from batchacct.tokens import create_token

    settings = load_settings(CommonSettings)
    print(create_token(settings.database_dsn, args.name, args.scope, replace=args.replace))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from batchacct.demo_run import run_demo

    return run_demo(jobs=args.jobs, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batchacct", description="Batch-job accounting.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("stack", help="the embedded broker and PostgreSQL for one machine")
    s.add_argument("action", choices=["up", "down", "status", "env"])
    s.set_defaults(func=cmd_stack)

    m = sub.add_parser("migrate", help="apply database migrations")
    m.set_defaults(func=cmd_migrate)

    pa = sub.add_parser("parse", help="print what batchacct makes of accounting files (JSON lines)")
    pa.add_argument("--format", required=True, choices=FORMATS)
    pa.add_argument("--site", default="SITE")
    pa.add_argument("--machine-name", default="")
    pa.add_argument("--timezone", default="UTC")
    pa.add_argument("files", nargs="+", type=Path, metavar="FILE")
    pa.set_defaults(func=cmd_parse)

    t = sub.add_parser("token", help="create an API bearer token (printed once)")
    t.add_argument("--name", required=True)
    t.add_argument("--scope", action="append", choices=["read", "admin"], default=None)
    t.add_argument("--replace", action="store_true", help="replace a token of the same name")
    t.set_defaults(func=cmd_token)

    d = sub.add_parser("demo", help="a synthetic site through the whole pipeline")
    d.add_argument("--jobs", type=int, default=20000)
    d.add_argument("--seed", type=int, default=1)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "scope", "") is None:
        args.scope = ["read"]
    try:
        code = args.func(args)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except (db.DatabaseUnavailable, stack.StackError) as err:
        print(f"error: {err}", file=sys.stderr)
        code = 1
    raise SystemExit(code)
