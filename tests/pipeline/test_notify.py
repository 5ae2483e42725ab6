"""The pipeline's Slack notifier against a real HTTP receiver: it never raises and never logs the URL."""

from __future__ import annotations

import logging

import pytest

from mlpipeline.notify import SlackNotifier
from tests.webhook import WebhookReceiver
from tooling.infra.localstack import LOOPBACK, free_port


def test_a_message_is_posted(fresh_slack: WebhookReceiver) -> None:
    assert SlackNotifier(fresh_slack.url).send("hello") is True
    assert fresh_slack.messages == ["hello"]


def test_a_refusing_webhook_is_reported_not_raised(fresh_slack: WebhookReceiver) -> None:
    fresh_slack.status = 500
    assert SlackNotifier(fresh_slack.url).send("lost") is False


def test_a_slow_webhook_is_abandoned_after_the_timeout(fresh_slack: WebhookReceiver) -> None:
    fresh_slack.delay_seconds = 2.0
    assert SlackNotifier(fresh_slack.url, timeout_seconds=0.2).send("late") is False


@pytest.mark.parametrize("url", [None, "", "   "])
def test_an_unset_webhook_is_a_no_op(url: str | None) -> None:
    assert SlackNotifier(url).send("nobody listens") is False


def test_down_or_malformed_webhooks_never_leak_the_url(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    down = f"http://{LOOPBACK}:{free_port()}/services/T/B/secret-down"
    malformed = "htp:/secret-malformed"

    assert SlackNotifier(down, timeout_seconds=1).send("one") is False
    assert SlackNotifier(malformed).send("two") is False

    assert "secret-down" not in caplog.text
    assert "secret-malformed" not in caplog.text
    assert "slack webhook failed (ConnectError)" in caplog.text


def test_from_env_reads_the_webhook_and_falls_back_to_a_sane_timeout(
    monkeypatch: pytest.MonkeyPatch, fresh_slack: WebhookReceiver
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", fresh_slack.url)
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", "not-a-number")
    assert SlackNotifier.from_env().send("from env") is True
    assert fresh_slack.messages == ["from env"]
