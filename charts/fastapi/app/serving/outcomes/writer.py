"""Off the request path: a bounded queue of prediction records and one thread writing them in batches.

The request path only ever calls ``submit`` (a non-blocking put); a full queue drops the record and counts
it, so a slow or unreachable database costs predictions nothing. The thread migrates the schema before its
first write and keeps retrying both while the database is away.
"""

from __future__ import annotations

import functools
import math
import queue
import threading
import time
from collections.abc import Callable

from loguru import logger
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from serving.outcomes.log import PredictionLog, PredictionRecord, redacted
from serving.telemetry import metrics

RETRY_SECONDS = 1.0
DROP_REPORT_SECONDS = 60.0
LINGER_STEP_SECONDS = 0.05


class LogWriter:
    def __init__(
        self,
        log: PredictionLog,
        *,
        queue_size: int,
        batch_size: int,
        linger_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self._queue: queue.Queue[PredictionRecord] = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._linger = linger_seconds
        self._clock = clock
        self._stopping = threading.Event()
        self._ready = threading.Event()  # the schema is migrated: reads may start
        self._progress = threading.Condition()
        self._submitted = 0  # records accepted into the queue
        self._settled = 0  # records written, or given up on at shutdown
        self._dropped_since_report = 0
        self._last_report = clock()
        self._give_up_at = math.inf  # set by close: past it, a database that is away loses what is queued
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: PredictionRecord) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            metrics.record_log_drop()
            with self._progress:
                self._dropped_since_report += 1
            return
        with self._progress:
            self._submitted += 1

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted so far is written; False if that took longer than ``timeout``."""
        with self._progress:
            target = self._submitted
            return self._progress.wait_for(lambda: self._settled >= target, timeout)

    def close(self, timeout: float) -> None:
        """Write what is queued (a clean shutdown loses nothing while the database answers), then stop."""
        self._give_up_at = self._clock() + timeout
        self._stopping.set()
        self._thread.join(timeout + RETRY_SECONDS)
        with self._progress:
            lost = self._submitted - self._settled
        if lost:
            logger.error("prediction log: {} records not written at shutdown", lost)
        self.log.dispose()

    # ------------------------------------------------------------------------------------- the thread

    def _run(self) -> None:
        if not self._until_done(self.log.migrate, "migrate"):
            return
        self._ready.set()
        while not (self._stopping.is_set() and self._queue.empty()):
            batch = self._next_batch()
            if batch:
                if not self._until_done(functools.partial(self._write, batch), "write"):
                    return
                with self._progress:
                    self._settled += len(batch)
                    self._progress.notify_all()
            self._report_drops()

    def _write(self, batch: list[PredictionRecord]) -> None:
        try:
            self.log.insert(batch)
        except (OperationalError, InterfaceError):
            raise  # the database is away: the caller retries the whole batch
        except DBAPIError:
            # The database refused the data itself: write what it takes one by one, and count the rest.
            written = 0
            for record in batch:
                try:
                    self.log.insert([record])
                    written += 1
                except (OperationalError, InterfaceError):
                    raise
                except DBAPIError as error:
                    metrics.record_log_drop()
                    logger.error(
                        "prediction log: record {} refused ({})", record.request_id, type(error).__name__
                    )
            metrics.record_log_written(written)
            return
        metrics.record_log_written(len(batch))

    def _next_batch(self) -> list[PredictionRecord]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        # Linger a little while the batch fills: one transaction for many records under load. The thread
        # sleeps and then takes what queued meanwhile, rather than waking for every record: each wake-up
        # would compete with the event loop for the GIL, once per request. A shutdown ends the linger at
        # once (what is queued is written now).
        deadline = self._clock() + self._linger
        while True:
            self._take_queued(batch)
            remaining = deadline - self._clock()
            if len(batch) >= self._batch_size or remaining <= 0 or self._stopping.is_set():
                return batch
            self._stopping.wait(min(remaining, LINGER_STEP_SECONDS))

    def _take_queued(self, batch: list[PredictionRecord]) -> None:
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _until_done(self, operation: Callable[[], None], what: str) -> bool:
        """Retry until the database takes it; at shutdown, only while the grace period lasts (then False)."""
        failures = 0
        while self._clock() < self._give_up_at:
            try:
                operation()
                if failures:
                    logger.info("prediction log: {} succeeded again after {} failures", what, failures)
                return True
            except Exception as error:  # any driver error: the database is away or refused; try again
                failures += 1
                if failures == 1:
                    logger.error(
                        "prediction log: cannot {} at {} ({}); retrying every {:g} s",
                        what, redacted(self.log.url), type(error).__name__, RETRY_SECONDS,
                    )  # fmt: skip
                self._report_drops()
                time.sleep(RETRY_SECONDS)
        return False

    def _report_drops(self) -> None:
        now = self._clock()
        if now - self._last_report < DROP_REPORT_SECONDS:
            return
        with self._progress:
            dropped, self._dropped_since_report = self._dropped_since_report, 0
        self._last_report = now
        if dropped:
            logger.warning(
                "prediction log: dropped {} records in the last {:g} s (queue full)",
                dropped,
                DROP_REPORT_SECONDS,
            )
