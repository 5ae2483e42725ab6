#!/usr/bin/env bash
# Re-resolve every lock file from its pinned inputs: one lock per deployable (app, mlflow, airflow images) plus tooling.
set -euo pipefail
cd "$(dirname "$0")/.."
compile() { uv pip compile --quiet --python-version 3.11 --universal "$@"; }
compile charts/fastapi/app/requirements.txt -o charts/fastapi/app/requirements.lock
compile charts/mlflow/requirements.txt -o charts/mlflow/requirements.lock
compile charts/airflow/requirements.txt -o charts/airflow/requirements.lock
compile requirements/dev.in -o requirements/dev.lock
compile requirements/checkov.in -o requirements/checkov.lock
