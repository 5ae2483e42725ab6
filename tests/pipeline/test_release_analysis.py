"""Canary analysis on real Prometheus exposition text: windows, counter resets, p99, the gates; the quality
gate on GET /experiment bodies in the app's shape."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from mlpipeline.release import analysis
from mlpipeline.release.analysis import VariantWindow
from mlpipeline.release.policy import ReleasePolicy
from mlpipeline.release.ports import Difference, ExperimentView, Verdict
from tests.pipeline.release_fakes import experiment_body

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1)


class Replica:
    """One replica's metrics, in the app's names and labels."""

    def __init__(self) -> None:
        self.metrics = CollectorRegistry()
        self.requests = Counter(
            "serving_requests_total", "r", ["variant", "version", "mode", "status"], registry=self.metrics
        )
        self.latency = Histogram(
            "serving_request_latency_seconds", "l", ["variant"], buckets=BUCKETS, registry=self.metrics
        )
        self.fallbacks = Counter("serving_fallbacks_total", "f", ["wanted", "served"], registry=self.metrics)

    def serve(self, variant: str, count: int, *, status: str = "200", seconds: float = 0.004) -> None:
        self.requests.labels(variant=variant, version="7", mode="canary", status=status).inc(count)
        for _ in range(count):
            self.latency.labels(variant=variant).observe(seconds)

    def text(self) -> str:
        return generate_latest(self.metrics).decode()


def test_parse_reads_the_three_metrics_and_nothing_else() -> None:
    replica = Replica()
    replica.serve("B", 3, status="500")
    replica.fallbacks.labels(wanted="B", served="A").inc(2)
    text = replica.text() + "# TYPE other_total counter\nother_total 5.0\n"

    series = analysis.parse(text)

    names = {name for name, _labels in series}
    assert names == {analysis.REQUESTS, analysis.LATENCY_BUCKETS, analysis.FALLBACKS}
    key = (analysis.REQUESTS, (("mode", "canary"), ("status", "500"), ("variant", "B"), ("version", "7")))
    assert series[key] == 3.0


def test_a_window_is_end_minus_start_summed_across_replicas() -> None:
    first, second = Replica(), Replica()
    first.serve("A", 100)
    second.serve("B", 40)
    start = {"1": analysis.parse(first.text()), "2": analysis.parse(second.text())}
    first.serve("A", 30)
    first.serve("B", 10, status="503")
    second.serve("B", 20)
    end = {"1": analysis.parse(first.text()), "2": analysis.parse(second.text())}

    summary = analysis.summarize(analysis.window(start[url], end[url]) for url in end)

    assert summary["A"].requests == 30
    assert (summary["B"].requests, summary["B"].errors) == (30, 10)
    assert summary["B"].buckets[-1] == (float("inf"), 30)


def test_a_counter_that_went_down_means_a_restart_and_the_end_value_is_the_window() -> None:
    before = Replica()
    before.serve("B", 500)
    restarted = Replica()
    restarted.serve("B", 12, status="500")
    restarted.serve("A", 600)  # grew past the old value: still a restart, B's counter says so

    start, end = analysis.parse(before.text()), analysis.parse(restarted.text())
    assert analysis.restarted(start, end)

    summary = analysis.summarize([analysis.window(start, end)])
    assert (summary["B"].requests, summary["B"].errors, summary["A"].requests) == (12, 12, 600)


def test_a_replica_that_appeared_during_the_window_counts_from_zero() -> None:
    replica = Replica()
    replica.serve("B", 7)

    summary = analysis.summarize([analysis.window(None, analysis.parse(replica.text()))])

    assert summary["B"].requests == 7


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [
        # 100 observations, 99th in the (0.01, 0.025] bucket that holds 50..100: 0.01 + 0.015 * 49/50
        (((0.005, 0.0), (0.01, 50.0), (0.025, 100.0), (float("inf"), 100.0)), 0.0247),
        # all in the first bucket: interpolated from 0
        (((0.005, 10.0), (0.01, 10.0), (float("inf"), 10.0)), 0.00495),
        # beyond the last finite bucket: its bound is all a histogram can say
        (((0.005, 0.0), (0.1, 0.0), (float("inf"), 10.0)), 0.1),
        ((), None),
        (((0.005, 0.0), (float("inf"), 0.0)), None),
    ],
)
def test_p99_interpolates_like_histogram_quantile(
    buckets: tuple[tuple[float, float], ...], expected: float | None
) -> None:
    assert analysis.quantile(0.99, buckets) == (None if expected is None else pytest.approx(expected))


POLICY = ReleasePolicy(min_requests=50, max_error_rate=0.01, max_p99_ratio=1.5)


def window(
    requests: float, errors: float = 0, p99_bucket: float = 0.004, fallbacks: float = 0
) -> VariantWindow:
    return VariantWindow(requests, errors, ((p99_bucket, requests), (float("inf"), requests)), fallbacks)


def lines(b: VariantWindow, a: VariantWindow) -> dict[str, str]:
    return {gate.gate: gate.line() for gate in analysis.evaluate(b, a, POLICY)}


def test_healthy_numbers_pass_every_gate() -> None:
    assert all(gate.passed for gate in analysis.evaluate(window(60), window(600), POLICY))


def test_each_gate_names_itself_and_its_numbers() -> None:
    failed = lines(window(40, errors=4, p99_bucket=0.2, fallbacks=3), window(400, errors=4, p99_bucket=0.05))

    assert failed == {
        "min_requests": "min_requests FAILED: B served 40 requests, at least 50 needed",
        "error_rate": "error_rate FAILED: B 5xx 10.00% (4/40) vs A 1.00% (4/400): +9.00%, at most +1.00%",
        "p99": "p99 FAILED: B 198.0 ms vs A 49.5 ms: at most 1.5 x A = 74.3 ms",
        "fallbacks": (
            "fallbacks FAILED: 3 requests that wanted B were served by A (B not loaded on every replica)"
        ),
    }


def test_an_error_rate_within_the_margin_of_a_passes() -> None:
    assert lines(window(100, errors=2), window(100, errors=1))["error_rate"].startswith("error_rate passed")


def test_p99_under_ten_ms_on_both_always_passes_and_without_a_baseline_it_cannot_fail() -> None:
    assert lines(window(100, p99_bucket=0.009), window(100, p99_bucket=0.001))["p99"] == (
        "p99 passed: B 8.9 ms, A 1.0 ms: both at most 10.0 ms"
    )
    assert lines(window(100, p99_bucket=0.2), VariantWindow())["p99"] == (
        "p99 passed: B 198.0 ms; no A requests to compare with"
    )


# ---------------------------------------------------------------------------------------- quality gate


def experiment(
    a: int, b: int, difference: tuple[float, float, float] | None, metric: str = "accuracy"
) -> str:
    view = ExperimentView.from_body("http://r", experiment_body(a, b, difference, metric=metric))
    return analysis.quality(view, 0.02).line()


def test_b_worse_than_a_beyond_the_margin_fails_the_quality_gate_with_its_numbers() -> None:
    assert experiment(200, 150, (-0.08, -0.12, -0.03)) == (
        "quality FAILED: accuracy B vs A -0.08 (interval -0.12 to -0.03, below 0: B worse; "
        "A 200, B 150 labelled in the window): B is worse than A by more than 0.02"
    )
    # MAE: the difference is A's error minus B's, so below 0 is B worse here too.
    assert experiment(80, 60, (-1.5, -2.25, -0.5), metric="mae").startswith(
        "quality FAILED: mae B vs A -1.5 (interval -2.25 to -0.5"
    )


@pytest.mark.parametrize(
    "difference",
    [
        (-0.01, -0.04, -0.02),  # worse with confidence, but the interval reaches the margin: not beyond it
        (-0.01, -0.05, 0.03),  # inconclusive
        (0.05, 0.02, 0.08),  # B better
    ],
)
def test_b_not_worse_beyond_the_margin_passes_the_quality_gate(
    difference: tuple[float, float, float],
) -> None:
    line = experiment(200, 150, difference)

    assert line.startswith("quality passed: accuracy B vs A ")
    assert line.endswith("A 200, B 150 labelled in the window): not worse than A by more than 0.02")


def test_without_labels_on_both_sides_the_quality_gate_passes_and_says_so() -> None:
    assert (
        experiment(0, 12, None) == "quality passed: no labels in the window to compare (A 0, B 12 labelled)"
    )
    assert (
        experiment(12, 0, None) == "quality passed: no labels in the window to compare (A 12, B 0 labelled)"
    )
    assert experiment(12, 3, None) == (
        "quality passed: no interval from the app yet (A 12, B 3 labelled in the window)"
    )


def test_an_experiment_that_could_not_be_read_fails_the_quality_gate() -> None:
    view = ExperimentView("", False, "http://r: GET /experiment: HTTP 404 Not Found")

    assert analysis.quality(view, 0.02).line() == (
        "quality FAILED: cannot read GET /experiment: http://r: GET /experiment: HTTP 404 Not Found"
    )


def test_the_experiment_body_is_read_for_exactly_the_fields_the_gate_needs() -> None:
    view = ExperimentView.from_body("http://r", experiment_body(100, 40, (-0.1, -0.2, 0.0)))

    assert view == ExperimentView("http://r", True, "", "accuracy", 100, 40, Difference(-0.1, -0.2, 0.0))
    assert ExperimentView.from_body("http://r", experiment_body(0, 0)).difference is None


DELETE = object()


def edited(path: str, value: object = DELETE) -> dict[str, Any]:
    """A readable body with the field at the dotted ``path`` set to ``value`` (or removed)."""
    body = experiment_body(100, 40, (-0.1, -0.2, 0.0))
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "the answer is not a JSON object"),
        (edited("metric"), "metric is None, not a name"),
        (edited("variants.A.labelled"), "variants.A.labelled is None, not a count"),
        (edited("variants.B.labelled", -1), "variants.B.labelled is -1, not a count"),
        (edited("variants.B.labelled", True), "variants.B.labelled is True, not a count"),
        (edited("variants.B.labelled", 2.5), "variants.B.labelled is 2.5, not a count"),
        (edited("variants.B"), "variants.B.labelled is None, not a count"),
        (edited("verdict.difference"), "verdict.difference is missing"),
        (edited("verdict.difference.upper"), "verdict.difference is {'estimate': -0.1, 'lower': -0.2}"),
        (edited("verdict.difference.lower", 0.5), "not null or finite estimate, lower <= upper"),
        (edited("verdict.difference.lower", "-0.2"), "not null or finite estimate, lower <= upper"),
        (edited("verdict.difference.upper", float("nan")), "not null or finite estimate, lower <= upper"),
    ],
)
def test_a_body_without_a_readable_field_is_unreadable_and_names_the_replica(
    body: object, reason: str
) -> None:
    view = ExperimentView.from_body("http://r", body)

    assert not view.ok
    assert view.detail.startswith("http://r: GET /experiment: ")
    assert reason in view.detail
    assert not analysis.quality(view, 0.02).passed


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("experiment_id", DELETE, "experiment_id is None, not a string"),
        ("experiment_id", 7, "experiment_id is 7, not a string"),
        ("verdict.result", DELETE, "verdict.result is None, not one of B_better, B_worse, inconclusive"),
        ("verdict.result", "b_better", "verdict.result is 'b_better', not one of"),
        ("verdict.labels_needed", DELETE, "verdict.labels_needed is missing"),
        ("verdict.labels_needed", 12.5, "verdict.labels_needed is 12.5, not null or a count"),
        ("verdict.labels_needed", True, "verdict.labels_needed is True, not null or a count"),
    ],
)
def test_the_verdict_is_read_strictly_for_a_conclusion_and_not_at_all_for_the_gate(
    path: str, value: object, reason: str
) -> None:
    body = edited(path, value)

    concluding = ExperimentView.from_body("http://r", body, verdict=True)
    gate = ExperimentView.from_body("http://r", body)

    assert not concluding.ok
    assert concluding.detail.startswith("http://r: GET /experiment: ")
    assert reason in concluding.detail
    assert gate.ok
    assert gate.verdict is None


def test_a_readable_verdict_is_read_whole() -> None:
    body = experiment_body(
        100, 40, (0.1, 0.02, 0.18), result="B_better", labels_needed=0, experiment_id="r-1"
    )

    view = ExperimentView.from_body("http://r", body, verdict=True)

    assert view.verdict == Verdict("r-1", "B_better", 0)
    body["verdict"]["labels_needed"] = None
    assert ExperimentView.from_body("http://r", body, verdict=True).verdict == Verdict(
        "r-1", "B_better", None
    )
