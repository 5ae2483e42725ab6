"""The per-request log line takes a short way to the log writer: the same line loguru would write.

In this process, with the module's writer pointed at a file for the test (the app's own configuration is
exercised as a real process in test_hardening.py: escaping, a stalled sink, uvicorn's records).
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from serving.telemetry import logging as app_logging

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


@pytest.fixture
def independent_logger() -> Iterator[None]:
    """loguru's global logger without handlers while the test copies it (a copy is independent of it, as
    configure_logging makes the writer's sinks); its default stderr handler afterwards."""
    logger.remove()
    yield
    logger.add(sys.stderr)


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, independent_logger: None) -> Iterator[Path]:
    """The module's writer, as configure_logging builds it, writing to a file."""
    path = tmp_path / "app.log"
    sinks = copy.deepcopy(logger)
    sinks.add(path, format="{message}")
    writer = app_logging._Writer(sinks, size=10_000)
    monkeypatch.setattr(app_logging, "_writer", writer)
    monkeypatch.setattr(app_logging, "_secret_values", ["s3cret-value"])
    yield path
    writer.close(timeout=5)


def written(path: Path) -> list[str]:
    app_logging._writer.close(timeout=5)  # type: ignore[union-attr]
    return path.read_text().splitlines()


def test_the_line_looks_as_loguru_writes_it(log_file: Path) -> None:
    loguru_line = copy.deepcopy(logger)
    captured: list[str] = []
    loguru_line.add(captured.append, format=app_logging.FORMAT)
    loguru_line.info("request id=1 POST /predict status=200")

    app_logging.info_line("request id=1 POST /predict status=200")

    [line] = written(log_file)
    assert re.fullmatch(STAMP + r" INFO request id=1 POST /predict status=200", line)
    assert re.fullmatch(STAMP + r" INFO request id=1 POST /predict status=200\n", captured[0])


def test_the_line_is_scrubbed_and_stays_one_line(log_file: Path) -> None:
    app_logging.info_line("request id=2 POST /predict?token=s3cret-value\nforged INFO line\x1b[2J")

    [line] = written(log_file)
    assert "s3cret-value" not in line
    assert line.endswith(" INFO request id=2 POST /predict?token=***\\nforged INFO line\\x1b[2J")


def test_under_warning_level_no_line_is_written(log_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_logging, "_level", "WARNING")
    app_logging.info_line("request id=3 GET /livez status=200")
    assert written(log_file) == []


def test_a_burst_of_lines_is_written_whole_and_in_order(log_file: Path) -> None:
    for number in range(2_000):
        app_logging.info_line(f"request id={number}")
    assert [line.rsplit("=", 1)[1] for line in written(log_file)] == [str(n) for n in range(2_000)]
