"""The repository's own rules, grouped by subject; each is data: an id, the one-line reason it exists, and a
pure check over the repository model. Every rule has a mutation case in ``tests/validate/mutations/``.
"""

from __future__ import annotations

from tooling.checks.findings import Finding
from tooling.checks.rules import (
    airflow_auth,
    app_contract,
    argocd,
    images,
    ingress,
    metallb,
    mlflow_tracking,
    network,
    podsecurity,
    sealedsecrets,
    secrets,
    supplychain,
)
from tooling.checks.rules.base import Rule
from tooling.infra.repository import Repository

RULES: tuple[Rule, ...] = (
    *secrets.RULES,
    *ingress.RULES,
    *mlflow_tracking.RULES,
    *airflow_auth.RULES,
    *app_contract.RULES,
    *images.RULES,
    *argocd.RULES,
    *metallb.RULES,
    *sealedsecrets.RULES,
    *network.RULES,
    *podsecurity.RULES,
    *supplychain.RULES,
)


def run_rules(repo: Repository) -> list[Finding]:
    findings = []
    for rule in RULES:
        try:
            findings += list(rule.check(repo))
        except Exception as error:  # a shape no rule foresaw: still one line, still a failure
            findings.append(Finding("(repository)", "(rule)", rule.id, f"could not check: {error!r}"))
    return findings
