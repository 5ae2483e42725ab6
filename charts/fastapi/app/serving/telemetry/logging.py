"""loguru to stdout and to a rotating file, with secret values scrubbed from every record."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

FORMAT = "{time:YYYY-MM-DDTHH:mm:ss.SSSZ} {level} {message}"


def configure_logging(level: str, log_file: str, secrets: list[str]) -> None:
    """Sinks are enqueued: a slow disk or pipe never blocks the event loop."""
    secret_values = [value for value in secrets if value]

    def scrub(record: Record) -> None:
        for value in secret_values:
            if value in record["message"]:
                record["message"] = record["message"].replace(value, "***")

    logger.remove()
    logger.configure(patcher=scrub)
    logger.add(sys.stdout, level=level, format=FORMAT, enqueue=True, backtrace=False, diagnose=False)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            log_file, level=level, format=FORMAT, rotation="20 MB", retention=5, enqueue=True, diagnose=False
        )
