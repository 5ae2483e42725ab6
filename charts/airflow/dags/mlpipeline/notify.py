"""Slack alerts for the pipeline: the serving app's notifier design, synchronous (a task is one process).

A post has a timeout; an unset webhook is a logged no-op; a down, slow or refusing webhook is logged without
its URL (the URL is the secret) and never raises, so an alert can never fail a task by itself.
"""

from __future__ import annotations

import logging
import os

import httpx

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT_SECONDS = 5.0


class SlackNotifier:
    def __init__(self, webhook_url: str | None, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._url = (webhook_url or "").strip() or None
        self._timeout = timeout_seconds

    @classmethod
    def from_env(cls) -> SlackNotifier:
        """``SLACK_WEBHOOK_URL`` (empty or unset: disabled) and ``SLACK_TIMEOUT_SECONDS``."""
        try:
            timeout = float(os.environ.get("SLACK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
        except ValueError:
            timeout = DEFAULT_TIMEOUT_SECONDS
        return cls(
            os.environ.get("SLACK_WEBHOOK_URL"), timeout if 0 < timeout <= 60 else DEFAULT_TIMEOUT_SECONDS
        )

    def send(self, text: str) -> bool:
        """Post ``text``; True when Slack accepted it. Every outcome is logged, none raises."""
        log.info("slack: %s", text)
        if self._url is None:
            log.info("slack disabled (SLACK_WEBHOOK_URL unset); alert not sent")
            return False
        try:
            response = httpx.post(self._url, json={"text": text}, timeout=self._timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as error:  # its text can carry the URL: log the type only
            log.warning("slack webhook failed (%s); alert dropped", type(error).__name__)
            return False
        if response.status_code >= 300:
            log.warning("slack webhook answered HTTP %s; alert dropped", response.status_code)
            return False
        return True
