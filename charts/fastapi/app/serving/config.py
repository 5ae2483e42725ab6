"""Every setting of the serving app, read from environment variables and validated at start-up.

The Helm chart sets exactly these variables (``make validate`` checks both directions), so a field
added here needs a value in ``charts/fastapi/values.yaml`` too.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVED_VARIANTS: tuple[str, ...] = ("A", "B")
"""The registry aliases this app serves; nothing else can be loaded, reloaded or routed to."""

Variant = Literal["A", "B"]
Percent = Annotated[int, Field(ge=0, le=100)]


class RoutingMode(StrEnum):
    AB_TEST = "ab_test"
    CANARY = "canary"
    BLUE_GREEN = "blue_green"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    mlflow_tracking_uri: str = Field(min_length=1, description="MLflow tracking server URL")
    model_name: str = Field(default="best_model", min_length=1)
    alias_selection_mode: RoutingMode = RoutingMode.BLUE_GREEN
    default_alias: Variant = "A"
    canary_percent: Percent = 10
    ab_split_percent: Percent = Field(default=90, description="share of clients sent to A in ab_test")
    reload_secret_token: SecretStr | None = None
    slack_webhook_url: SecretStr | None = None
    slack_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    log_file: str = Field(default="/app/logs/fastapi.log", description="empty: stdout only")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_batch_rows: int = Field(default=1000, ge=1, le=100_000)
    registry_poll_seconds: float = Field(default=30.0, ge=0, description="0 disables the watcher")
    startup_load_attempts: int = Field(default=5, ge=1, le=100)
    startup_retry_seconds: float = Field(default=2.0, ge=0, le=60)

    @model_validator(mode="after")
    def _empty_secrets_mean_unset(self) -> Settings:
        # Kubernetes renders an absent optional secret key as "", which must mean "not configured".
        for name in ("reload_secret_token", "slack_webhook_url"):
            value = getattr(self, name)
            if value is not None and not value.get_secret_value().strip():
                object.__setattr__(self, name, None)
        return self


def describe_error(error: ValidationError) -> str:
    """One line naming the first offending variable and the problem, never its value."""
    first = error.errors()[0]
    variable = str(first["loc"][0]).upper() if first["loc"] else "configuration"
    return f"invalid configuration: {variable}: {first['msg']}"


def load_settings() -> Settings:
    """Read the environment; on a bad value print one line and exit non-zero (the pod restarts visibly)."""
    try:
        return Settings()  # type: ignore[call-arg]  # fields come from the environment
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        raise SystemExit(2) from None
