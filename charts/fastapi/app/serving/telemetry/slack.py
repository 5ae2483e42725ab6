"""Slack webhook alerts: posted in the background with a timeout, never able to change a response.

An unset webhook is a logged no-op; a down or slow webhook is logged (without its URL) and forgotten.
"""

from __future__ import annotations

import asyncio

import httpx
from loguru import logger
from pydantic import SecretStr


class SlackNotifier:
    def __init__(self, webhook_url: SecretStr | None, timeout_seconds: float) -> None:
        self._url = webhook_url
        self._timeout = timeout_seconds
        self._client: httpx.AsyncClient | None = None
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self._url is not None

    def notify(self, text: str) -> None:
        """Queue ``text`` for Slack and return at once (call from the event loop)."""
        if self._url is None:
            logger.info("slack disabled (SLACK_WEBHOOK_URL unset); not sent: {}", text)
            return
        task = asyncio.get_running_loop().create_task(self._post(self._url.get_secret_value(), text))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post(self, url: str, text: str) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await self._client.post(url, json={"text": text})
        except httpx.HTTPError as error:  # the exception text can carry the URL: log its type only
            logger.warning("slack webhook failed ({}); alert dropped", type(error).__name__)
            return
        if response.status_code >= 300:
            logger.warning("slack webhook answered HTTP {}; alert dropped", response.status_code)

    async def aclose(self) -> None:
        """Give queued alerts one timeout to finish, then close the client."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=self._timeout)
        if self._client is not None:
            await self._client.aclose()
