"""A real PostgreSQL server of the tests' own, in a temporary folder.

Fixtures (tests/team/conftest.py makes them available to every test under tests/team):

- `pg_server` (session): a `PgServer` started once for the session: `initdb` in a fresh
  folder, then `pg_ctl -w -t 30 start` listening on 127.0.0.1 only, on a free port, with its
  Unix socket in the same private folder. Stopped (fast mode) at the end of the session.
- `pg_url` (function): a fresh, empty database on that server and its URL without password
  (`postgresql://tracker@127.0.0.1:PORT/t_N`), owned by the role `tracker` (no superuser,
  the privileges docs/team-server.md asks for: CREATE on the database).

`PgServer` also offers what the fault tests need: `stop()` / `start()` / `restart()`, the
`url(...)` of any database as any role, `create_database()`, `create_role(name, password)`
for the password tests (a role made with a password must log in with it over TCP: see
`_HBA`), and `admin()` (a superuser connection through the socket, autocommit).

Binaries come from PATH or Debian's `/usr/lib/postgresql/<version>/bin` (newest first).
When the tests run as root, the server runs as the unprivileged user `nobody` (through
`setpriv`), in a folder chowned to it: PostgreSQL refuses to run as root. Every wait is
bounded. The fixture skips, with the reason and the tail of the server's log, only when no
binaries are found or the server truly cannot start.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

#: The role the tests' databases belong to (a member with the documented privileges).
ROLE = "tracker"
#: Roles in this group must log in with a password (scram) over TCP; everyone else is
#: trusted, so that ordinary tests need no password anywhere.
PASSWORD_GROUP = "password_required"
_HBA = f"""\
local all all trust
host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
"""
_TIMEOUT = 30  # seconds, for every start, stop and admin command


def find_binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres (PATH first, then Debian's)."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).resolve().parent] if found else []
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgServer:
    """One PostgreSQL cluster in a private temporary folder (see the module docstring)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="agent-tracker-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "server.log"
        self.host = "127.0.0.1"
        self.port = 0
        #: Server settings: for tests, speed over durability (no fsync); the benchmark sets
        #: its own (durable) ones.
        self.options = (
            "-F -c max_connections=60 -c shared_buffers=64MB -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        self._names = itertools.count(1)
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses root: run it as `nobody`
            user = pwd.getpwnam("nobody")
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                raise RuntimeError("running as root and `setpriv` is missing")
            self._as = [
                setpriv,
                f"--reuid={user.pw_uid}",
                f"--regid={user.pw_gid}",
                "--clear-groups",
            ]
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.socket_dir.mkdir()
        if self._as:
            os.chown(self.socket_dir, pwd.getpwnam("nobody").pw_uid, -1)

    # -- running the server ------------------------------------------------------------

    def _run(self, *args: str, timeout: float = _TIMEOUT) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return subprocess.run(
            [*self._as, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=self.root,
            check=False,
        )

    def init(self) -> None:
        done = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {(done.stderr or done.stdout).strip()[-800:]}")
        (self.data / "pg_hba.conf").write_text(_HBA)

    def start(self, attempts: int = 3) -> None:
        """Start (on the same port as before, or a free one the first time)."""
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = free_port()
            options = f"-h {self.host} -p {self.port} -k {self.socket_dir} {self.options}"
            done = self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                str(_TIMEOUT),
                "-o",
                options,
                "start",
                timeout=_TIMEOUT + 10,
            )
            if done.returncode == 0:
                return
            self.stop(mode="immediate")
        raise RuntimeError(f"the server did not start: {self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast` rolls back open transactions; `immediate` is a crash)."""
        if not (self.data / "postmaster.pid").exists():
            return
        done = self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            mode,
            "-w",
            "-t",
            str(_TIMEOUT),
            "stop",
            timeout=_TIMEOUT + 10,
        )
        if done.returncode != 0 and (self.data / "postmaster.pid").exists():
            self._kill()

    def _kill(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(1)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def cleanup(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases and roles -------------------------------------------------------------

    def url(self, dbname: str, user: str = ROLE, **params: str) -> str:
        """A libpq URL (no password: use PGPASSWORD or ~/.pgpass for password roles)."""
        query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
        base = f"postgresql://{quote(user)}@{self.host}:{self.port}/{quote(dbname)}"
        return f"{base}?{query}" if query else base

    def admin(self, dbname: str = "postgres") -> Any:
        """A superuser connection through the socket (autocommit); psycopg, imported here."""
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=_TIMEOUT,
        )

    def create_role(self, name: str, password: str | None = None, *, group: bool = False) -> None:
        """A login role (with `password`: it must use it over TCP). Idempotent."""
        from psycopg import sql

        with self.admin() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            if not exists:
                kind = sql.SQL("NOLOGIN") if group else sql.SQL("LOGIN")
                conn.execute(sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(name), kind))
            if password is not None:
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(name), sql.Literal(password)
                    )
                )
                conn.execute(
                    sql.SQL("GRANT {} TO {}").format(
                        sql.Identifier(PASSWORD_GROUP), sql.Identifier(name)
                    )
                )

    def create_database(self, owner: str = ROLE, name: str | None = None) -> str:
        """A fresh database owned by `owner`; returns its name."""
        from psycopg import sql

        name = name or f"t_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(owner)
                )
            )
            # As docs/team-server.md sets it up: members connect and create in the database.
            conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name))
            )
        return name

    def connections(self, dbname: str) -> int:
        """How many sessions are connected to `dbname` (to wait for killed clients)."""
        with self.admin() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (dbname,)
            ).fetchone()
        return int(row[0])


def start_server() -> PgServer:
    """A started server, or pytest.skip with the reason when none can run here."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install -e '.[dev]' (it brings the team extra)")
    bin_dir = find_binaries()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in PATH or "
            "/usr/lib/postgresql/*/bin: apt-get install postgresql (.ci/run does)"
        )
    server = PgServer(bin_dir)
    try:
        server.init()
        server.start()
        server.create_role(PASSWORD_GROUP, group=True)
        server.create_role(ROLE)
    except (RuntimeError, OSError, subprocess.TimeoutExpired, KeyError) as exc:
        tail = server.log_tail(600)
        server.cleanup()
        pytest.skip(f"cannot start a PostgreSQL server: {exc}; log: {tail}")
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh empty database owned by `tracker`, and its URL (no password)."""
    if not (pg_server.data / "postmaster.pid").exists():
        pg_server.start()  # a test that stopped the server and failed before restarting it
    return pg_server.url(pg_server.create_database())
