"""Process helpers every command shares: run a command, its last stderr line, one-line messages, signals."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

MAX_LINE = 240


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Collapse whitespace so a message is always exactly one line, and keep it readable."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def last_line(text: str, default: str = "no output") -> str:
    """The last non-blank line of a tool's output: where CLIs put the error that made them fail."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else default


def run(
    command: Sequence[str], *, cwd: Path | None = None, stdin: str | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to completion with its output captured as text; the caller judges the exit code."""
    return subprocess.run(
        list(command), cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every ``with`` that started a process stops it."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
