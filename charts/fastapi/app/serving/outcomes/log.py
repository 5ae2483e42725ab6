"""The prediction log: one SQL table, written in batches, read by feedback and the experiment report.

SQLAlchemy Core speaks to SQLite (the embedded default: a file beside the app's log) and PostgreSQL (shared
by every replica in a cluster); Alembic owns the schema. Every method blocks, so callers run them off the
event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    case,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url

from serving.outcomes.grading import Outcome, encode

DEFAULT_FILE = "predictions.db"
MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works: it only has to be the same in every replica migrating the same PostgreSQL database.
_MIGRATION_LOCK_KEY = 0x5E7_1106

metadata = MetaData()
predictions = Table(
    "predictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    # The same request scored by the other variant in shadow mode: graded by the same label.
    Column("shadow", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("experiment_id", String(128), nullable=False, default=""),
    Column("mode", String(16), nullable=False),
    Column("wanted", String(8), nullable=False),  # what routing chose; differs from variant on a fallback
    Column("variant", String(8), nullable=False),
    Column("version", String(64), nullable=False),
    Column("b_share", Integer, nullable=True),  # % of clients routed to B when the bucket decided; else NULL
    Column("task", String(16), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("prediction", Text, nullable=False),
    Column("features", JSON, nullable=True),
    Column("latency_ms", Float, nullable=False),  # request start to prediction (shadow: its own predict call)
    Column("model_ms", Float, nullable=False),  # the predict call alone, comparable between live and shadow
    Column("label", Text, nullable=True),
    Column("labelled_at", DateTime(timezone=True), nullable=True),
    Column("outcome_n", Integer, nullable=True),
    Column("outcome_sum", Float, nullable=True),
    Column("outcome_sq", Float, nullable=True),
    UniqueConstraint("request_id", "shadow", name="uq_predictions_request"),
    Index("ix_predictions_experiment", "experiment_id", "created_at"),
)


# Requests served by another variant than routing chose (the wanted one was not loaded).
_FALLBACKS = func.sum(case((predictions.c.wanted != predictions.c.variant, 1), else_=0))


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One served (or shadow-scored) request, as the request path hands it to the writer."""

    request_id: str
    created: float  # epoch seconds
    experiment_id: str
    mode: str
    wanted: str
    variant: str
    version: str
    b_share: int | None
    task: str
    prediction: list[Any]
    latency_ms: float
    model_ms: float
    shadow: bool = False
    features: Any = None

    def row(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "shadow": self.shadow,
            "created_at": datetime.fromtimestamp(self.created, UTC),
            "experiment_id": self.experiment_id,
            "mode": self.mode,
            "wanted": self.wanted,
            "variant": self.variant,
            "version": self.version,
            "b_share": self.b_share,
            "task": self.task,
            "rows": len(self.prediction),
            "prediction": encode(self.prediction),
            "features": None if self.features is None else orjson.loads(encode(self.features)),
            "latency_ms": self.latency_ms,
            "model_ms": self.model_ms,
        }


@dataclass(frozen=True)
class LoggedPrediction:
    id: int
    shadow: bool
    variant: str
    version: str
    task: str
    prediction: list[Any]
    label: str | None


def database_url(configured: str | None, log_file: str) -> str:
    """The configured URL, else an SQLite file beside the log file (``./logs`` when logging to stdout)."""
    if configured:
        return configured
    directory = Path(log_file).parent if log_file else Path("logs")
    return f"sqlite:///{directory / DEFAULT_FILE}"


def redacted(url: str) -> str:
    """The URL as logs and errors may show it: never the password."""
    return make_url(url).render_as_string(hide_password=True)


class PredictionLog:
    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self._sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
        if self._sqlite_file:
            Path(self._sqlite_file).parent.mkdir(parents=True, exist_ok=True)
            # Several processes share the file: WAL lets readers and one writer overlap, and a writer that
            # finds the file busy waits instead of failing.
            self.engine: Engine = create_engine(url, connect_args={"timeout": 5})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # A database that does not answer must fail the write quickly, not hold the writer for minutes.
            self.engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 3})

    def migrate(self) -> None:
        """Bring the schema to the newest revision; concurrent replicas take turns."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._migration_lock(), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if not self._sqlite_file:
            yield
            return
        with open(f"{self._sqlite_file}.migrate.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def insert(self, records: Sequence[PredictionRecord]) -> None:
        """Write ``records``; a request id already logged keeps its first record (a client may resend its
        own x-request-id, and one duplicate must not sink the batch it arrived in)."""
        dialect = self.engine.dialect.name
        statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(predictions)
        with self.engine.begin() as connection:
            connection.execute(
                statement.on_conflict_do_nothing(index_elements=["request_id", "shadow"]),
                [record.row() for record in records],
            )

    def find(self, request_id: str) -> list[LoggedPrediction]:
        query = select(
            predictions.c.id, predictions.c.shadow, predictions.c.variant, predictions.c.version,
            predictions.c.task, predictions.c.prediction, predictions.c.label,
        ).where(predictions.c.request_id == request_id)  # fmt: skip
        with self.engine.connect() as connection:
            return [
                LoggedPrediction(
                    row.id,
                    row.shadow,
                    row.variant,
                    row.version,
                    row.task,
                    orjson.loads(row.prediction),
                    row.label,
                )
                for row in connection.execute(query)
            ]

    def set_label(self, row_id: int, label: str, outcome: Outcome) -> bool:
        """Label one row unless it already has a label (the caller then re-reads it); True if it was set."""
        statement = (
            update(predictions)
            .where(and_(predictions.c.id == row_id, predictions.c.label.is_(None)))
            .values(
                label=label,
                labelled_at=datetime.now(UTC),
                outcome_n=outcome.n,
                outcome_sum=outcome.total,
                outcome_sq=outcome.total_sq,
            )
        )
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount == 1

    def label_of(self, row_id: int) -> str | None:
        with self.engine.connect() as connection:
            label: str | None = connection.execute(
                select(predictions.c.label).where(predictions.c.id == row_id)
            ).scalar_one_or_none()
            return label

    # ----------------------------------------------------------------------------------- the experiment

    def variant_totals(self, experiment_id: str, since: datetime | None, *, shadow: bool) -> list[Any]:
        """Per variant: requests, fallbacks, labelled rows and the outcome sums."""
        query = (
            select(
                predictions.c.variant,
                func.count().label("predictions"),
                _FALLBACKS.label("fallbacks"),
                func.coalesce(func.sum(predictions.c.outcome_n), 0).label("n"),
                func.coalesce(func.sum(predictions.c.outcome_sum), 0.0).label("total"),
                func.coalesce(func.sum(predictions.c.outcome_sq), 0.0).label("total_sq"),
            )
            .where(*self._scope(experiment_id, since, shadow))
            .group_by(predictions.c.variant)
        )
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def versions(self, experiment_id: str, since: datetime | None) -> dict[str, list[str]]:
        query = (
            select(predictions.c.variant, predictions.c.version)
            .where(*self._scope(experiment_id, since, False))
            .distinct()
        )
        found: dict[str, list[str]] = {}
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                found.setdefault(row.variant, []).append(row.version)
        return {variant: sorted(versions) for variant, versions in found.items()}

    def latency_quantile(
        self,
        q: float,
        count: int,
        experiment_id: str,
        since: datetime | None,
        *,
        variant: str,
        shadow: bool,
        column: str,
    ) -> float | None:
        """The q-quantile (nearest rank) of a latency column over the variant's ``count`` rows (as counted by
        ``variant_totals``), by ordering in the database."""
        if not count:
            return None
        where = (*self._scope(experiment_id, since, shadow), predictions.c.variant == variant)
        value = predictions.c[column]
        rank = max(math.ceil(q * count) - 1, 0)
        with self.engine.connect() as connection:
            found: float | None = connection.execute(
                select(value).where(*where).order_by(value).offset(rank).limit(1)
            ).scalar_one_or_none()  # None only if rows vanished since they were counted
            return found

    def started_at(self, experiment_id: str) -> datetime | None:
        query = select(func.min(predictions.c.created_at)).where(predictions.c.experiment_id == experiment_id)
        with self.engine.connect() as connection:
            started: datetime | None = connection.execute(query).scalar_one_or_none()
        if started is not None and started.tzinfo is None:  # SQLite keeps no zone; every write is UTC
            started = started.replace(tzinfo=UTC)
        return started

    def assignments(self, experiment_id: str, since: datetime | None) -> list[Any]:
        """Randomized requests per configured B share and routed variant (``wanted``), fallbacks apart."""
        query = (
            select(
                predictions.c.b_share,
                predictions.c.wanted,
                func.count().label("requests"),
                _FALLBACKS.label("fallbacks"),
            )
            .where(*self._scope(experiment_id, since, False), predictions.c.b_share.is_not(None))
            .group_by(predictions.c.b_share, predictions.c.wanted)
        )
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def shadow_agreement(self, experiment_id: str, since: datetime | None) -> tuple[int, int]:
        """(shadow-scored requests, those whose shadow prediction equals the live one)."""
        live, shadow = predictions.alias("live"), predictions.alias("shadow")
        query = (
            select(
                func.count(),
                func.coalesce(func.sum(case((live.c.prediction == shadow.c.prediction, 1), else_=0)), 0),
            )
            .select_from(live.join(shadow, and_(live.c.request_id == shadow.c.request_id, shadow.c.shadow)))
            .where(live.c.shadow.is_(False), live.c.experiment_id == experiment_id)
        )
        if since is not None:
            query = query.where(live.c.created_at >= since)
        with self.engine.connect() as connection:
            row = connection.execute(query).one()
        return int(row[0]), int(row[1])

    @staticmethod
    def _scope(experiment_id: str, since: datetime | None, shadow: bool) -> tuple[Any, ...]:
        conditions: tuple[Any, ...] = (
            predictions.c.experiment_id == experiment_id,
            predictions.c.shadow.is_(shadow),
        )
        if since is not None:
            conditions += (predictions.c.created_at >= since,)
        return conditions

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
