"""The one shape every check reports in: ``file: object: rule-id: reason``."""

from __future__ import annotations

from dataclasses import dataclass

from tooling.infra.proc import one_line


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    object: str
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.object}: {self.rule}: {one_line(self.reason)}"
