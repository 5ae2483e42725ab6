"""The app against hostile or careless clients and a stalled log sink, as a real process over real HTTP.

Body and column limits before parsing, an event loop that keeps answering while a body arrives, log lines a
request cannot forge, the reload token's whitespace rule, authentication before an alias is named, logging
that drops instead of blocking (uvicorn's own records too), and slow clients that cannot hold others up.
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlpipeline.release.fleet import normalize_token as pipeline_normalize_token
from serving.config import normalize_token as app_normalize_token
from tests.app.conftest import StartApp
from tests.app.support import IRIS_ROW, TOKEN, predict, reload, wait_for
from tooling.infra.localstack import (
    LOOPBACK,
    MlflowServer,
    ServerProcess,
    app_command,
    app_server,
    free_port,
    inherited_environment,
    stop_process,
)
from tooling.model import APP_DIR

pytestmark = pytest.mark.slow

BODY_LIMIT = 64 * 1024
FEATURE_LIMIT = 8
TOO_LARGE = {"detail": f"request body is larger than {BODY_LIMIT} bytes (MAX_BODY_BYTES)"}


@pytest.fixture(scope="module")
def app(
    mlflow: MlflowServer, seeded_versions: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    logs = tmp_path_factory.mktemp("hardening")
    env = {
        **mlflow.serving_env(), "RELOAD_SECRET_TOKEN": TOKEN,
        "LOG_FILE": str(logs / "fastapi.log"), "MAX_BODY_BYTES": str(BODY_LIMIT),
        "MAX_FEATURES": str(FEATURE_LIMIT),
    }  # fmt: skip
    with app_server(env, logs / "app.out") as server:
        yield server


def log_file(app: ServerProcess) -> Path:
    return app.log_path.parent / "fastapi.log"


def port_of(app: ServerProcess) -> int:
    return int(app.url.rsplit(":", 1)[1])


# Not HTTP (a request line with an escape sequence and a newline in it): uvicorn answers 400 and logs its
# warning on the event loop, once per connection, for anything any client sends.
MALFORMED = b"GET /\x1b[2J\n2026-01-01T00:00:00.000Z INFO smuggled HTTP/1.1\r\nHost: app\r\n\r\n"
INVALID_REQUEST = " WARNING uvicorn.error: Invalid HTTP request received."


def send_malformed(port: int) -> bytes:
    """One connection, one malformed request: uvicorn's answer, read until it closes the connection."""
    with socket.create_connection((LOOPBACK, port), timeout=30) as raw:
        raw.sendall(MALFORMED)
        answer = b""
        while received := raw.recv(65536):
            answer += received
    return answer


def dropped_log_records(client: httpx.Client) -> float:
    metrics = client.get("/metrics").text
    line = next(line for line in metrics.splitlines() if line.startswith("serving_log_records_dropped_total"))
    return float(line.split()[-1])


def padded_body(size: int) -> bytes:
    """A valid predict body of ``size`` bytes (whitespace after the JSON)."""
    body = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'
    return body + b" " * (size - len(body))


def test_a_body_declared_over_the_limit_is_refused_unread(app: ServerProcess) -> None:
    """Content-Length of 10 GB and no body sent at all: the answer comes at once, naming the limit."""
    with socket.create_connection((LOOPBACK, int(app.url.rsplit(":", 1)[1])), timeout=30) as raw:
        raw.sendall(
            b"POST /predict HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        answer: bytes | str = b""
        while not answer.endswith(b"}") and (received := raw.recv(65536)):
            answer += received
    answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413 ")
    assert answer.endswith('{"detail":"request body is larger than 65536 bytes (MAX_BODY_BYTES)"}')


def test_a_body_over_the_limit_is_413_with_a_json_detail(app: ServerProcess) -> None:
    response = httpx.post(
        f"{app.url}/predict",
        content=padded_body(BODY_LIMIT + 1),
        headers={"content-type": "application/json"},
    )
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    at_limit = httpx.post(
        f"{app.url}/predict", content=padded_body(BODY_LIMIT), headers={"content-type": "application/json"}
    )
    assert at_limit.status_code == 200


def test_a_chunked_body_without_a_length_is_cut_at_the_limit(app: ServerProcess) -> None:
    chunk = b" " * 4096

    def chunks() -> Iterator[bytes]:  # a generator body: httpx sends it chunked, with no Content-Length
        yield b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'
        for _ in range(2 * BODY_LIMIT // len(chunk)):
            yield chunk

    response = httpx.post(
        f"{app.url}/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert "content-length" not in response.request.headers
    feedback = httpx.post(
        f"{app.url}/feedback", content=chunks(), headers={"content-type": "application/json"}
    )
    assert (feedback.status_code, feedback.json()) == (413, TOO_LARGE)
    assert predict(app).status_code == 200  # the process is fine afterwards


def test_the_event_loop_answers_while_a_body_is_still_arriving(app: ServerProcess) -> None:
    half_sent, livez_answered = threading.Event(), threading.Event()
    results: list[httpx.Response] = []

    def slow_body() -> Iterator[bytes]:
        yield b'{"data": [[5.1, 3.5, 1.4, 0.2]]'
        half_sent.set()
        livez_answered.wait(60)
        yield b"}"

    def send() -> None:
        results.append(
            httpx.post(
                f"{app.url}/predict", content=slow_body(), headers={"content-type": "application/json"}
            )
        )

    sender = threading.Thread(target=send)
    sender.start()
    assert half_sent.wait(60)
    try:
        livez = httpx.get(f"{app.url}/livez", timeout=30)
    finally:
        livez_answered.set()
        sender.join(60)
    assert livez.json() == {"status": "alive"}
    assert results[0].status_code == 200


def test_a_row_wider_than_max_features_is_a_422_naming_the_limit(app: ServerProcess) -> None:
    response = httpx.post(f"{app.url}/predict", json={"data": [[1.0] * (FEATURE_LIMIT + 1)]})
    assert response.status_code == 422
    assert response.json() == {
        "detail": f"data[0] has 9 values; at most {FEATURE_LIMIT} features are accepted per row"
    }


def test_a_path_cannot_forge_log_lines(app: ServerProcess) -> None:
    """``%0A`` decodes to a newline in the path the log line carries; it must stay one escaped line."""
    forged = "2026-01-01T00:00:00.000Z INFO request id=forged POST /variant/B/reload status=200"
    response = httpx.post(
        f"{app.url}/predict%0A{forged.replace(' ', '%20')}%1B[2J", json={"data": [IRIS_ROW]}
    )
    assert response.status_code == 404

    def logged() -> list[str]:
        return [line for line in log_file(app).read_text().splitlines() if "id=forged" in line]

    assert wait_for(lambda: len(logged()) == 1)
    [line] = logged()
    assert " INFO request id=" in line.split("id=forged")[0]  # the app's own line, not the forged one
    assert "/predict\\n2026-01-01" in line
    assert "\\x1b[2J" in line
    assert "\x1b" not in log_file(app).read_text()


def test_an_unknown_alias_is_named_only_to_a_caller_with_the_token(app: ServerProcess) -> None:
    assert reload(app, "nonexistent", token=None).status_code == 401
    assert reload(app, "nonexistent", token="wrong").status_code == 403
    assert reload(app, "nonexistent").status_code == 404


@pytest.mark.usefixtures("seeded_versions")
def test_a_token_with_a_trailing_newline_is_the_token(start_app: StartApp) -> None:
    """A ``kubectl create secret --from-file`` token keeps the file's newline: it is not part of the token."""
    with start_app(RELOAD_SECRET_TOKEN=TOKEN + "\n", REGISTRY_POLL_SECONDS="0") as app:
        assert reload(app, "A").status_code == 200
        assert (
            httpx.post(f"{app.url}/release/sync", headers={"x-token": TOKEN}, timeout=60).status_code == 200
        )
        assert reload(app, "A", token=TOKEN + "x").status_code == 403


@pytest.mark.parametrize("raw", [TOKEN, TOKEN + "\n", f" \t{TOKEN}\r\n", "\n", "", "a b"])
def test_the_app_and_the_pipeline_normalize_the_token_by_one_rule(raw: str) -> None:
    assert app_normalize_token(raw) == pipeline_normalize_token(raw)


def test_uvicorn_s_own_records_go_through_the_app_s_log_escaped_and_once(app: ServerProcess) -> None:
    """uvicorn's loggers write with the app's format into the app's log file (its own stderr handler is gone),
    each record once, its access log stays off (``--no-access-log``), and nothing a client sent reaches a line
    unescaped."""

    def lines(path: Path, text: str) -> list[str]:
        return [line for line in path.read_text().splitlines() if line.endswith(text)]

    before = len(lines(log_file(app), INVALID_REQUEST))
    answer = send_malformed(port_of(app))
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b"Invalid HTTP request received.")
    assert wait_for(lambda: len(lines(log_file(app), INVALID_REQUEST)) == before + 1)
    # The same record on stdout once: the writer thread's other sink, not a second handler.
    assert wait_for(lambda: len(lines(app.log_path, INVALID_REQUEST)) == before + 1)
    logged, output = log_file(app).read_text(), app.log_path.read_text()
    assert len(lines(log_file(app), " INFO uvicorn.error: Application startup complete.")) == 1
    assert "smuggled" not in logged
    assert "\x1b" not in logged
    assert "WARNING:  Invalid HTTP request received." not in output  # uvicorn's own format: its handler wrote
    assert "INFO:     " not in output
    assert '"GET /livez HTTP/1.1" 200' not in logged  # the access log stays off


@pytest.mark.usefixtures("seeded_versions")
def test_a_stalled_log_sink_never_stalls_a_request(start_app: StartApp, tmp_path: Path) -> None:
    """LOG_FILE is a FIFO nobody reads: opening it for writing never returns. Requests are answered and the
    lines that cannot be written are dropped and counted. uvicorn's per-connection warnings take the same way:
    a flood of malformed requests is dropped and counted too, and none of it is written around the queue."""
    fifo = tmp_path / "stalled" / "fastapi.log"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with (
        start_app(LOG_FILE=str(fifo), LOG_QUEUE_SIZE="20") as app,
        httpx.Client(base_url=app.url, timeout=30) as client,
    ):
        statuses = [client.get("/livez").status_code for _ in range(100)]
        assert statuses == [200] * 100
        assert client.post("/predict", json={"data": [IRIS_ROW]}).status_code == 200
        assert dropped_log_records(client) >= 80
        before = dropped_log_records(client)
        for _ in range(10):
            for _ in range(20):
                assert send_malformed(port_of(app)).startswith(b"HTTP/1.1 400 ")
            assert client.get("/livez", timeout=5).status_code == 200
        assert dropped_log_records(client) - before >= 200
        output = app.log_path.read_text()
    assert "Invalid HTTP request received." not in output  # nor on stderr: all of it waits in the queue


@pytest.mark.usefixtures("seeded_versions")
def test_a_stalled_stdout_never_stalls_the_event_loop(mlflow: MlflowServer, tmp_path: Path) -> None:
    """stdout and stderr are a pipe that stops being read (a stuck log collector): once the pipe is full every
    write to it waits. A flood of malformed requests, each a warning uvicorn logs on the event loop, would
    fill it twice over; /livez is answered throughout, the records are dropped and counted, and once the pipe
    is read again the writer says how many were lost."""
    port = free_port()
    env = {
        **inherited_environment(), **mlflow.serving_env(), "LOG_FILE": "", "LOG_QUEUE_SIZE": "50",
        "REGISTRY_POLL_SECONDS": "0", "PREDICTION_LOG_URL": f"sqlite:///{tmp_path / 'predictions.db'}",
    }  # fmt: skip
    process = subprocess.Popen(
        app_command(port), cwd=APP_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    pipe = process.stdout.fileno()
    read: list[bytes] = []
    reading = threading.Event()

    def drain() -> None:  # reads only while ``reading`` is set; waits for it otherwise
        while process.poll() is None:
            if not reading.wait(0.1):
                continue
            if select.select([pipe], [], [], 0.1)[0] and reading.is_set():
                if not (chunk := os.read(pipe, 65536)):
                    return
                read.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reading.set()
    reader.start()
    try:
        with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=10) as client:

            def up() -> bool:
                try:
                    return client.get("/livez", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            assert wait_for(up, timeout=120), b"".join(read).decode(errors="replace")[-4000:]
            reading.clear()  # from here on nobody reads the pipe
            flood = 3 * fcntl.fcntl(pipe, fcntl.F_GETPIPE_SZ) // 100  # a warning's line: more than 80 bytes
            for sent in range(flood):
                assert send_malformed(port).startswith(b"HTTP/1.1 400 ")
                if sent % 100 == 0:
                    assert client.get("/livez", timeout=5).status_code == 200
            assert client.get("/livez", timeout=5).status_code == 200
            assert dropped_log_records(client) >= flood // 5
            reading.set()
            assert wait_for(lambda: b"log records were dropped: the log sink stalled" in b"".join(read))
    finally:
        reading.set()  # the shutdown's last lines are written straight to stderr
        stop_process(process)
        reader.join(10)


def test_slow_clients_trickling_headers_do_not_hold_up_another_client(app: ServerProcess) -> None:
    """Twenty connections each send a request's headers one byte at a time, never finishing; between their
    bytes another client's requests are all answered."""
    port = int(app.url.rsplit(":", 1)[1])
    slow = [socket.create_connection((LOOPBACK, port), timeout=30) for _ in range(20)]
    try:
        for connection in slow:
            connection.sendall(b"POST /predict HTTP/1.1\r\nHost: app\r\nX-Slow: ")
        with httpx.Client(base_url=app.url, timeout=30) as client:
            for _ in range(30):
                for connection in slow:
                    connection.sendall(b"a")
                assert client.post("/predict", json={"data": [IRIS_ROW]}).status_code == 200
    finally:
        for connection in slow:
            connection.close()
