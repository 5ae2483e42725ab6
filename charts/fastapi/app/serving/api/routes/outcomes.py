"""POST /feedback (labels for logged predictions), GET /experiment (per-variant quality and the verdict)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from loguru import logger
from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr, TypeAdapter

from serving.api.http import FastJSONResponse, json_body_schema, read_json
from serving.api.routes.dependencies import serving_of
from serving.config import MOST_ROWS_PER_REQUEST
from serving.inference.service import Serving
from serving.outcomes import experiment, feedback
from serving.outcomes.grading import REGRESSION, Outcome
from serving.outcomes.log import LoggedPrediction, PredictionLog
from serving.telemetry import metrics

router = APIRouter(tags=["outcomes"])

# How long feedback waits for this replica's own queued records before calling an id unknown.
OWN_RECORDS_WAIT_SECONDS = 2.0

Scalar = (
    StrictBool
    | StrictInt
    | Annotated[StrictFloat, Field(allow_inf_nan=False)]
    | Annotated[StrictStr, Field(max_length=256)]
)


class Label(BaseModel):
    request_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    label: Scalar | Annotated[list[Scalar], Field(max_length=MOST_ROWS_PER_REQUEST)] = Field(
        description="the true value: one per predicted row (a scalar for a one-row request)", examples=[1]
    )


# Read by ``read_json`` (a large list is validated off the event loop), documented in the schema all the same.
FEEDBACK_BODY: TypeAdapter[Label | list[Label]] = TypeAdapter(Label | list[Label])


def _log(serving: Serving) -> PredictionLog:
    log = serving.prediction_log
    if log is None:
        raise HTTPException(503, "the prediction log is disabled (PREDICTION_LOG_ENABLED=false)")
    if serving.log_writer is not None and not serving.log_writer.ready:
        raise HTTPException(503, "the prediction log's database is not reachable yet")
    return log


def _graded(row: LoggedPrediction, outcome: Outcome) -> None:
    metrics.record_label(
        row.variant, row.version, outcome.n, outcome.total, regression=row.task == REGRESSION
    )


def _record_all(serving: Serving, log: PredictionLog, items: list[Label]) -> list[feedback.FeedbackResult]:
    results = [feedback.record(log, item.request_id, item.label, _graded) for item in items]
    unknown = [index for index, result in enumerate(results) if result.status == "unknown"]
    # A prediction this replica served a moment ago may still be in its writer's queue: write it, look again.
    if unknown and serving.log_writer is not None and serving.log_writer.flush(OWN_RECORDS_WAIT_SECONDS):
        for index in unknown:
            results[index] = feedback.record(log, items[index].request_id, items[index].label, _graded)
    for result in results:
        if not result.accepted:
            metrics.record_feedback_error(result.status)
    return results


STATUS_CODES = {"unknown": 404, "conflict": 409, "invalid": 422}


@router.post(
    "/feedback",
    responses={
        404: {"description": "no logged prediction has this request id"},
        409: {"description": "the request id already has a different label"},
        422: {"description": "the label does not fit the prediction"},
        413: {"description": "the body is larger than MAX_BODY_BYTES"},
        503: {"description": "the prediction log is unavailable"},
    },
    openapi_extra=json_body_schema(FEEDBACK_BODY),
)
async def post_feedback(request: Request) -> FastJSONResponse:
    """Labels for logged predictions: one object, or a list (per-item results). The same label again is
    accepted; a different label for a labelled request is a conflict."""
    serving = serving_of(request)
    payload = await read_json(request, FEEDBACK_BODY)
    items = payload if isinstance(payload, list) else [payload]
    limit = serving.settings.feedback_max_items
    if not items or len(items) > limit:
        raise HTTPException(422, f"feedback takes 1 to {limit} items per request; got {len(items)}")
    log = _log(serving)
    try:
        results = await asyncio.to_thread(_record_all, serving, log, items)
    except Exception as error:  # the database went away mid-request: the client may retry
        logger.error("feedback not recorded: prediction log error ({})", type(error).__name__)
        raise HTTPException(503, "the prediction log's database did not answer; retry later") from None
    accepted = sum(result.accepted for result in results)
    if isinstance(payload, list):
        return FastJSONResponse({"accepted": accepted, "results": [r.as_dict() for r in results]})
    result = results[0]
    if not result.accepted:
        raise HTTPException(STATUS_CODES[result.status], result.detail)
    return FastJSONResponse({"accepted": accepted, **result.as_dict()})


def _since(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise HTTPException(422, "since: give a time zone (e.g. 2026-11-24T10:00:00Z)")
    return value.astimezone(UTC)


@router.get("/experiment", responses={503: {"description": "the prediction log is unavailable"}})
async def get_experiment(
    request: Request,
    since: Annotated[datetime | None, Query(description="only predictions at or after this time")] = None,
    experiment_id: Annotated[
        str | None, Query(max_length=128, description="default: the experiment routing uses now")
    ] = None,
) -> dict[str, Any]:
    """Per variant: predictions, labelled rows, accuracy or MAE with an interval, p99; the sequential verdict
    (B_better, B_worse, inconclusive and the labels still needed) and the sample-ratio check."""
    serving = serving_of(request)
    scope = serving.experiment_scope(experiment_id, _since(since))
    if serving.prediction_log is None:  # a canary's quality gate then finds no labels, as is the truth
        return experiment.without_log(scope)
    log = _log(serving)
    try:
        return await asyncio.to_thread(experiment.report, log, scope)
    except Exception as error:
        logger.error("experiment report failed: prediction log error ({})", type(error).__name__)
        raise HTTPException(503, "the prediction log's database did not answer; retry later") from None
