"""``batchacct``: the umbrella command (stack, migrate, parse, files, quarantine, replay, demo, token)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from batchacct import db, extras, quarantine, stack
from batchacct.collector import CollectorConfig
from batchacct.collector_cli import (
    NEEDS_MACHINE_NAME,
    UsageError,
    add_parser_options,
    check_timezone_given,
    parse_utc,
    parser_config,
)
from batchacct.errors import Rejection
from batchacct.files import compression_of, open_content
from batchacct.job_filters import JobFilters, ParameterError
from batchacct.kafka import TrackedProducer
from batchacct.parsers import FORMATS, ParserConfig, make_parser, parse_lines
from batchacct.quarantine import QuarantineFilter
from batchacct.records import Record, as_dict
from batchacct.settings import CommonSettings, SettingsError, batchacct_home, load_settings


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _console() -> Console:
    # Piped output is read by grep and scripts: wide lines rather than wrapped cells.
    return Console() if sys.stdout.isatty() else Console(width=250)


def _records_of(result: Record | tuple[Record, ...]) -> tuple[Record, ...]:
    return result if isinstance(result, tuple) else (result,)


def _parser_config_or_exit(args: argparse.Namespace) -> ParserConfig:
    try:
        return parser_config(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_parse(args: argparse.Namespace) -> int:
    parser = make_parser(args.format, _parser_config_or_exit(args))
    out = sys.stdout
    status = 0
    for path in args.files:
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
                    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
                    continue
                for record in _records_of(result):
                    obj = {"kind": record.kind, **{k: _iso(v) for k, v in as_dict(record).items()}}
                    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return status


def cmd_files(args: argparse.Namespace) -> int:
    settings = load_settings(CommonSettings)
    where = []
    params: list[Any] = []
    for column, value in (
        ("site", args.site),
        ("state", args.state),
        ("source_format", args.format),
    ):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    with db.connect(settings.database_dsn, autocommit=True) as conn:
        rows = conn.execute(
            'SELECT source_format, site, path, state, "offset", size, lines, records, rejected,'
            f" last_seen, detail FROM collector_files {clause}"
            " ORDER BY site, source_format, path LIMIT %s",
            [*params, args.limit],
        ).fetchall()
    table = Table(title=f"files ({len(rows)} shown)")
    for name in (
        "format",
        "site",
        "path",
        "state",
        "read",
        "lines",
        "records",
        "rejected",
        "last seen",
        "detail",
    ):
        table.add_column(
            name,
            justify="right" if name in ("lines", "records", "rejected") else "left",
            overflow="fold",
        )
    for fmt, site, path, state, offset, size, lines, records, rejected, last_seen, detail in rows:
        table.add_row(
            fmt,
            site,
            path,
            state,
            f"{offset}/{size}",
            str(lines),
            str(records),
            str(rejected),
            _iso(last_seen),
            detail or "",
        )
    _console().print(table)
    return 0


def _quarantine_filter(args: argparse.Namespace) -> QuarantineFilter:
    return QuarantineFilter(
        reason=args.reason,
        site=args.filter_site,
        source_format=args.format,
        since=args.since,
        ids=tuple(args.id or ()),
    )


def cmd_quarantine(args: argparse.Namespace) -> int:
    settings = load_settings(CommonSettings)
    console = _console()
    with db.connect(settings.database_dsn, autocommit=True) as conn:
        if args.action == "show":
            if not args.id:
                print("error: quarantine show needs --id", file=sys.stderr)
                return 2
            for entry_id in args.id:
                row = quarantine.show_entry(conn, entry_id)
                if row is None:
                    print(f"error: no quarantine entry {entry_id}", file=sys.stderr)
                    return 1
                for key, value in row.items():
                    console.print(
                        f"[bold]{key}[/bold]: {_iso(value)}", highlight=False, markup=True
                    )
                console.print()
            return 0
        where = _quarantine_filter(args)
        if args.action == "list":
            rows = quarantine.list_entries(conn, where, args.limit)
            counts = quarantine.count_by_reason(conn, where)
            table = Table(
                title="quarantine: " + (", ".join(f"{r} {n}" for r, n in counts.items()) or "empty")
            )
            for name in ("id", "format", "site", "file", "line", "reason", "detail", "received"):
                table.add_column(name, overflow="fold")
            for row in rows:
                table.add_row(
                    str(row["id"]),
                    row["source_format"],
                    row["site"],
                    row["file"],
                    str(row["line"]),
                    row["reason"],
                    row["detail"],
                    _iso(row["received_at"]),
                )
            console.print(table)
            return 0
        base = _parser_config_or_exit(args)

        def config_for(site: str, machine_name: str) -> ParserConfig:
            return dataclasses.replace(
                base, site=site, machine_name=args.machine_name or machine_name
            )

        producer = TrackedProducer(settings.kafka_client_config())
        outcome = quarantine.retry(settings, conn, producer, where, config_for)
    print(f"released: {outcome.released} (records sent: {outcome.records})")
    if outcome.still_rejected:
        print(
            "still rejected: "
            + ", ".join(f"{r} {n}" for r, n in sorted(outcome.still_rejected.items()))
        )
    if outcome.not_retryable:
        print(f"not retryable (not a parser format): {outcome.not_retryable}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from batchacct import replay

    if args.format in NEEDS_MACHINE_NAME and not args.machine_name:
        print(f"error: --machine-name is required for {args.format}", file=sys.stderr)
        return 2
    try:
        check_timezone_given(args.format, args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    parser = make_parser(args.format, _parser_config_or_exit(args))
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"error: no such file or directory: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(
            "replay" if not args.dry_run else "dry run", total=replay.total_bytes(args.paths)
        )

        def advance(n: int) -> None:
            progress.advance(task, n)

        if args.dry_run:
            counted = replay.dry_run(
                parser, replay.expand_paths(args.paths), args.since, args.until, advance
            )
        else:
            settings = load_settings(CommonSettings)
            config = CollectorConfig(
                args.format,
                args.site,
                args.machine_name,
                settle_seconds=0,
                since=args.since,
                until=args.until,
                batch_lines=args.batch_lines,
            )
            with db.connect(settings.database_dsn, autocommit=True) as conn:
                stats = replay.replay(settings, config, parser, conn, args.paths, advance)
    if args.dry_run:
        print(
            f"dry run: {counted.files} files, {counted.lines} lines, {counted.records} records,"
            f" {counted.ignored} ignored, {counted.outside_window} outside the window,"
            f" {sum(counted.rejected.values())} rejected"
        )
        for reason, n in sorted(counted.rejected.items()):
            print(f"  {reason}: {n}")
        for example in counted.examples:
            print(f"  {example.file}:{example.line}: {example.reason}: {example.detail}")
        return 0
    print(
        f"replayed: {stats.files_read} files, {stats.lines} lines, {stats.records} records sent,"
        f" {stats.ignored} ignored, {stats.outside_window} outside the window,"
        f" {stats.rejected} rejected"
    )
    for reason, n in sorted(stats.rejected_by_reason.items()):
        print(f"  {reason}: {n}")
    return 0


def _month_arg(text: str) -> tuple[int, int]:
    from batchacct.publisher import month_text

    try:
        return month_text(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a month (YYYY-MM): {text!r}") from None


def cmd_publish(args: argparse.Namespace) -> int:
    from batchacct import kafka, publisher

    if not (args.dry_run or args.outgoing or args.kafka):
        print("error: give --outgoing DIR and/or --kafka, or --dry-run", file=sys.stderr)
        return 2
    settings = load_settings(CommonSettings)
    year, month = args.month
    options = publisher.PublishOptions(
        version=args.message_version,
        include_vos=tuple(args.include_vo or ()),
        exclude_vos=tuple(args.exclude_vo or ()),
        local_jobs=args.local_jobs,
    )
    kafka_output = None
    try:
        if args.kafka and not args.dry_run:
            kafka.check_broker(settings.kafka_client_config())
            kafka_output = publisher.KafkaOutput(
                settings.kafka_client_config(), settings.topic("summaries")
            )
        outputs = publisher.Outputs(
            outgoing=None if args.dry_run else args.outgoing,
            kafka=kafka_output,
            dry_run=sys.stdout if args.dry_run else None,
        )
        with db.connect(settings.database_dsn, autocommit=True) as conn:
            result = publisher.publish_month(conn, args.site, year, month, outputs, options=options)
    except publisher.PublishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (kafka.BrokerUnavailable, kafka.DeliveryFailed, OSError) as err:
        print(f"error: {err} (nothing recorded)", file=sys.stderr)
        return 1
    # A dry run's messages are on stdout: the report goes to stderr.
    out = sys.stderr if args.dry_run else sys.stdout
    note = " (dry run: nothing queued or recorded)" if args.dry_run else ""
    print(f"run {result.run_id}: {args.site} {year}-{month:02d}{note}", file=out)
    for line in result.report():
        print(f"  {line}", file=out)
    return 1 if result.rejected else 0


def cmd_publications(args: argparse.Namespace) -> int:
    settings = load_settings(CommonSettings)
    where = []
    params: list[Any] = []
    if args.site is not None:
        where.append("%s = ANY(sites)")
        params.append(args.site)
    if args.status is not None:
        where.append("status = %s")
        params.append(args.status)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    with db.connect(settings.database_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, queued_at, run_id, kind, destination, message_id, records, bytes, sites,"
            f" months, status, error FROM publications {clause} ORDER BY id DESC LIMIT %s",
            [*params, args.limit],
        ).fetchall()
    table = Table(title=f"publications ({len(rows)} shown, newest first)")
    for name in (
        "id",
        "queued",
        "run",
        "kind",
        "to",
        "message id",
        "records",
        "bytes",
        "sites",
        "months",
        "status",
        "error",
    ):
        table.add_column(
            name,
            justify="right" if name in ("id", "records", "bytes") else "left",
            overflow="fold",
        )
    for (
        row_id,
        queued_at,
        run_id,
        kind,
        destination,
        message_id,
        records,
        size,
        sites,
        months,
        status,
        error,
    ) in rows:
        table.add_row(
            str(row_id),
            _iso(queued_at),
            run_id,
            kind,
            destination,
            message_id or "",
            str(records),
            str(size),
            ", ".join(sites),
            ", ".join(months),
            status if status == "queued" else f"[red]{status}[/red]",
            error or "",
        )
    _console().print(table)
    return 0


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


def _benchmark_table(title: str, with_outcome: bool = False) -> Table:
    table = Table(title=title)
    columns = ["site", "scope", "name", "type", "value", "host factor ref", "valid from"]
    for name in ["#", *columns, "outcome"] if with_outcome else columns:
        table.add_column(name, justify="right" if name in ("#", "value") else "left")
    return table


def cmd_benchmarks(args: argparse.Namespace) -> int:
    from batchacct import benchmarks

    console = _console()
    if args.action == "load":
        try:
            entries = benchmarks.load_file(args.file)
        except benchmarks.BenchmarkError as err:
            print(f"error: {err} (nothing stored)", file=sys.stderr)
            return 1
        settings = load_settings(CommonSettings)
        with db.connect(settings.database_dsn, autocommit=True) as conn:
            try:
                with conn.transaction(force_rollback=args.dry_run):
                    stored = benchmarks.store_benchmarks(
                        conn, entries, source=f"yaml:{args.file}", now=datetime.now(UTC)
                    )
            except benchmarks.BenchmarkError as err:
                print(f"error: {args.file}: {err} (nothing stored)", file=sys.stderr)
                return 1
        title = f"{args.file}" + (": dry run, nothing stored" if args.dry_run else "")
        table = _benchmark_table(title, with_outcome=True)
        for number, entry in enumerate(stored, 1):
            bm = entry.benchmark
            reference = bm.host_factor_reference
            table.add_row(
                str(number),
                bm.site,
                bm.scope,
                bm.scope_value,
                bm.benchmark_type,
                f"{bm.value:g}",
                "" if reference is None else f"{reference:g}",
                _iso(entry.valid_from) if entry.valid_from else "",
                entry.outcome,
            )
        console.print(table)
        since = benchmarks.renormalise_since(stored)
        if since is not None and not args.dry_run:
            print(
                "Jobs already stored keep their values: run 'batchacct renormalise --since"
                f" {since.astimezone(UTC).date().isoformat()}' to apply the new versions to them."
            )
        return 0
    settings = load_settings(CommonSettings)
    with db.connect(settings.database_dsn, autocommit=True) as conn:
        if args.action == "list":
            query, params = benchmarks.list_query(site=args.site, all_versions=args.all_versions)
            rows = conn.execute(query, params).fetchall()
            table = _benchmark_table(
                f"benchmarks ({'every version' if args.all_versions else 'current versions'})"
            )
            table.add_column("valid until")
            table.add_column("source", overflow="fold")
            for row in rows:
                item = dict(zip(benchmarks.BENCHMARK_COLUMNS, row, strict=True))
                reference = item["host_factor_reference"]
                table.add_row(
                    item["site"],
                    item["scope"],
                    item["scope_value"],
                    item["benchmark_type"],
                    f"{item['value']:g}",
                    "" if reference is None else f"{reference:g}",
                    _iso(item["valid_from"]),
                    _iso(item["valid_until"]) if item["valid_until"] else "",
                    item["source"],
                )
            console.print(table)
            return 0
        missing = benchmarks.missing(conn, args.site)
    if not missing:
        print("every stored job has a benchmark")
        return 0
    table = Table(title=f"jobs without a benchmark: {sum(row[3] for row in missing)}")
    for name in ("site", "submit host (CE)", "machine", "jobs", "first end", "last end"):
        table.add_column(name, justify="right" if name == "jobs" else "left", overflow="fold")
    for site, submit_host, machine_name, jobs, first_end, last_end in missing:
        table.add_row(
            site, submit_host or "", machine_name, str(jobs), _iso(first_end), _iso(last_end)
        )
    console.print(table)
    return 0


def cmd_renormalise(args: argparse.Namespace) -> int:
    from batchacct import benchmarks

    settings = load_settings(CommonSettings)
    where = f"ended since {_iso(args.since)}" + (f" at {args.site}" if args.site else "")
    with (
        db.connect(settings.database_dsn, autocommit=True) as conn,
        Console(stderr=True).status(f"renormalising jobs {where}") as status,
    ):

        def progress(reached: datetime, changed: int) -> None:
            status.update(f"renormalising jobs {where}: up to {_iso(reached)}, {changed} changed")

        changed = benchmarks.renormalise(
            conn, args.since, args.site, batch_rows=args.batch_rows, progress=progress
        )
    print(f"renormalised: {changed} job records changed ({where})")
    return 0


def add_job_filter_options(parser: argparse.ArgumentParser) -> None:
    """The options of :class:`JobFilters` (``batchacct report`` and ``batchacct plot``)."""
    parser.add_argument("--site", help="only this site")
    parser.add_argument("--user", help="only this local user")
    parser.add_argument("--vo", help="only this VO")
    parser.add_argument("--queue", help="only this queue")
    parser.add_argument("--account", help="only this account (project)")
    parser.add_argument("--host", help="only jobs with this submit host, machine or execution host")
    parser.add_argument("--since", type=parse_utc, help="jobs that ended at or after (UTC)")
    parser.add_argument("--until", type=parse_utc, help="jobs that ended before (UTC)")
    parser.add_argument(
        "--invalid-only",
        action="store_true",
        help="only jobs whose account failed validation (account_valid = false)",
    )


def job_filters_from(args: argparse.Namespace) -> JobFilters:
    """The filters of :func:`add_job_filter_options`' options (not checked yet)."""
    return JobFilters(**{f.name: getattr(args, f.name) for f in dataclasses.fields(JobFilters)})


def _bad_parameter(err: ParameterError) -> int:
    print(f"error: --{err.param.replace('_', '-')}: {err.message}", file=sys.stderr)
    return 2


def cmd_report(args: argparse.Namespace) -> int:
    from batchacct import reports

    try:
        request = reports.ReportRequest(
            report_type=args.report_type,
            sections=reports.parse_sections(args.by),
            filters=job_filters_from(args),
            limit=args.limit,
        ).checked()
    except ParameterError as err:
        return _bad_parameter(err)
    settings = load_settings(CommonSettings)
    with db.connect(settings.database_dsn, autocommit=True) as conn:
        report = reports.run(conn, request)
    if args.output == "json":
        print(report.model_dump_json(indent=2))
    elif args.output == "csv":
        sys.stdout.write(reports.to_csv(report))
    else:
        console = _console()
        for table in reports.tables(report):
            console.print(table)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from batchacct import charts, plotting

    if args.all == (args.name is not None):
        print("error: give a chart NAME or --all", file=sys.stderr)
        return 2
    if args.all and args.output is not None:
        print(
            "error: --all writes one file per chart: give --output-dir, not --output",
            file=sys.stderr,
        )
        return 2
    names = list(charts.CHARTS) if args.all else [args.name]
    try:
        filters = job_filters_from(args).checked()
    except ParameterError as err:
        return _bad_parameter(err)
    if args.output is not None:
        targets = {args.name: args.output}
    else:
        targets = {name: args.output_dir / f"{name}.png" for name in names}
    for target in targets.values():
        if not target.parent.is_dir():
            print(f"error: no such directory: {target.parent}", file=sys.stderr)
            return 2
    settings = load_settings(CommonSettings)
    with db.connect(settings.database_dsn, autocommit=True) as conn:
        computed = {name: charts.compute(conn, name, filters) for name in names}
    for name, chart in computed.items():
        if args.json:
            print(json.dumps(chart))
            continue
        try:
            written = plotting.render_png(chart, targets[name])
        except OSError as err:
            print(f"error: cannot write {targets[name]}: {err.strerror}", file=sys.stderr)
            return 1
        print(f"{written}: {chart['title']} ({'; '.join(chart['notes'])})")
    return 0


def cmd_accounts(args: argparse.Namespace) -> int:
    from batchacct import accounts

    if args.action == "load":
        try:
            policy = accounts.load_file(args.file)
        except accounts.AccountPolicyError as err:
            print(f"error: {err} (nothing stored)", file=sys.stderr)
            return 1
        settings = load_settings(CommonSettings)
        with (
            db.connect(settings.database_dsn, autocommit=True) as conn,
            conn.transaction(force_rollback=args.dry_run),
        ):
            replaced = accounts.store_policy(conn, policy, source=f"yaml:{args.file}")
        users = len({r.subject for r in policy.rules if r.kind == "user"})
        groups = len({r.subject for r in policy.rules if r.kind == "group"})
        verb = "would replace" if args.dry_run else "replaced"
        if not replaced.changed:
            print(f"{args.file}: site {policy.site}'s policy is already this one (nothing changed)")
            return 0
        before = (
            "no policy"
            if replaced.previous_rules is None
            else f"{replaced.previous_rules} rules before"
        )
        print(
            f"{args.file}: {verb} site {policy.site}'s account policy: default {policy.default},"
            f" {len(policy.rules)} rules for {users} users and {groups} groups ({before})"
        )
        if not args.dry_run:
            print(
                "Job records already stored keep their account_valid: run 'batchacct accounts"
                " revalidate --since YYYY-MM-DD' to apply the new policy to them."
            )
        return 0
    settings = load_settings(CommonSettings)
    if args.action == "revalidate":
        where = f"ended since {_iso(args.since)}" + (f" at {args.site}" if args.site else "")
        with (
            db.connect(settings.database_dsn, autocommit=True) as conn,
            Console(stderr=True).status(f"revalidating accounts of jobs {where}") as status,
        ):

            def progress(reached: datetime, changed: int) -> None:
                status.update(
                    f"revalidating accounts of jobs {where}: up to {_iso(reached)},"
                    f" {changed} changed"
                )

            changed = accounts.revalidate(
                conn, args.since, args.site, batch_rows=args.batch_rows, progress=progress
            )
        print(f"revalidated: {changed} job records changed ({where})")
        return 0
    with db.connect(settings.database_dsn, autocommit=True) as conn:
        if args.action == "list":
            policies = accounts.list_policies(conn, args.site)
            table = Table(title="account policies")
            for name in ("site", "default", "subject", "accounts", "source"):
                table.add_column(name, overflow="fold")
            for policy in policies:
                document = policy.as_document()
                rows = document["rules"] or [{}]
                for rule in rows:
                    kind = "user" if "user" in rule else "group" if "group" in rule else ""
                    table.add_row(
                        policy.site,
                        policy.default,
                        f"{kind} {rule[kind]}" if kind else "(no rules)",
                        ", ".join(rule.get("accounts", [])),
                        policy.source,
                    )
            _console().print(table)
            return 0
        invalid = conn.execute(accounts.INVALID_BY_SITE, {"site": args.site}).fetchall()
    if not invalid:
        print("no stored job record charges an account it may not")
        return 0
    table = Table(title=f"jobs charging an account not allowed: {sum(r[4] for r in invalid)}")
    for name in ("site", "account", "user", "group", "jobs", "first end", "last end"):
        table.add_column(name, justify="right" if name == "jobs" else "left", overflow="fold")
    for site, account, user, group, jobs, first_end, last_end in invalid:
        table.add_row(
            site, account, user or "", group or "", str(jobs), _iso(first_end), _iso(last_end)
        )
    _console().print(table)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from batchacct.demo_run import run_demo

    return run_demo(jobs=args.jobs, seed=args.seed)


def _chart_names() -> tuple[str, ...]:
    from batchacct.charts import CHARTS

    return tuple(CHARTS)


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
    add_parser_options(pa, None, site_required=False)
    pa.add_argument("files", nargs="+", type=Path, metavar="FILE")
    pa.set_defaults(func=cmd_parse)

    f = sub.add_parser("files", help="the collectors' file registry")
    f.add_argument("--site")
    f.add_argument("--state", choices=["active", "done", "quarantined"])
    f.add_argument("--format", choices=FORMATS)
    f.add_argument("--limit", type=int, default=200)
    f.set_defaults(func=cmd_files)

    pub = sub.add_parser(
        "publish", help="send one month of one site to APEL again (summaries and sync records)"
    )
    pub.add_argument("--site", required=True)
    pub.add_argument("--month", required=True, type=_month_arg, help="YYYY-MM (UTC)")
    pub.add_argument("--outgoing", type=Path, metavar="DIR", help="the SSM outgoing queue (dirq)")
    pub.add_argument("--kafka", action="store_true", help="also produce to <prefix>summaries")
    pub.add_argument(
        "--dry-run", action="store_true", help="print the messages; queue and record nothing"
    )
    pub.add_argument(
        "--message-version",
        choices=["v0.2", "v0.4", "normalised-v0.3", "normalised-v0.4"],
        help="summary message version (default v0.2)",
    )
    pub_vos = pub.add_mutually_exclusive_group()
    pub_vos.add_argument("--include-vo", action="append", help="only this VO (repeatable)")
    pub_vos.add_argument("--exclude-vo", action="append", help="not this VO (repeatable)")
    pub.add_argument("--local-jobs", action="store_true", help="send local (non-grid) jobs too")
    pub.set_defaults(func=cmd_publish)

    pl = sub.add_parser("publications", help="the publication log: what was sent to APEL")
    pl.add_argument("--site")
    pl.add_argument("--status", choices=["queued", "rejected"])
    pl.add_argument("--limit", type=int, default=50)
    pl.set_defaults(func=cmd_publications)

    q = sub.add_parser("quarantine", help="rejected lines: list, show, retry after a fix")
    q.add_argument("action", choices=["list", "show", "retry"])
    q.add_argument("--reason", help="only entries rejected for this reason")
    q.add_argument("--since", type=parse_utc, help="only entries received at or after this time")
    q.add_argument("--format", choices=FORMATS, help="only entries of this format")
    q.add_argument("--id", type=int, action="append", help="only this entry (repeatable)")
    q.add_argument("--limit", type=int, default=100, help="list: at most this many rows")
    add_parser_options(q, None, site_required=False)
    q.set_defaults(func=cmd_quarantine)

    r = sub.add_parser("replay", help="read files again from the start through the collector path")
    r.add_argument("--format", required=True, choices=FORMATS)
    add_parser_options(r, None)
    r.add_argument("--since", type=parse_utc, help="only jobs that ended at or after this time")
    r.add_argument("--until", type=parse_utc, help="only jobs that ended before this time")
    r.add_argument("--dry-run", action="store_true", help="only parse, and count by reason")
    r.add_argument("--batch-lines", type=int, default=20000)
    r.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    r.set_defaults(func=cmd_replay)

    t = sub.add_parser("token", help="create an API bearer token (printed once)")
    t.add_argument("--name", required=True)
    t.add_argument("--scope", action="append", choices=["read", "admin"], default=None)
    t.add_argument("--replace", action="store_true", help="replace a token of the same name")
    t.set_defaults(func=cmd_token)

    b = sub.add_parser("benchmarks", help="machine benchmarks: load a YAML file, list, missing")
    b_sub = b.add_subparsers(dest="action", required=True)
    b_load = b_sub.add_parser("load", help="store the benchmarks of a YAML file (all or none)")
    b_load.add_argument("file", type=Path, metavar="FILE")
    b_load.add_argument("--dry-run", action="store_true", help="show what would change, store none")
    b_list = b_sub.add_parser("list", help="the stored benchmarks")
    b_list.add_argument("--site")
    b_list.add_argument("--all-versions", action="store_true", help="every version, not only now")
    b_missing = b_sub.add_parser("missing", help="stored jobs without a benchmark")
    b_missing.add_argument("--site")
    b.set_defaults(func=cmd_benchmarks)

    n = sub.add_parser(
        "renormalise", help="apply the stored benchmarks again to jobs that ended since a date"
    )
    n.add_argument("--since", type=parse_utc, required=True, help="YYYY-MM-DD (UTC)")
    n.add_argument("--site", help="only this site")
    n.add_argument("--batch-rows", type=int, default=50_000, help=argparse.SUPPRESS)
    n.set_defaults(func=cmd_renormalise)

    rp = sub.add_parser(
        "report",
        help="accounting reports (llsummary): short, long, extended, throughput",
        description="Accounting reports over the job records, like LoadLeveler's llsummary."
        " Short: jobs, CPU, wall and normalised CPU hours (HS06-hours) and CPU efficiency per"
        " section, with a TOTAL row. Long: one row per job (seconds). Extended: long plus each"
        " job's usage per execution host; only the host list is known, so a job's wall and CPU"
        " time are split evenly across its host list entries. Throughput: jobs, jobs per hour,"
        " turnaround (end - submit) and wait (start - submit) in seconds, from the jobs that"
        " have a submit time (the others are counted). Times are UTC.",
    )
    rp_type = rp.add_mutually_exclusive_group()
    for report_type in ("short", "long", "extended", "throughput"):
        rp_type.add_argument(
            f"--{report_type}",
            dest="report_type",
            action="store_const",
            const=report_type,
            help=f"the {report_type} report" + (" (default)" if report_type == "short" else ""),
        )
    rp.set_defaults(report_type="short")
    rp.add_argument(
        "--by",
        metavar="SECTIONS",
        help="short and throughput: comma-separated sections, one table each: user, group, vo,"
        " account, queue, submit_host, machine, day, week (ISO), month (UTC; default:"
        " user,queue,group,account)",
    )
    add_job_filter_options(rp)
    rp.add_argument(
        "--limit", type=int, default=1000, help="long and extended: at most this many jobs"
    )
    rp_out = rp.add_mutually_exclusive_group()
    rp_out.add_argument("--csv", dest="output", action="store_const", const="csv")
    rp_out.add_argument("--json", dest="output", action="store_const", const="json")
    rp.set_defaults(output="table", func=cmd_report)

    pt = sub.add_parser(
        "plot",
        help="draw a chart of the job records as a PNG file (matplotlib)",
        description="Charts of the job records (times UTC, jobs with end_time in [since,"
        " until)): cpu_hours_by_vo and normalised_hours_by_vo (HS06-hours) per day, week or"
        " month of end time, stacked by VO; wall_time_distribution and wait_time_distribution"
        " (start - submit) histograms; jobs_started_and_running; cpu_efficiency_by_vo"
        " (CPU / (wall x processors)).",
    )
    pt.add_argument(
        "name",
        nargs="?",
        choices=list(_chart_names()),
        metavar="NAME",
        help=f"the chart: {', '.join(_chart_names())}",
    )
    pt.add_argument("--all", action="store_true", help="every chart, one file each in --output-dir")
    pt.add_argument("--output", type=Path, metavar="FILE.png", help="default: NAME.png")
    pt.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        default=Path("."),
        help="where --all (or NAME without --output) writes NAME.png (default: .)",
    )
    pt.add_argument("--json", action="store_true", help="print the chart data, draw nothing")
    add_job_filter_options(pt)
    pt.set_defaults(func=cmd_plot)

    ac = sub.add_parser(
        "accounts", help="account validation: load a policy, list, invalid jobs, revalidate"
    )
    ac_sub = ac.add_subparsers(dest="action", required=True)
    ac_load = ac_sub.add_parser("load", help="replace a site's account policy by a YAML file")
    ac_load.add_argument("file", type=Path, metavar="FILE")
    ac_load.add_argument(
        "--dry-run", action="store_true", help="show what would change, store none"
    )
    ac_list = ac_sub.add_parser("list", help="the stored account policies")
    ac_list.add_argument("--site")
    ac_invalid = ac_sub.add_parser("invalid", help="stored jobs charging an account not allowed")
    ac_invalid.add_argument("--site")
    ac_re = ac_sub.add_parser(
        "revalidate", help="apply the stored policies again to jobs that ended since a date"
    )
    ac_re.add_argument("--since", type=parse_utc, required=True, help="YYYY-MM-DD (UTC)")
    ac_re.add_argument("--site", help="only this site")
    ac_re.add_argument("--batch-rows", type=int, default=50_000, help=argparse.SUPPRESS)
    ac.set_defaults(func=cmd_accounts)

    d = sub.add_parser("demo", help="a synthetic site through the whole pipeline")
    d.add_argument("--jobs", type=int, default=20000)
    d.add_argument("--seed", type=int, default=1)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "scope", "") is None:
        args.scope = ["read"]
    if args.command == "quarantine":
        # --site filters the quarantine; as a parser option it would mean "read as this site".
        args.filter_site = args.site if args.site != "SITE" else None
    try:
        code = args.func(args)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except (db.DatabaseUnavailable, stack.StackError, extras.MissingExtra) as err:
        print(f"error: {err}", file=sys.stderr)
        code = 1
    raise SystemExit(code)
