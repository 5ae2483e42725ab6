"""A real PostgreSQL server on loopback for the prediction log's tests: Debian's binaries, unprivileged.

``postgres_server(workdir)`` runs ``initdb`` and then ``postgres`` itself (no ``pg_ctl``: the postmaster is
our child, in its own session, so it is stopped by pid and never outlives the context). The server listens on
127.0.0.1 only, on a free port, with no unix socket at all (nothing in /var/run); every connection, the
superuser's included, needs its scram-sha-256 password. The app gets a database and a role of its own with a
random password, as the prod chart does, and never the superuser.

PostgreSQL refuses to run as root, so under root the server runs as the package's ``postgres`` system user
(``nobody`` when there is none), and its data directory, which it must own, is a private temporary directory:
pytest's ``workdir`` sits under a root-only 0700 directory that the unprivileged user cannot enter. The log
stays in ``workdir`` (the server inherits the open file, so it never needs to reach that path).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from tooling.infra.localstack import LOOPBACK, free_port, stop_process

SUPERUSER = "postgres"
DATABASE = "predictions"
APP_USER = "serving"
UNPRIVILEGED_USERS = ("postgres", "nobody")
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def server_bin_dir() -> Path:
    """Where ``initdb`` and ``postgres`` are: on PATH, else Debian's newest /usr/lib/postgresql/<n>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).resolve().parent
    candidates = [Path(found) for found in glob.glob(DEBIAN_BIN_GLOB) if (Path(found) / "initdb").exists()]
    if not candidates:
        raise FileNotFoundError(
            f"no PostgreSQL server binaries (initdb, postgres) on PATH or in {DEBIAN_BIN_GLOB}:"
            " run `bin/bootstrap postgres`"
        )
    return max(candidates, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else -1)


@dataclass(frozen=True)
class RunAs:
    """The account the server's processes run as; ``None`` fields keep the current one (not root)."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def unprivileged(cls) -> RunAs:
        if os.geteuid() != 0:
            return cls()
        for name in UNPRIVILEGED_USERS:
            try:
                account = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(account.pw_uid, account.pw_gid)
        raise RuntimeError(f"running as root, and none of {UNPRIVILEGED_USERS} exists to run PostgreSQL as")

    @property
    def extra_groups(self) -> list[int] | None:
        """An empty list drops root's supplementary groups too, not only its uid and gid."""
        return None if self.uid is None else []

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


@dataclass
class PostgresServer:
    """One PostgreSQL cluster; ``stop()`` and ``start()`` keep its data and its port."""

    data_dir: Path
    log_path: Path
    port: int
    password: str
    superuser_password: str
    bin_dir: Path
    run_as: RunAs
    host: str = LOOPBACK
    database: str = DATABASE
    user: str = APP_USER
    superuser: str = SUPERUSER
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The app's SQLAlchemy URL (psycopg 3 driver), as ``PREDICTION_LOG_URL`` takes it."""
        return f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while the server runs, else None."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (a no-op while it runs) and return once it accepts connections."""
        if self.pid is not None:
            return
        command = [
            str(self.bin_dir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-c", f"listen_addresses={self.host}",
            # Empty: no unix socket anywhere, so the only way in is TCP on loopback, with a password.
            "-c", "unix_socket_directories=",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=self.run_as.uid,
                group=self.run_as.gid,
                extra_groups=self.run_as.extra_groups,
            )
        try:
            self._wait_until_up(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, grace: float = 30.0) -> None:
        """Fast shutdown (SIGINT): open sessions are closed, a checkpoint is written; a no-op when stopped.

        SIGTERM would be PostgreSQL's "smart" shutdown, which waits for every client (an app's connection
        pool) to disconnect on its own.
        """
        if self._process is not None:
            stop_process(self._process, grace=grace, signum=signal.SIGINT)
            self._process = None

    def _wait_until_up(self, timeout: float) -> None:
        """Until the superuser can log in with its password (the app's role may not exist yet)."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise RuntimeError(f"postgres exited with code {code} during start-up:\n{self.log_tail()}")
            try:
                with self._admin_connection(connect_timeout=2):
                    return
            except psycopg.OperationalError as error:
                last_error = str(error).strip()
            time.sleep(0.2)
        raise TimeoutError(
            f"postgres did not accept connections within {timeout:.0f}s ({last_error}):\n{self.log_tail()}"
        )

    def _admin_connection(
        self, connect_timeout: int = 10, autocommit: bool = False
    ) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.superuser, password=self.superuser_password,
            dbname="postgres", connect_timeout=connect_timeout, autocommit=autocommit,
        )  # fmt: skip

    def _create_app_database(self) -> None:
        """The app's role (LOGIN only, no superuser) and its database, owned by it."""
        with self._admin_connection(autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(self.user), sql.Literal(self.password)
                )
            )
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(self.database), sql.Identifier(self.user)
                )
            )


def _initdb(server: PostgresServer) -> None:
    # The password file lives in the data directory's parent, which only the server's user can read.
    password_file = server.data_dir.parent / "superuser-password"
    password_file.write_text(server.superuser_password + "\n")
    password_file.chmod(0o600)
    server.run_as.own(password_file)
    command = [
        str(server.bin_dir / "initdb"),
        "-D", str(server.data_dir),
        "-U", server.superuser,
        f"--pwfile={password_file}",
        "--auth-host=scram-sha-256",
        "--auth-local=scram-sha-256",
        "--encoding=UTF8",
        "--no-locale",
    ]  # fmt: skip
    try:
        with server.log_path.open("ab") as log:
            result = subprocess.run(
                command,
                cwd=server.data_dir.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
                timeout=120,
                user=server.run_as.uid,
                group=server.run_as.gid,
                extra_groups=server.run_as.extra_groups,
            )
    finally:
        password_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed with code {result.returncode}:\n{server.log_tail()}")


@contextmanager
def postgres_server(workdir: Path, timeout: float = 60.0) -> Iterator[PostgresServer]:
    """A fresh cluster on 127.0.0.1 with the app's database and role; stopped and removed on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    run_as = RunAs.unprivileged()
    # Under root the data lives outside workdir (see the module's docstring); else beside the log.
    private = Path(tempfile.mkdtemp(prefix="postgres-")) if run_as.uid is not None else None
    base = private or workdir
    run_as.own(base)
    data_dir = base / "data"
    data_dir.mkdir(mode=0o700)
    run_as.own(data_dir)
    server = PostgresServer(
        data_dir=data_dir,
        log_path=workdir / "postgres.log",
        port=free_port(),
        password=secrets.token_hex(16),
        superuser_password=secrets.token_hex(16),
        bin_dir=server_bin_dir(),
        run_as=run_as,
    )
    try:
        _initdb(server)
        server.start(timeout)
        server._create_app_database()
        yield server
    finally:
        server.stop()
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
