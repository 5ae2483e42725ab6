"""Adaptive batching: concurrent float-row requests for one model coalesce into one predict call.

A model's predict has a cost per call (input checks, framework dispatch, a thread hand-off) on top of its cost
per row; under load, paying it once for many requests is what lets a replica answer more of them. One batch
runs at a time per model. Requests that arrive while it runs wait for the next one, which takes all of them
up to ``max_rows``: at low load a batch is one request and adds no latency, under load batches grow with the
queue. ``max_wait`` (off by default) also holds a batch open that long for more requests to join.

Each request gets its own rows' answers. A batch that fails is retried request by request, so one bad input
fails only its own request, with its own error, and never its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.repository.predictors import Matrix
from serving.telemetry import metrics

Predict = Callable[[Matrix], list[Any]]


def batch_length(sizes: Sequence[int], max_rows: int) -> int:
    """How many of the queued requests (their row counts, oldest first) the next batch takes: as many as fit
    in ``max_rows``, and always the oldest, however many rows it has."""
    taken, rows = 0, 0
    for size in sizes:
        if taken and rows + size > max_rows:
            break
        taken, rows = taken + 1, rows + size
    return taken


def split(answers: Sequence[Any], sizes: Sequence[int]) -> list[list[Any]]:
    """A batch's answers, one list per request (``sizes``: each request's rows, in the batch's order)."""
    if len(answers) != sum(sizes):
        raise ValueError(f"the model answered {len(answers)} rows for a batch of {sum(sizes)}")
    parts, start = [], 0
    for size in sizes:
        parts.append(list(answers[start : start + size]))
        start += size
    return parts


def predict_batch(predict: Predict, parts: Sequence[Matrix]) -> list[list[Any]]:
    """One call for every request's rows (run on a worker thread); each request's answers."""
    return split(predict(np.concatenate(parts)), [len(part) for part in parts])


@dataclass
class _Waiting:
    rows: Matrix
    answer: asyncio.Future[list[Any]]


class Batcher:
    """The batches of one loaded model, run on ``executor`` one at a time."""

    def __init__(self, predict: Predict, executor: Executor, max_rows: int, max_wait: float) -> None:
        self._predict = predict
        self._executor = executor
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._queue: deque[_Waiting] = deque()
        self._queued_rows = 0
        self._filled = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def predict(self, rows: Matrix) -> list[Any]:
        waiting = _Waiting(rows, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self._queued_rows += len(rows)
        if self._queued_rows >= self._max_rows:
            self._filled.set()
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        return await waiting.answer

    async def _run(self) -> None:
        try:
            while self._queue:
                if self._max_wait > 0 and self._queued_rows < self._max_rows:
                    with contextlib.suppress(TimeoutError):  # waited long enough: run what came
                        await asyncio.wait_for(self._filled.wait(), self._max_wait)
                batch = self._take()
                await self._answer(batch)
        finally:
            self._runner = None

    def _take(self) -> list[_Waiting]:
        count = batch_length([len(waiting.rows) for waiting in self._queue], self._max_rows)
        batch = [self._queue.popleft() for _ in range(count)]
        self._queued_rows -= sum(len(waiting.rows) for waiting in batch)
        if self._queued_rows < self._max_rows:
            self._filled.clear()
        # A client that went away no longer needs its rows predicted.
        return [waiting for waiting in batch if not waiting.answer.done()]

    async def _answer(self, batch: list[_Waiting]) -> None:
        if not batch:
            return
        loop = asyncio.get_running_loop()
        metrics.record_batch(len(batch))
        if len(batch) > 1:
            try:
                answers = await loop.run_in_executor(
                    self._executor, predict_batch, self._predict, [waiting.rows for waiting in batch]
                )
            except Exception:  # noqa: S110 - which request's input failed it is found below, one by one
                pass
            else:
                for waiting, answer in zip(batch, answers, strict=True):
                    _settle(waiting.answer, answer)
                return
        for waiting in batch:
            try:
                answer = await loop.run_in_executor(self._executor, self._predict, waiting.rows)
            except Exception as error:
                _fail(waiting.answer, error)
            else:
                _settle(waiting.answer, answer)


def _settle(future: asyncio.Future[list[Any]], answer: list[Any]) -> None:
    if not future.done():
        future.set_result(answer)


def _fail(future: asyncio.Future[list[Any]], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
