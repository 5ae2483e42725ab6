"""Every setting of the serving app, read from environment variables and validated at start-up.

The Helm chart sets exactly these variables (``make validate`` checks both directions), so a field
added here needs a value in ``charts/fastapi/values.yaml`` too.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVED_VARIANTS: tuple[str, ...] = ("A", "B")
"""The registry aliases this app serves; nothing else can be loaded, reloaded or routed to."""

CLIENT_ROUTES: tuple[str, ...] = (
    "/predict",
    *(f"/variant/{variant}/predict" for variant in SERVED_VARIANTS),
    "/feedback",
    "/health",
    "/v2",
    "/invocations",
    "/ping",
    "/version",
)
"""The only paths the chart's ingress may route from outside the cluster (``make validate`` holds it to them):
our protocol, the Open Inference Protocol v2 (``/v2`` and below: metadata, health, inference) and MLflow's
scoring protocol. Everything else is an operator's: reload, release and its sync, /experiment, /models,
/metrics, the docs."""

Variant = Literal["A", "B"]
Percent = Annotated[int, Field(ge=0, le=100)]
MOST_ROWS_PER_REQUEST = 100_000
"""The ceiling of MAX_BATCH_ROWS: no request, and so no label list, is ever longer."""
MOST_FEATURES_PER_ROW = 100_000
"""The ceiling of MAX_FEATURES."""
MOST_BODY_BYTES = 256 * 1024 * 1024
"""The ceiling of MAX_BODY_BYTES."""


def normalize_token(value: str) -> str:
    """The one rule for the reload token, applied to the configured secret and to every presented
    ``x-token``: surrounding whitespace is not part of it (``kubectl create secret --from-file`` keeps the
    file's newline). The pipeline sends its token by the same rule (``mlpipeline.release.fleet``)."""
    return value.strip()


class RoutingMode(StrEnum):
    AB_TEST = "ab_test"
    CANARY = "canary"
    BLUE_GREEN = "blue_green"
    SHADOW = "shadow"


class ModelTask(StrEnum):
    """How feedback is graded: equality (accuracy) or absolute error (MAE); ``auto`` reads the signature."""

    AUTO = "auto"
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    mlflow_tracking_uri: str = Field(min_length=1, description="MLflow tracking server URL")
    # MLflow's client reads these two from the environment itself; they are declared so the chart's contract
    # names them and the password is masked in every log line.
    mlflow_tracking_username: str | None = Field(default=None, description="MLflow's read-only user")
    mlflow_tracking_password: SecretStr | None = None
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
    log_queue_size: int = Field(
        default=10_000, ge=1, le=1_000_000, description="lines waiting for a stalled sink"
    )
    max_batch_rows: int = Field(default=1000, ge=1, le=MOST_ROWS_PER_REQUEST)
    max_features: int = Field(default=1000, ge=1, le=MOST_FEATURES_PER_ROW, description="values per row")
    # 1000 rows of 100 features at ~25 bytes per JSON number is ~2.5 MB: the default leaves room above that.
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, le=MOST_BODY_BYTES, description="larger bodies: 413, never parsed"
    )
    inline_predict_ms: float = Field(
        default=0.5, ge=0, le=10,
        description="a prediction whose cost (measured at load) is at most this runs on the event loop; "
        "0: every prediction runs on a worker thread",
    )  # fmt: skip
    adaptive_batching: bool = Field(
        default=True, description="coalesce concurrent float-row predictions for one variant into one call"
    )
    adaptive_batch_max_rows: int = Field(default=1024, ge=1, le=MOST_ROWS_PER_REQUEST)
    adaptive_batch_wait_ms: float = Field(
        default=0.0, ge=0, le=100,
        description="longest a batch waits to fill; 0: it holds what arrived while the previous one ran",
    )  # fmt: skip
    registry_poll_seconds: float = Field(default=30.0, ge=0, description="0 disables the watcher")
    startup_load_attempts: int = Field(default=5, ge=1, le=100)
    startup_retry_seconds: float = Field(default=2.0, ge=0, le=60)
    experiment_id: str = Field(
        default="", max_length=128, description="salt of the bucket hash; a release state's id overrides it"
    )
    experiment_alpha: float = Field(default=0.05, gt=0, lt=0.5)
    model_task: ModelTask = ModelTask.AUTO
    prediction_log_enabled: bool = True
    prediction_log_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL; unset: an SQLite file beside LOG_FILE"
    )
    prediction_log_features: bool = Field(default=False, description="also record the input rows")
    prediction_log_queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
    prediction_log_batch_size: int = Field(default=500, ge=1, le=10_000)
    prediction_log_flush_seconds: float = Field(
        default=0.1, ge=0, le=10, description="longest a record waits for its batch to fill"
    )
    feedback_max_items: int = Field(default=1000, ge=1, le=100_000)
    shadow_sample_percent: Percent = 100
    shadow_queue_size: int = Field(default=64, ge=1, le=100_000)
    allow_code_executing_models: bool = Field(
        default=False,
        description="also load formats whose loading runs the model's code (pickle, cloudpickle, models "
        "from code); off: only sklearn models serialized with skops, whose types the app trusts",
    )

    @field_validator("reload_secret_token", mode="before")
    @classmethod
    def _normalized_token(cls, value: object) -> object:
        return normalize_token(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _empty_secrets_mean_unset(self) -> Settings:
        # Kubernetes renders an absent optional secret key as "", which must mean "not configured".
        for name in (
            "reload_secret_token",
            "slack_webhook_url",
            "prediction_log_url",
            "mlflow_tracking_password",
        ):
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
