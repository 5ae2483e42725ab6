"""loguru to stdout and to a rotating file, with secret values scrubbed and control characters escaped.

Logging never waits for its sinks: a record is formatted on the caller's thread, put on a bounded queue, and
one writer thread drains it to stdout and the file. A stalled sink (an NFS hiccup, a full disk, a pipe nobody
reads) fills the queue; further records are dropped and counted (``serving_log_records_dropped_total``), and a
line saying how many were lost is written once the sink moves again. loguru's own ``enqueue=True`` is not
enough: its queue is a pipe, and a full pipe blocks the caller, which is the event loop.

The standard library's loggers take the same way. uvicorn configures its loggers (a handler writing to stderr)
before it imports the app, mlflow configures its own when imported, and a library without a handler reaches
stderr through ``logging.lastResort``: each of those writes on the caller's thread, unescaped, and uvicorn's
"Invalid HTTP request received." is logged on the event loop for anything a client sends. So configuring
logging also leaves the root logger one handler, which hands each record to loguru (its level, its
logger's name before the message, its traceback), and takes every other logger's handlers away, with
``propagate`` on: every record reaches loguru once. Levels stay as they were: uvicorn and mlflow at INFO,
everything else at the root's WARNING, httpx and httpcore (which log each request's full URL) at WARNING at
least whatever the root says. ``warnings.warn`` is captured into logging (``py.warnings``) on the same way.
"""

from __future__ import annotations

import copy
import inspect
import logging
import queue
import re
import sys
import threading
from datetime import datetime
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


_MOST_LINES_PER_WRITE = 256


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
        self.put_line(str(message))

    def put_line(self, line: str) -> None:
        """A line already formatted, scrubbed and escaped (ending in a newline), onto the same queue."""
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            with self._lock:
                self._dropped += 1
            metrics.record_log_record_dropped()

    def _drain(self) -> None:
        # What is queued goes to the sinks as one write: under load that is one sink call per burst of
        # lines, not one per line.
        while (text := self._queue.get()) is not None:
            lines, stopping = [text], False
            for _ in range(_MOST_LINES_PER_WRITE):
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                lines.append(more)
            self._sinks.opt(raw=True).info("".join(lines))
            with self._lock:
                dropped, self._dropped = self._dropped, 0
            if dropped:
                self._sinks.opt(raw=True).info(f"{dropped} log records were dropped: the log sink stalled\n")
            if stopping:
                return

    def close(self, timeout: float) -> None:
        """Write what is queued, waiting at most ``timeout`` seconds for a stalled sink."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)


class _ToLoguru(logging.Handler):
    """The root logger's one handler: each standard-library record, as a loguru record."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        try:
            text = record.getMessage()
        except Exception:  # bad arguments for its format: say what was logged, never write to stderr
            text = f"{record.msg!r} % {record.args!r}"
        # loguru's caller: the first frame outside the logging module (and the import machinery).
        frame, depth = inspect.currentframe(), 0
        while frame is not None:
            filename = frame.f_code.co_filename
            if depth > 0 and filename != logging.__file__ and "importlib._bootstrap" not in filename:
                break
            frame, depth = frame.f_back, depth + 1
        message = text.rstrip("\n")
        logger.opt(depth=depth, exception=record.exc_info).log(level, "{}: {}", record.name, message)


_TO_LOGURU = _ToLoguru()
_URL_LOGGERS = ("httpx", "httpcore")  # each request's full URL at INFO (the Slack webhook's is a secret)


def _route_standard_logging() -> None:
    """Every standard-library logger's records to loguru, once each; calling it again changes nothing."""
    root = logging.getLogger()
    root.handlers = [_TO_LOGURU]
    for candidate in list(logging.Logger.manager.loggerDict.values()):
        if not isinstance(candidate, logging.Logger):  # a PlaceHolder: a parent of a dotted name, unasked
            continue
        own = [handler for handler in candidate.handlers if not isinstance(handler, logging.NullHandler)]
        if own:  # uvicorn's, uvicorn.access's when the access log is on, mlflow's, sqlalchemy's, alembic's
            for handler in own:
                candidate.removeHandler(handler)
            candidate.propagate = True
        # A logger with no handlers and propagate off stays as it is: uvicorn.access under --no-access-log is
        # off because it has none (uvicorn asks hasHandlers()), and propagating would turn it on.
    for name in _URL_LOGGERS:
        quiet = logging.getLogger(name)
        if quiet.getEffectiveLevel() < logging.WARNING:
            quiet.setLevel(logging.WARNING)
    logging.captureWarnings(True)  # warnings.warn: through the "py.warnings" logger, not straight to stderr


_writer: _Writer | None = None
_level = "INFO"
_secret_values: list[str] = []
_INFO_ENABLED = {"DEBUG", "INFO"}


def scrubbed(message: str) -> str:
    """``message`` with every configured secret value as ``***``, on one line (control characters escaped)."""
    for value in _secret_values:
        if value in message:
            message = message.replace(value, "***")
    # Request values (paths, headers, ids) reach messages: one record is one line, whatever they hold.
    return escape_control(message)


def info_line(message: str) -> None:
    """``message`` at INFO, as ``logger.info`` would write it, for the per-request log line.

    It goes straight onto the writer's queue, formatted here: loguru's own path (a frame lookup, a record,
    the patcher, the format) cost more per request than routing and predicting together. Scrubbed and
    escaped as every record is; through loguru when logging is not configured (tests, tools).
    """
    writer = _writer
    if writer is None:
        logger.info("{}", message)
        return
    if _level in _INFO_ENABLED:
        stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
        writer.put_line(f"{stamp} INFO {scrubbed(message)}\n")


def configure_logging(level: str, log_file: str, secrets: list[str], queue_size: int) -> None:
    """``queue_size``: records waiting for the sinks; beyond it they are dropped and counted. The standard
    library's loggers are routed here too (once; configuring again replaces, never adds)."""
    global _writer, _level, _secret_values
    _secret_values = [value for value in secrets if value]

    def scrub(record: Record) -> None:
        record["message"] = scrubbed(record["message"])

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
    _writer, _level = _Writer(sinks, queue_size), level
    logger.add(_writer.put, level=level, format=FORMAT, backtrace=False, diagnose=False)
    _route_standard_logging()


def close_logging(timeout: float) -> None:
    """At shutdown: write what is queued (at most ``timeout`` seconds) and stop the writer thread. What is
    logged after it (uvicorn's last lines, a failed start-up's traceback) goes straight to stderr, scrubbed
    and escaped as before: no request is served any more, so a write that waits holds up only the exit."""
    global _writer
    if _writer is not None:
        logger.remove()
        _writer.close(timeout)
        _writer = None
        logger.add(sys.stderr, level=_level, format=FORMAT, backtrace=False, diagnose=False)
