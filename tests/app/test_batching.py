"""Adaptive batching and where a prediction runs: pure parts, then a real event loop and a real thread pool,
then the app as a real process.

In process, the batcher and ``Serving.predict`` run with predictors that record what they were given and on
which thread. Nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from serving.config import Settings
from serving.inference.batching import Batcher, batch_length, split
from serving.inference.service import Serving
from serving.repository.cost import MEASURE_ONLY_BELOW_MS, UNKNOWN_COST, PredictCost, measure_cost
from serving.repository.loader import LoadedModel
from serving.repository.predictors import Matrix, ModelInput, Typed
from serving.repository.registry import VersionRef
from tests.app.conftest import StartApp
from tests.app.support import IRIS_ROW, metric, register_slow_version
from tooling.infra.localstack import MlflowServer
from tooling.infra.registry_seed import SERVE_MODELS_FROM_CODE, point_alias, seed_variants


def rows(*firsts: float) -> Matrix:
    """One row per value, two columns: the first is the value, which ``Recorder`` answers times ten."""
    return np.array([[value, 0.0] for value in firsts])


class Recorder:
    """A model answering ten times each row's first value; it records each call's rows and thread, and fails
    a call holding a negative value (as a model fails on one bad input)."""

    def __init__(self, hold_first_call: bool = False) -> None:
        self.calls: list[list[float]] = []
        self.threads: list[str] = []
        self.release = threading.Event()
        self.first_call_started = threading.Event()
        if not hold_first_call:
            self.release.set()

    def predict(self, inputs: ModelInput) -> list[Any]:
        assert isinstance(inputs, np.ndarray)
        self.calls.append(inputs[:, 0].tolist())
        self.threads.append(threading.current_thread().name)
        self.first_call_started.set()
        self.release.wait(10)
        if (inputs < 0).any():
            raise ValueError("a negative value")
        return (inputs[:, 0] * 10).tolist()


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="predict")
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


# -- pure parts


@pytest.mark.parametrize(
    ("sizes", "max_rows", "taken"),
    [
        ([1, 1, 1], 2, 2),
        ([1, 3, 1], 4, 2),  # 1 + 3 fits, one more does not
        ([5, 1], 2, 1),  # the oldest request always goes, however many rows it has
        ([2, 2, 2], 100, 3),
        ([], 4, 0),
    ],
)
def test_a_batch_takes_the_oldest_requests_that_fit(sizes: list[int], max_rows: int, taken: int) -> None:
    assert batch_length(sizes, max_rows) == taken


def test_a_batch_s_answers_are_split_back_per_request() -> None:
    assert split(["a", "b", "c", "d"], [1, 2, 1]) == [["a"], ["b", "c"], ["d"]]
    with pytest.raises(ValueError, match="answered 3 rows for a batch of 4"):
        split(["a", "b", "c"], [2, 2])


# -- the batcher on a real loop and pool


async def submit_while_the_first_call_runs(
    batcher: Batcher, model: Recorder, later: list[Matrix]
) -> list[Any]:
    """The first request's call holds the model; ``later`` requests queue meanwhile, then it is released."""
    first = asyncio.create_task(batcher.predict(rows(1)))
    await asyncio.to_thread(model.first_call_started.wait, 10)
    waiting = [asyncio.create_task(batcher.predict(request)) for request in later]
    await asyncio.sleep(0)  # every later request is queued before the model is released
    model.release.set()
    return await asyncio.gather(first, *waiting, return_exceptions=True)


def test_requests_that_queue_while_a_batch_runs_share_one_call(executor: ThreadPoolExecutor) -> None:
    model = Recorder(hold_first_call=True)
    batcher = Batcher(model.predict, executor, max_rows=100, max_wait=0)

    answers = asyncio.run(submit_while_the_first_call_runs(batcher, model, [rows(2), rows(3, 4), rows(5)]))

    assert answers == [[10.0], [20.0], [30.0, 40.0], [50.0]]  # each request its own rows' answers
    assert model.calls == [[1.0], [2.0, 3.0, 4.0, 5.0]]
    assert all(thread.startswith("predict") for thread in model.threads)  # never on the event loop


def test_a_batch_carries_at_most_max_rows(executor: ThreadPoolExecutor) -> None:
    model = Recorder(hold_first_call=True)
    batcher = Batcher(model.predict, executor, max_rows=3, max_wait=0)

    later = [rows(value) for value in (2, 3, 4, 5, 6)] + [rows(7, 8, 9, 10)]
    answers = asyncio.run(submit_while_the_first_call_runs(batcher, model, later))

    assert answers[-1] == [70.0, 80.0, 90.0, 100.0]  # larger than max_rows: it runs alone
    assert model.calls == [[1.0], [2.0, 3.0, 4.0], [5.0, 6.0], [7.0, 8.0, 9.0, 10.0]]


def test_a_failed_batch_is_retried_per_request_and_fails_only_the_bad_one(
    executor: ThreadPoolExecutor,
) -> None:
    model = Recorder(hold_first_call=True)
    batcher = Batcher(model.predict, executor, max_rows=100, max_wait=0)

    answers = asyncio.run(submit_while_the_first_call_runs(batcher, model, [rows(2), rows(-3), rows(4)]))

    assert answers[:2] == [[10.0], [20.0]]
    assert isinstance(answers[2], ValueError)
    assert str(answers[2]) == "a negative value"  # the bad request gets its own error
    assert answers[3] == [40.0]
    assert model.calls == [[1.0], [2.0, -3.0, 4.0], [2.0], [-3.0], [4.0]]


def test_a_model_answering_the_wrong_number_of_rows_is_retried_per_request(
    executor: ThreadPoolExecutor,
) -> None:
    calls: list[int] = []

    def first_row_only(inputs: Matrix) -> list[Any]:
        calls.append(len(inputs))
        return [float(inputs[0, 0])]

    async def three_at_once() -> list[list[Any]]:
        return await asyncio.gather(*(batcher.predict(rows(value)) for value in (1, 2, 3)))

    # The wait holds the first batch open until its three requests are queued.
    batcher = Batcher(first_row_only, executor, max_rows=3, max_wait=30)
    assert asyncio.run(three_at_once()) == [[1.0], [2.0], [3.0]]
    assert calls == [3, 1, 1, 1]


def test_a_batch_waits_up_to_max_wait_for_more_requests(executor: ThreadPoolExecutor) -> None:
    model = Recorder()
    # A wait far longer than the test: the batch is run because it filled, not because the wait ran out.
    batcher = Batcher(model.predict, executor, max_rows=3, max_wait=30)

    async def one_then_two() -> list[list[Any]]:
        first = asyncio.create_task(batcher.predict(rows(1)))
        await asyncio.sleep(0.05)
        return await asyncio.gather(first, batcher.predict(rows(2)), batcher.predict(rows(3)))

    assert asyncio.run(one_then_two()) == [[10.0], [20.0], [30.0]]
    assert model.calls == [[1.0, 2.0, 3.0]]


def test_a_batch_that_never_fills_runs_when_its_wait_ends(executor: ThreadPoolExecutor) -> None:
    model = Recorder()
    batcher = Batcher(model.predict, executor, max_rows=100, max_wait=0.05)
    assert asyncio.run(batcher.predict(rows(1, 2))) == [10.0, 20.0]
    assert model.calls == [[1.0, 2.0]]


# -- where Serving.predict runs a prediction


def serving(**env: str) -> Serving:
    settings = Settings(
        mlflow_tracking_uri="http://127.0.0.1:9", prediction_log_enabled=False, log_file="", **env
    )
    return Serving.from_settings(settings)


def loaded(model: Recorder, cost: PredictCost) -> LoadedModel:
    ref = VersionRef("best_model", "A", "1", run_id=None, status="READY")
    predictor = type("P", (), {"predict": staticmethod(model.predict), "path": "test"})()
    return LoadedModel("A", ref, predictor, cost=cost)


def thread_of_one_prediction(app: Serving, cost: PredictCost, inputs: Matrix) -> str:
    model = Recorder()
    try:
        assert asyncio.run(app.predict(loaded(model, cost), inputs)) == (inputs[:, 0] * 10).tolist()
    finally:
        app.executor.shutdown(wait=True)
    [thread] = model.threads
    return thread


CHEAP = PredictCost(fixed_ms=0.02, per_row_ms=0.001)


def test_a_prediction_cheaper_than_the_budget_runs_on_the_event_loop() -> None:
    assert thread_of_one_prediction(serving(), CHEAP, rows(1)) == threading.current_thread().name


@pytest.mark.parametrize(
    ("cost", "inputs", "env", "batched"),
    [
        (PredictCost(fixed_ms=3.0, per_row_ms=0.0), rows(1), {}, True),  # a costly model
        (CHEAP, rows(*range(1000)), {}, True),  # a cheap model, but this many rows are over the budget
        (UNKNOWN_COST, rows(1), {}, True),  # never measured
        (PredictCost(fixed_ms=0.0, per_row_ms=0.0), rows(1), {"inline_predict_ms": "0"}, True),  # inline off
        (PredictCost(fixed_ms=3.0, per_row_ms=0.0), rows(1), {"adaptive_batching": "false"}, False),
    ],
    ids=["costly", "many-rows", "unmeasured", "inline-off", "batching-off"],
)
def test_a_prediction_over_the_budget_runs_on_a_worker_thread(
    cost: PredictCost, inputs: Matrix, env: dict[str, str], batched: bool
) -> None:
    app = serving(**env)
    assert thread_of_one_prediction(app, cost, inputs).startswith("predict")
    assert ("A" in app._batchers) is batched


def test_a_swapped_model_gets_its_own_batcher() -> None:
    app = serving()
    first, second = Recorder(), Recorder()
    old, new = loaded(first, UNKNOWN_COST), loaded(second, UNKNOWN_COST)

    async def one_each() -> None:
        await app.predict(old, rows(1))
        await app.predict(new, rows(2))

    try:
        asyncio.run(one_each())
    finally:
        app.executor.shutdown(wait=True)
    assert (first.calls, second.calls) == ([[1.0]], [[2.0]])
    assert app._batchers["A"][0] is new


# -- the cost measured at load


def test_float_rows_are_timed_at_one_row_and_at_many() -> None:
    shapes: list[int] = []

    def sleepy(inputs: ModelInput) -> list[Any]:
        assert isinstance(inputs, np.ndarray)
        shapes.append(len(inputs))
        threading.Event().wait(0.002)
        return [0] * len(inputs)

    cost = measure_cost(sleepy, rows(1, 2, 3), smoke_ms=2.0)
    assert set(shapes) == {1, 64}
    assert cost.estimate_ms(1) >= 2.0  # every call slept 2 ms: one row cannot be estimated cheaper


def test_a_model_slower_than_the_measuring_threshold_is_not_timed_again() -> None:
    calls: list[int] = []
    cost = measure_cost(lambda inputs: calls.append(1) or [], rows(1, 2), smoke_ms=MEASURE_ONLY_BELOW_MS * 2)
    assert calls == []
    assert cost.estimate_ms(1) > MEASURE_ONLY_BELOW_MS


def test_typed_input_is_charged_its_whole_cost_per_call_and_per_row() -> None:
    def sleepy(inputs: ModelInput) -> list[Any]:
        threading.Event().wait(0.002)
        return [0, 0]

    cost = measure_cost(sleepy, Typed(np.zeros((2, 2)), rows=2), smoke_ms=2.0)
    assert cost.fixed_ms >= 2.0
    assert cost.per_row_ms == pytest.approx(cost.fixed_ms / 2)


def test_a_model_failing_a_timed_call_is_left_unmeasured() -> None:
    def fails(inputs: ModelInput) -> list[Any]:
        raise RuntimeError("only the smoke input worked")

    assert measure_cost(fails, rows(1), smoke_ms=0.1) is UNKNOWN_COST


# -- over real HTTP: a real MLflow server, the app as its image starts it


@pytest.mark.slow
def test_concurrent_requests_for_a_slow_model_are_batched_and_the_loop_keeps_answering(
    mlflow: MlflowServer, start_app: StartApp, tmp_path: Path
) -> None:
    """A model from code that takes 100 ms per call: far over the inline budget, so its calls run on a worker
    thread, and requests arriving while one runs share the next call."""
    name = "batching_slow_model"
    seed_variants(mlflow.url, name)
    point_alias(mlflow.url, name, "B", register_slow_version(mlflow.url, name, tmp_path))
    with start_app(MODEL_NAME=name, **SERVE_MODELS_FROM_CODE) as app:
        assert httpx.get(f"{app.url}/models").json()["variants"]["B"]["predict_cost_ms"]["fixed"] >= 100
        sizes = [1 + index % 3 for index in range(12)]
        finished: list[float] = []

        def post(size: int) -> httpx.Response:
            reply = httpx.post(f"{app.url}/variant/B/predict", json={"data": [IRIS_ROW] * size}, timeout=60)
            finished.append(time.monotonic())
            return reply

        with ThreadPoolExecutor(max_workers=len(sizes)) as clients:
            replies = clients.map(post, sizes)
            time.sleep(0.02)
            assert httpx.get(f"{app.url}/livez", timeout=30).status_code == 200
            livez_answered = time.monotonic()
            bodies = [reply.json() for reply in replies]
        assert [len(body["prediction"]) for body in bodies] == sizes  # each request its own rows' answers
        assert all(body["variant"] == "B" for body in bodies)
        assert livez_answered < max(finished)  # the probe did not wait for the predictions
        calls = metric(app, "serving_batch_requests_count")
        assert metric(app, "serving_batch_requests_sum") == len(sizes)
        assert calls < len(sizes)  # fewer model calls than requests: some shared one
