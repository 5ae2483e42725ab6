"""The one shape every check reports in: ``file: object: rule-id: reason``."""

from __future__ import annotations

from dataclasses import dataclass

MAX_REASON = 240


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    object: str
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.object}: {self.rule}: {one_line(self.reason)}"


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """Collapse whitespace so a finding is always exactly one line, and keep it readable."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
