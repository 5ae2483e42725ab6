"""The PostgreSQL server the prediction log's tests run against: real, unprivileged, loopback only, password
only, and its data survives a stop and a start (the log's recovery tests rely on that)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tooling.infra.postgres import PostgresServer, postgres_server

pytestmark = pytest.mark.slow


@pytest.fixture
def engine(postgres: PostgresServer) -> Iterator[sa.Engine]:
    # pre-ping: the pool's connections die with the server, as an app's do.
    engine = sa.create_engine(postgres.url, pool_pre_ping=True)
    yield engine
    engine.dispose()


def test_data_survives_a_stop_and_a_start_on_the_same_port(
    postgres: PostgresServer, engine: sa.Engine
) -> None:
    port, first_pid = postgres.port, postgres.pid
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE fixture_probe (id integer PRIMARY KEY, label text)"))
        connection.execute(sa.text("INSERT INTO fixture_probe VALUES (1, 'setosa')"))
    try:
        postgres.stop()
        assert postgres.pid is None
        with pytest.raises(sa.exc.OperationalError):
            engine.connect()
        postgres.start()
        assert postgres.port == port
        assert postgres.pid not in (None, first_pid)
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id, label FROM fixture_probe")).all()
        assert [tuple(row) for row in rows] == [(1, "setosa")]
    finally:
        postgres.start()
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS fixture_probe"))


def test_the_superuser_needs_its_password(postgres: PostgresServer) -> None:
    for password in (None, "", "postgres", postgres.password):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(
                host=postgres.host, port=postgres.port, user=postgres.superuser, password=password,
                dbname="postgres", connect_timeout=5,
            )  # fmt: skip


def test_the_app_role_needs_its_password_and_is_no_superuser(
    postgres: PostgresServer, engine: sa.Engine
) -> None:
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(
            host=postgres.host, port=postgres.port, user=postgres.user, password="wrong",
            dbname=postgres.database, connect_timeout=5,
        )  # fmt: skip
    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar_one()
            is False
        )


def test_listens_on_loopback_only_without_a_unix_socket(postgres: PostgresServer) -> None:
    # postmaster.pid records what the running server listens on: its 5th line the unix socket directory
    # (empty: none), its 6th the TCP addresses.
    lines = (postgres.data_dir / "postmaster.pid").read_text().splitlines()
    assert int(lines[0]) == postgres.pid
    assert int(lines[3]) == postgres.port
    assert lines[4] == ""
    assert lines[5] == "127.0.0.1"
    assert postgres.url.startswith(f"postgresql+psycopg://{postgres.user}:{postgres.password}@127.0.0.1:")


def test_runs_as_an_unprivileged_user_that_owns_the_data(postgres: PostgresServer) -> None:
    assert postgres.pid is not None
    uids = next(
        line
        for line in Path(f"/proc/{postgres.pid}/status").read_text().splitlines()
        if line.startswith("Uid:")
    )
    real, effective = (int(uid) for uid in uids.split()[1:3])
    assert real != 0
    assert effective != 0
    assert postgres.data_dir.stat().st_uid == effective


def test_nothing_outlives_the_context(tmp_path: Path) -> None:
    with postgres_server(tmp_path / "postgres") as server:
        pid = server.pid
        assert pid is not None
        data_dir = server.data_dir
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    if os.geteuid() == 0:
        assert not data_dir.exists()
