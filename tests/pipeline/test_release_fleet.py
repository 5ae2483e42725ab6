"""HttpFleet against real HTTP servers on loopback: one answer per replica, failures never hidden."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from mlpipeline.release.fleet import HttpFleet
from mlpipeline.release.ports import Difference, Verdict
from tests.pipeline.release_fakes import experiment_body

TOKEN = "fleet-token"
RELEASE = {
    "model_name": "best_model",
    "mode": "canary",
    "live": "A",
    "canary_percent": 25,
    "ab_split_percent": 90,
    "experiment_id": None,
    "release_id": "r-1",
    "phase": "releasing",
    "candidate": "7",
    "versions": {"A": "3", "B": "7"},
    "sources": {},
    "state_error": None,
}


class ReplicaServer(ThreadingHTTPServer):
    """A replica whose ``GET /experiment`` answer a test sets: a body, raw text, or None for the 404 of an
    app that has no such endpoint; the ``since`` of every query is kept."""

    experiment: object = None
    since: list[str]
    queries: list[str]


class Replica(BaseHTTPRequestHandler):
    server: ReplicaServer

    def _reply(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/experiment" and self.server.experiment is not None:
            self.server.since.extend(parse_qs(url.query).get("since", []))
            self.server.queries.append(url.query)
            answer = self.server.experiment
            self._reply(200, answer, "text/plain" if isinstance(answer, str) else "application/json")
        elif self.path == "/release":
            self._reply(200, RELEASE)
        elif self.path == "/metrics":
            self._reply(
                200,
                'serving_requests_total{variant="B",version="7",mode="canary",status="200"} 4.0\n',
                "text/plain",
            )
        else:
            self._reply(404, {"detail": "not found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/release/sync":
            if self.headers.get("x-token") != TOKEN:
                self._reply(401, {"detail": "invalid token"})
            else:
                self._reply(200, RELEASE)
        elif self.path == "/variant/B/predict":
            rows = json.loads(body)["data"]
            self._reply(200, {"variant": "B", "version": "7", "prediction": [0] * len(rows)})
        else:
            self._reply(404, {"detail": "not found"})

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def replica_server() -> Iterator[ReplicaServer]:
    server = ReplicaServer(("127.0.0.1", 0), Replica)
    server.since = []
    server.queries = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server: ReplicaServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def replica(replica_server: ReplicaServer) -> str:
    return url_of(replica_server)


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_every_replica_answers_on_its_own(replica: str, closed_port: str) -> None:
    fleet = HttpFleet(f"{replica},{closed_port}", TOKEN)

    synced = fleet.sync_all()
    status = fleet.status_all()
    metrics = fleet.metrics_all()
    predicted = fleet.predict_all("B", [[5.1, 3.5, 1.4, 0.2]])

    for views in (synced, status):
        assert [view.ok for view in views] == [True, False]
        assert views[0].versions == {"A": "3", "B": "7"}
        assert (views[0].mode, views[0].canary_percent, views[0].release_id) == ("canary", 25, "r-1")
        assert views[1].line() == f"{closed_port}: FAILED (unreachable: ConnectError)"
    assert "serving_requests_total" in (metrics[0].text or "")
    assert (metrics[1].text, metrics[1].detail) == (None, "unreachable: ConnectError")
    assert predicted[0].line() == f"{replica}: ok v7 (prediction [0])"
    assert not predicted[1].ok


def test_a_refused_sync_names_the_replica_and_the_reason(replica: str) -> None:
    fleet = HttpFleet(replica, "wrong-token")

    [view] = fleet.sync_all()

    assert view.line() == f"{replica}: FAILED (POST /release/sync: HTTP 401 invalid token)"
    assert view.token_rejected
    assert not any(view.token_rejected for view in HttpFleet(replica, "wrong-token").status_all())


def test_a_missing_token_is_reported_before_any_call() -> None:
    assert HttpFleet("http://127.0.0.1:1", "").sync_problem() == (
        "RELOAD_SECRET_TOKEN is not set: POST /release/sync on the replicas needs it"
    )


SINCE = datetime(2026, 11, 24, 10, 2, 3, 123456, tzinfo=timezone(timedelta(hours=9)))  # 01:02:03 UTC


def test_experiment_is_read_from_the_first_replica_that_answers_with_the_window_start_in_utc(
    replica_server: ReplicaServer, closed_port: str
) -> None:
    replica_server.experiment = experiment_body(120, 40, (-0.2, -0.3, -0.1))
    replica = url_of(replica_server)

    view = HttpFleet(f"{closed_port},{replica}", TOKEN).experiment(SINCE)

    assert view.ok, view.detail
    assert (view.url, view.metric, view.a_labelled, view.b_labelled) == (replica, "accuracy", 120, 40)
    assert view.difference == Difference(-0.2, -0.3, -0.1)
    # One query, its "+00:00" intact through the query string (an unescaped "+" would arrive as a space).
    assert replica_server.since == ["2026-11-24T01:02:03.123456+00:00"]
    assert datetime.fromisoformat(replica_server.since[0]) == SINCE.astimezone(UTC)


def test_an_app_without_get_experiment_or_an_unreadable_answer_fails_naming_each_replica(
    replica_server: ReplicaServer, closed_port: str
) -> None:
    older = url_of(replica_server)  # experiment None: 404, as an app image without the endpoint answers

    view = HttpFleet(f"{older},{closed_port}", TOKEN).experiment(SINCE)

    assert not view.ok
    assert view.detail == (
        f"{older}: GET /experiment: HTTP 404 not found; {closed_port}: unreachable: ConnectError"
    )
    replica_server.experiment = "<html>proxy error</html>"
    assert (
        HttpFleet(older, TOKEN).experiment(SINCE).detail
        == f"{older}: GET /experiment: the answer is not JSON"
    )
    replica_server.experiment = {"metric": "accuracy", "variants": {}}
    assert HttpFleet(older, TOKEN).experiment(SINCE).detail == (
        f"{older}: GET /experiment: variants.A.labelled is None, not a count"
    )


def test_the_whole_experiment_is_read_without_since_and_with_its_verdict(
    replica_server: ReplicaServer,
) -> None:
    replica_server.experiment = experiment_body(
        120, 40, (0.1, 0.02, 0.18), result="B_better", labels_needed=0, experiment_id="r-1"
    )
    fleet = HttpFleet(url_of(replica_server), TOKEN)

    whole = fleet.experiment()
    window = fleet.experiment(SINCE)

    assert replica_server.queries == ["", "since=2026-11-24T01%3A02%3A03.123456%2B00%3A00"]
    assert whole.verdict == Verdict("r-1", "B_better", 0)
    assert (whole.a_labelled, whole.b_labelled, whole.difference) == (120, 40, Difference(0.1, 0.02, 0.18))
    assert window.ok
    assert window.verdict is None  # the quality gate's reading is what it was
