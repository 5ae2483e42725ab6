"""The repository's own rules, as data: id, the one-line reason it exists, and a pure check function.

Every rule has a mutation case in ``tests/validate/mutations/`` that must trip it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from scripts.validate import consistency, gitops
from scripts.validate.findings import Finding
from scripts.validate.repo import Repository

Check = Callable[[Repository], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    reason: str
    check: Check


def _only(rule_id: str, check: Check) -> Check:
    def filtered(repo: Repository) -> Iterator[Finding]:
        return (finding for finding in check(repo) if finding.rule == rule_id)

    return filtered


RULES: tuple[Rule, ...] = (
    Rule(
        "secret-sealed",
        "every Secret a workload references exists as a SealedSecret of that name, namespace "
        "and env (keys included); cert-manager TLS secrets are exempt",
        consistency.check_secret_sealed,
    ),
    Rule(
        "no-plain-secret",
        "a Secret in git (or rendered from values) is a secret in plain text",
        consistency.check_no_plain_secret,
    ),
    Rule(
        "prod-ingress-whitelist",
        "prod Ingresses admit only whitelisted networks",
        consistency.check_prod_ingress_whitelist,
    ),
    Rule("prod-ingress-tls", "prod Ingresses serve every host over TLS", consistency.check_prod_ingress_tls),
    Rule(
        "mlflow-uri",
        "fastapi and airflow talk to their own env's MLflow Service FQDN",
        consistency.check_mlflow_uri,
    ),
    Rule(
        "app-settings",
        "the fastapi chart sets exactly the variables the app's Settings reads",
        consistency.check_app_settings,
    ),
    Rule(
        "app-values",
        "the chart's values for the app (mode, percents, alias, ...) are ones the app accepts",
        consistency.check_app_values,
    ),
    Rule(
        "prod-image-tag",
        "prod runs pinned images, never 'latest' or untagged",
        consistency.check_prod_image_tags,
    ),
    Rule(
        "appset-go-template",
        "ApplicationSets use goTemplate with missingkey=error so template typos fail loudly",
        gitops.check_appset_go_template,
    ),
    Rule(
        "appset-preserve",
        "deleting an ApplicationSet never deletes the workloads",
        gitops.check_appset_preserve,
    ),
    Rule("prod-no-auto-prune", "prod never prunes on its own", gitops.check_prod_no_prune),
    Rule(
        "appproject-wildcard",
        "AppProjects name their cluster-scoped kinds, never */*",
        gitops.check_appproject_wildcard,
    ),
    Rule(
        "metallb-pool-parse", "MetalLB pool addresses are CIDRs or ascending ranges", gitops.check_pool_parse
    ),
    Rule("metallb-pool-overlap", "no two MetalLB pools share an address", gitops.check_pool_overlap),
    Rule("metallb-l2-pools", "every L2Advertisement names pools that exist", gitops.check_l2_pools),
    Rule(
        "loadbalancer-pool",
        "every LoadBalancer Service asks for a MetalLB pool of its own env",
        gitops.check_loadbalancer_pool,
    ),
    Rule(
        "sealedsecret-namespace",
        "every SealedSecret sits in a namespace of its env folder",
        gitops.check_sealedsecret_namespace,
    ),
    Rule(
        "sealedsecret-scope",
        "a SealedSecret's scope annotation matches its name/namespace placement",
        gitops.check_sealedsecret_scope,
    ),
    Rule(
        "application-paths",
        "generated Applications point at charts and value files that exist",
        _only("application-paths", gitops.check_generated_applications),
    ),
    Rule(
        "application-platform",
        "generated Applications use scripts/platform.py's release, namespace and values",
        _only("application-platform", gitops.check_generated_applications),
    ),
)


def run_rules(repo: Repository) -> list[Finding]:
    findings = []
    for rule in RULES:
        try:
            findings += list(rule.check(repo))
        except Exception as error:  # a shape no rule foresaw: still one line, still a failure
            findings.append(Finding("(repository)", "(rule)", rule.id, f"could not check: {error!r}"))
    return findings
