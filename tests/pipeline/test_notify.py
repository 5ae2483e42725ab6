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


@pytest.mark.parametrize("webhook", ["accepting", "refusing", "down"])
def test_no_log_line_carries_the_webhook_secret_even_at_debug(
    webhook: str, fresh_slack: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    # Every logger at DEBUG, as an operator chasing a problem would set it: httpx would log the full URL.
    caplog.set_level(logging.DEBUG)
    url, secret = fresh_slack.url, fresh_slack.path
    if webhook == "refusing":
        fresh_slack.status = 500
    elif webhook == "down":
        url = f"http://{LOOPBACK}:{free_port()}{secret}"

    sent = SlackNotifier(url, timeout_seconds=2).send("an alert")

    assert sent is (webhook == "accepting")
    assert caplog.records, "nothing was logged: the assertion below would prove nothing"
    assert secret not in caplog.text
    if webhook == "accepting":
        assert fresh_slack.messages == ["an alert"]


def test_from_env_reads_the_webhook_and_falls_back_to_a_sane_timeout(
    monkeypatch: pytest.MonkeyPatch, fresh_slack: WebhookReceiver
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", fresh_slack.url)
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", "not-a-number")
    assert SlackNotifier.from_env().send("from env") is True
    assert fresh_slack.messages == ["from env"]
