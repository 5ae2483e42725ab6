# The stable interface. Every target installs what it needs (bin/bootstrap, from the lock files).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
BOOTSTRAP := bin/bootstrap
export PATH := $(CURDIR)/.tools/bin:$(PATH)

# A value given on make's command line is data, never make syntax: each is held verbatim (a `$(shell ...)` in it
# is not expanded) and exported, as make exports command-line variables. Recipes read such values from their
# environment ("$$REF"), so no value is ever pasted into a shell command line.
$(foreach var,$(.VARIABLES),$(if $(filter command line,$(origin $(var))),$(eval override export $(var) := $$(value $(var)))))

.PHONY: help demo test lint validate applications seal repo-url promote release rollback release-status conclude bench lock \
	bootstrap clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

bootstrap: ## install every environment the targets use (venvs, helm)
	$(BOOTSTRAP) dev airflow checkov mlserver helm actionlint kubeseal-encrypt wrk shellcheck postgres

demo: ## the whole loop locally: MLflow, two models, the app in three modes, a hot swap, the DAG
	$(BOOTSTRAP) dev airflow
	$(PY) -m tooling.demo

test: lint ## all test suites (app, charts, validator, GitOps, pipeline, end to end) plus lint and types
	$(BOOTSTRAP) dev airflow checkov mlserver helm actionlint kubeseal-encrypt wrk postgres
	bin/helm-unittest charts/fastapi charts/mlflow charts/airflow
	$(PY) -m pytest

SHELL_SCRIPTS := .ci/run apps/set-repo-url.sh bin/bootstrap bin/helm-unittest bin/lock

lint: ## ruff (lint + format check), mypy on tooling/, the app and the DAGs, shellcheck on the shell scripts
	$(BOOTSTRAP) dev shellcheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	shellcheck $(SHELL_SCRIPTS)

validate: ## render every chart x environment with real Helm and run every check
	$(BOOTSTRAP) dev checkov helm actionlint
	$(PY) -m tooling.validate

applications: ## print the Applications the ApplicationSets generate
	$(BOOTSTRAP) dev helm
	@$(PY) -m tooling.applications

seal: ## seal a secret: make seal ENV=dev NAMESPACE=fastapi-dev NAME=... (values on stdin)
	$(BOOTSTRAP) dev
	read -ra seal_args <<<"$${SEAL_ARGS-}"; \
	$(PY) -m tooling.seal secret --env="$${ENV-}" --namespace="$${NAMESPACE-}" --name="$${NAME-}" "$${seal_args[@]}"

repo-url: ## point every Argo CD manifest at your fork: make repo-url URL=https://github.com/<org>/<repo>.git
	apps/set-repo-url.sh "$${URL-}"

promote: ## promote a commit of main to prod: make promote [REF=<commit>]
	$(BOOTSTRAP) dev checkov helm actionlint
	$(PY) -m tooling.promote --candidate="$${REF:-main}"

# The release commands read MODEL_VERSION, ALIAS and RELEASE_ENV from their environment (make exports
# command-line variables): no value is ever pasted into a shell command line, nor expanded by make.
release rollback release-status conclude: export RELEASE_ENV = $(value ENV)

release: ## release a version to every replica: make release MODEL_VERSION=<n> [ALIAS=A|B] [ENV=dev|prod]
	$(BOOTSTRAP) dev helm
	$(PY) -m tooling.release release

rollback: ## undo the last release fleet-wide (idempotent): make rollback [ALIAS=A|B] [ENV=dev|prod]
	$(BOOTSTRAP) dev helm
	$(PY) -m tooling.release rollback

release-status: ## the release state and what every replica reports: make release-status [ENV=dev|prod]
	$(BOOTSTRAP) dev helm
	$(PY) -m tooling.release status

conclude: ## end the A/B release's experiment on its verdict (promote or roll back): make conclude [ENV=dev|prod]
	$(BOOTSTRAP) dev helm
	$(PY) -m tooling.release conclude

bench: ## serving throughput, latency and cost vs mlflow models serve and MLServer, and hot swap under load
	$(BOOTSTRAP) dev mlserver wrk
	$(PY) -m tooling.bench

lock: ## re-resolve every lock file from its pinned inputs
	bin/lock

clean: ## remove the environments and local state
	rm -rf $(VENV) .venv-airflow .venv-checkov .venv-mlserver .tools .demo
