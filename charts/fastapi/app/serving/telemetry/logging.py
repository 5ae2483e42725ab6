"""loguru to stdout and to a rotating file, with secret values scrubbed and control characters escaped.

Logging never waits for its sinks: a record is formatted on the caller's thread, put on a bounded queue, and
one writer thread drains it to stdout and the file. A stalled sink (an NFS hiccup, a full disk, a pipe nobody
reads) fills the queue; further records are dropped and counted (``serving_log_records_dropped_total``), and a
line saying how many were lost is written once the sink moves again. loguru's own ``enqueue=True`` is not
enough: its queue is a pipe, and a full pipe blocks the caller, which is the event loop.
"""

from __future__ import annotations

import copy
import queue
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from serving.telemetry import metrics

if TYPE_CHECKING:
    from loguru import Logger, Message, Record

FORMAT = "{time:YYYY-MM-DDTHH:mm:ss.SSSZ} {level} {message}"

# C0 controls (CR, LF, ESC, ...), DEL, C1 controls and the Unicode line and paragraph separators: anything a
# terminal or a log shipper could take as a new line or an instruction.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    """``text`` on one line: each control character as its escape (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class _Writer:
    """The bounded queue in front of the real sinks, and the thread that drains it."""

    def __init__(self, sinks: Logger, size: int) -> None:
        self._sinks = sinks
        self._queue: queue.Queue[str | None] = queue.Queue(size)
        self._dropped = 0  # since the last notice; only the writer thread resets it
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, name="log-writer", daemon=True)
        self._thread.start()

    def put(self, message: Message) -> None:
        try:
            self._queue.put_nowait(str(message))
        except queue.Full:
            with self._lock:
                self._dropped += 1
            metrics.record_log_record_dropped()

    def _drain(self) -> None:
        while (text := self._queue.get()) is not None:
            self._sinks.opt(raw=True).info(text)
            with self._lock:
                dropped, self._dropped = self._dropped, 0
            if dropped:
                self._sinks.opt(raw=True).info(f"{dropped} log records were dropped: the log sink stalled\n")

    def close(self, timeout: float) -> None:
        """Write what is queued, waiting at most ``timeout`` seconds for a stalled sink."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)


_writer: _Writer | None = None


def configure_logging(level: str, log_file: str, secrets: list[str], queue_size: int) -> None:
    """``queue_size``: records waiting for the sinks; beyond it they are dropped and counted."""
    global _writer
    secret_values = [value for value in secrets if value]

    def scrub(record: Record) -> None:
        message = record["message"]
        for value in secret_values:
            if value in message:
                message = message.replace(value, "***")
        # Request values (paths, headers, ids) reach messages: one record is one line, whatever they hold.
        record["message"] = escape_control(message)

    close_logging(0)
    logger.remove()
    sinks = copy.deepcopy(logger)  # an independent logger, written to by the writer thread only
    sinks.configure(patcher=lambda record: None)  # its records are already scrubbed and escaped
    logger.configure(patcher=scrub)
    sinks.add(sys.stdout, format="{message}", backtrace=False, diagnose=False)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        # delay: the file is opened by the writer thread, so even an open that blocks cannot stall start-up.
        sinks.add(log_file, format="{message}", rotation="20 MB", retention=5, delay=True, diagnose=False)
    _writer = _Writer(sinks, queue_size)
    logger.add(_writer.put, level=level, format=FORMAT, backtrace=False, diagnose=False)


def close_logging(timeout: float) -> None:
    """At shutdown: write what is queued (at most ``timeout`` seconds) and stop the writer thread."""
    global _writer
    if _writer is not None:
        logger.remove()
        _writer.close(timeout)
        _writer = None
