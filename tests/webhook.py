"""A real HTTP server on loopback standing in for Slack's webhook, shared by the app and pipeline suites."""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tooling.infra.localstack import LOOPBACK


class WebhookReceiver:
    """Records each post (raw body and its ``text``); answers ``status`` after ``delay_seconds``."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.messages: list[str] = []
        self.status = 200
        self.delay_seconds = 0.0
        self.path = f"/services/{secrets.token_hex(8)}"  # the secret part of a real webhook URL
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                threading.Event().wait(receiver.delay_seconds)
                receiver.bodies.append(body)
                receiver.messages.append(json.loads(body)["text"])
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self._server.server_port}{self.path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
