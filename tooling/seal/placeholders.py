"""The repository's SealedSecrets: every Secret the charts reference, per environment, with placeholders.

The Secrets are the shared contract (one per name, in the namespace that uses it). Their values are random
placeholders made at seal time and never shown: the repository works end to end on a cluster whose controller
holds the matching key, and a team reseals real values with ``make seal`` against its own controller's
certificate. A new certificate (``python -m tooling.seal placeholders --new-certificate``) is a fresh
controller-style key pair per environment of which only the certificate is kept, so nothing committed can be
unsealed by anyone."""

from __future__ import annotations

import datetime
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tooling.model import namespace
from tooling.seal.crypto import Scope
from tooling.seal.store import write_sealed_secret

CONTROLLER_KEY_BITS = 4096
CERTIFICATE_DAYS = 3650


@dataclass(frozen=True)
class SecretContract:
    component: str
    name: str
    keys: tuple[str, ...]
    values: tuple[str, ...] = ()
    """Which placeholder each key takes, when not the one of its own name (one MLflow user's credentials under
    the standard client variables)."""

    def namespace(self, env: str) -> str:
        return namespace(self.component, env)

    def placeholders(self, values: dict[str, str]) -> dict[str, str]:
        return {key: values[source] for key, source in zip(self.keys, self.values or self.keys, strict=True)}


MLFLOW_CLIENT_KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


CONTRACT: tuple[SecretContract, ...] = (
    SecretContract("fastapi", "fastapi-reload-token", ("RELOAD_SECRET_TOKEN",)),
    SecretContract("fastapi", "slack-webhook", ("SLACK_WEBHOOK_URL",)),
    SecretContract("fastapi", "fastapi-prediction-log", ("PREDICTION_LOG_URL",)),
    SecretContract("airflow", "fastapi-reload-token", ("RELOAD_SECRET_TOKEN",)),
    SecretContract("airflow", "slack-webhook", ("SLACK_WEBHOOK_URL",)),
    SecretContract("airflow", "airflow-metadata-db", ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",)),
    SecretContract(
        "airflow", "airflow-api-secrets", ("AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET")
    ),
    SecretContract("airflow", "airflow-admin-user", ("AIRFLOW_ADMIN_PASSWORD",)),
    SecretContract("mlflow", "mlflow-s3-credentials", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
    SecretContract("mlflow", "mlflow-backend-store", ("MLFLOW_BACKEND_STORE_URI",)),
    SecretContract(
        "mlflow",
        "mlflow-auth",
        ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"),
    ),
    SecretContract(
        "mlflow", "mlflow-users", ("READER_USERNAME", "READER_PASSWORD", "WRITER_USERNAME", "WRITER_PASSWORD")
    ),
    SecretContract("fastapi", "mlflow-reader", MLFLOW_CLIENT_KEYS, ("READER_USERNAME", "READER_PASSWORD")),
    SecretContract("airflow", "mlflow-writer", MLFLOW_CLIENT_KEYS, ("WRITER_USERNAME", "WRITER_PASSWORD")),
)
"""Secret name, namespace and keys, per environment (the Secrets every chart may reference)."""

PREDICTION_LOG_ON_POSTGRES = frozenset({"prod"})
"""Environments whose prediction log is a database and role of its own on the PostgreSQL that MLflow's backend
store runs on (sealed-secrets/README.md creates them). Elsewhere the URL is empty, so the app keeps its SQLite
file on the log volume: dev's MLflow has no PostgreSQL, and its single replica needs no shared log."""


def placeholder_values(env: str) -> dict[str, str]:
    """One value per key for an environment; a key shared by two namespaces (the reload token the pipeline
    presents to the serving app) gets the same value in both."""
    password = secrets.token_urlsafe(24)
    airflow, mlflow = namespace("airflow", env), namespace("mlflow", env)
    postgres = f"{mlflow}-postgresql.{mlflow}.svc:5432"
    return {
        "RELOAD_SECRET_TOKEN": secrets.token_urlsafe(32),
        # Empty means "not configured" to the app and the pipeline: no Slack until a real webhook is sealed.
        "SLACK_WEBHOOK_URL": "",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://airflow:{password}@{airflow}-postgresql.{airflow}.svc:5432/airflow"
        ),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(24),
        "AWS_ACCESS_KEY_ID": "".join(
            secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20)
        ),
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "MLFLOW_BACKEND_STORE_URI": f"postgresql://mlflow:{secrets.token_urlsafe(24)}@{postgres}/mlflow",
        # MLflow's basic-auth users: the same reader and writer in mlflow-users (which creates them)
        # and in the Secrets of the components that log in as them.
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": secrets.token_urlsafe(24),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(32),
        "READER_USERNAME": "serving-reader",
        "READER_PASSWORD": secrets.token_urlsafe(24),
        "WRITER_USERNAME": "pipeline-writer",
        "WRITER_PASSWORD": secrets.token_urlsafe(24),
        "PREDICTION_LOG_URL": (
            f"postgresql+psycopg://prediction_log:{secrets.token_urlsafe(24)}@{postgres}/prediction_log"
            if env in PREDICTION_LOG_ON_POSTGRES
            else ""
        ),
    }


def new_controller_certificate(env: str) -> bytes:
    """A certificate like the sealed-secrets controller makes for itself; the private key is dropped."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=CONTROLLER_KEY_BITS)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"sealed-secret ({env}, repository placeholder)"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def seal_placeholders(root: Path, env: str, use_kubeseal: bool = True) -> list[Path]:
    values = placeholder_values(env)
    return [
        write_sealed_secret(
            root,
            env,
            contract.namespace(env),
            contract.name,
            Scope.STRICT,
            contract.placeholders(values),
            replace=True,
            use_kubeseal=use_kubeseal,
        )
        for contract in CONTRACT
    ]
