"""Feedback: a label for a logged request grades every logged prediction of it (the live one and its shadow).

Labels are write-once: the same label again is accepted and changes nothing, a different one is a conflict.
The update only touches a row that has no label yet, so two replicas racing with different labels cannot
both win: the loser re-reads the row and reports the conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from serving.outcomes.grading import LabelError, Outcome, encode, grade, per_row
from serving.outcomes.log import LoggedPrediction, PredictionLog

Status = Literal["recorded", "unchanged", "unknown", "conflict", "invalid"]
ACCEPTED: frozenset[str] = frozenset(("recorded", "unchanged"))


@dataclass(frozen=True)
class FeedbackResult:
    request_id: str
    status: Status
    detail: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"request_id": self.request_id, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        return body


# Called once per live row that a label graded for the first time: the metrics of online quality.
OnGraded = Callable[[LoggedPrediction, Outcome], None]


def record(log: PredictionLog, request_id: str, label: Any, on_graded: OnGraded) -> FeedbackResult:
    """Grade ``request_id``'s logged predictions with ``label`` (blocking: callers run it off the loop)."""
    rows = log.find(request_id)
    if not rows:
        return FeedbackResult(
            request_id, "unknown", f"no prediction with request id {request_id!r} is logged"
        )
    try:
        graded = [(row, grade(row.prediction, per_row(label, len(row.prediction)), row.task)) for row in rows]
    except LabelError as error:
        return FeedbackResult(request_id, "invalid", str(error))
    text = encode(per_row(label, len(rows[0].prediction)))
    if any(row.label is not None and row.label != text for row in rows):
        return _conflict(request_id)
    status: Status = "unchanged"
    for row, outcome in graded:
        if row.label is not None:
            continue
        if log.set_label(row.id, text, outcome):
            status = "recorded"
            if not row.shadow:
                on_graded(row, outcome)
        elif log.label_of(row.id) != text:  # another replica labelled it first, differently
            return _conflict(request_id)
    return FeedbackResult(request_id, status)


def _conflict(request_id: str) -> FeedbackResult:
    return FeedbackResult(
        request_id, "conflict", f"request id {request_id!r} already has a different label; labels are final"
    )
