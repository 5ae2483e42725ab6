"""The bootstrap (apps/), MetalLB pools and every GitOps object: schemas, projects, order, repository URL."""

from __future__ import annotations

import ipaddress
import itertools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tooling.checks.rules.argocd import UPSTREAM_CHARTS
from tooling.infra.schemas import SchemaStore
from tooling.model import COMPONENTS, ENVIRONMENTS, PROD, REPO_ROOT
from tooling.promote.promotion import ROOT_SOURCE

Objects = list[tuple[Path, dict[str, Any]]]
REPO_URL = "https://github.com/example-org/mlops-gitops-platform.git"


def _of_kind(objects: Objects, kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for _, obj in objects if obj["kind"] == kind}


def _wave(obj: dict[str, Any]) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def test_every_object_matches_its_strict_schema(gitops_objects: Objects, schema_store: SchemaStore) -> None:
    assert gitops_objects
    for path, obj in gitops_objects:
        problems = schema_store.problems(obj)
        assert problems == [], f"{path}: {obj['kind']}/{obj['metadata']['name']}: {problems}"


def test_bootstrap_file_holds_the_root_of_everything() -> None:
    docs = list(yaml.safe_load_all((REPO_ROOT / "apps" / "bootstrap.yaml").read_text()))
    assert [(doc["kind"], doc["metadata"]["name"]) for doc in docs] == [
        ("AppProject", "app-of-apps"),
        ("Application", "root"),
    ]
    root = docs[1]["spec"]
    # The promotion diff reads apps/ as the root applies it: the same source.
    assert root["source"] == {"repoURL": REPO_URL, "targetRevision": PROD, **ROOT_SOURCE}
    assert ROOT_SOURCE == {"path": "apps", "directory": {"recurse": False, "include": "*.yaml"}}
    assert root["project"] == "app-of-apps"
    project = docs[0]["spec"]
    assert project["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": "argocd"}]
    assert project["clusterResourceWhitelist"] == []
    assert {entry["group"] for entry in project["namespaceResourceWhitelist"]} == {"argoproj.io"}


def test_sync_waves_run_projects_controllers_config_secrets_platform(gitops_objects: Objects) -> None:
    apps = _of_kind(gitops_objects, "Application")
    projects = _of_kind(gitops_objects, "AppProject")
    controllers = [apps[name] for name in ("metallb", "sealed-secrets-controller", "cert-manager")]
    config = [apps[name] for name in ("cluster-issuers", "metallb-pools-dev", "metallb-pools-prod")]
    ingress = [apps[f"ingress-nginx-{env}"] for env in ENVIRONMENTS]
    secrets = [apps[f"sealed-secrets-{env}"] for env in ENVIRONMENTS]
    platform = [apps[f"platform-{env}"] for env in ENVIRONMENTS]
    stages = [list(projects.values()), controllers, config + ingress, secrets, platform]
    for earlier, later in itertools.pairwise(stages):
        assert max(map(_wave, earlier)) < min(map(_wave, later))


def test_every_application_and_project_is_created_by_the_root(gitops_objects: Objects) -> None:
    top_level = {path for path in (REPO_ROOT / "apps").glob("*.yaml")}
    for path, obj in gitops_objects:
        if obj["kind"] in {"Application", "AppProject"}:
            assert path in top_level, f"{path}: the root Application (apps/, not recursive) never applies it"


def test_environment_projects_are_confined(gitops_objects: Objects) -> None:
    projects = _of_kind(gitops_objects, "AppProject")
    charts = set(UPSTREAM_CHARTS.values())
    assert set(projects) == {"app-of-apps", "cluster-config", *charts, *ENVIRONMENTS}
    for env in ENVIRONMENTS:
        spec = projects[env]["spec"]
        assert spec["sourceRepos"] == [REPO_URL]
        own = {f"{c}-{env}" for c in COMPONENTS}
        assert {d["namespace"] for d in spec["destinations"]} == own
        assert {(e["kind"], e["name"]) for e in spec["clusterResourceWhitelist"]} == {
            ("Namespace", n) for n in own
        }
    # Each upstream chart's project reads only that chart's repository; only git-reading projects remain.
    for repo_url, chart in UPSTREAM_CHARTS.items():
        assert projects[chart]["spec"]["sourceRepos"] == [repo_url]
    for name in ("app-of-apps", "cluster-config"):
        assert projects[name]["spec"]["sourceRepos"] == [REPO_URL]
    for project in projects.values():
        for entry in project["spec"]["clusterResourceWhitelist"]:
            assert "*" not in (entry["group"], entry["kind"])
            assert entry.get("name"), f"{project['metadata']['name']}: {entry['kind']} is not named"


def test_applications_use_their_project_and_pinned_sources(gitops_objects: Objects) -> None:
    projects = _of_kind(gitops_objects, "AppProject")
    for name, app in _of_kind(gitops_objects, "Application").items():
        spec = app["spec"]
        project = projects[spec["project"]]["spec"]
        assert spec["source"]["repoURL"] in project["sourceRepos"], name
        allowed = {d["namespace"] for d in project["destinations"]}
        assert spec["destination"]["namespace"] in allowed, name
        if spec["source"]["repoURL"] in UPSTREAM_CHARTS:
            assert spec["source"]["targetRevision"][-1].isdigit(), f"{name}: upstream chart not pinned"
        elif spec["project"] == "dev":
            assert spec["source"]["targetRevision"] == "main", f"{name}: dev's content follows main"
        else:
            assert spec["source"]["targetRevision"] == PROD, f"{name}: only dev's content follows main"
        if spec["project"] != "dev":
            assert spec["syncPolicy"]["automated"]["prune"] is False, (
                f"{name}: like prod, never prunes by itself"
            )


def test_ingress_controllers_take_their_class_and_pool(gitops_objects: Objects) -> None:
    apps = _of_kind(gitops_objects, "Application")
    pools = _of_kind(gitops_objects, "IPAddressPool")
    for env in ENVIRONMENTS:
        controller = apps[f"ingress-nginx-{env}"]["spec"]["source"]["helm"]["valuesObject"]["controller"]
        assert controller["ingressClassResource"]["name"] == f"nginx-{env}"
        assert controller["service"]["type"] == "LoadBalancer"
        assert controller["service"]["annotations"]["metallb.io/address-pool"] == f"{env}-pool"
        assert f"{env}-pool" in pools


def test_metallb_pools_do_not_overlap_and_are_advertised(gitops_objects: Objects) -> None:
    pools = _of_kind(gitops_objects, "IPAddressPool")
    ranges = {}
    for name, pool in pools.items():
        first, last = (ipaddress.ip_address(part) for part in pool["spec"]["addresses"][0].split("-"))
        ranges[name] = set(range(int(first), int(last) + 1))
    assert ranges["dev-pool"]
    assert ranges["prod-pool"]
    assert not ranges["dev-pool"] & ranges["prod-pool"]
    advertised = {
        pool
        for ad in _of_kind(gitops_objects, "L2Advertisement").values()
        for pool in ad["spec"]["ipAddressPools"]
    }
    assert advertised == set(pools)


def test_one_repository_url_and_the_script_that_moves_it(tmp_path: Path) -> None:
    for folder in ("apps", "applicationsets"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    fork = "https://git.example.com/team/platform.git"
    result = subprocess.run(
        ["bash", str(tmp_path / "apps" / "set-repo-url.sh"), fork],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    texts = [path.read_text() for path in tmp_path.rglob("*.yaml")]
    assert not any(REPO_URL in text for text in texts)
    assert sum(text.count(fork) for text in texts) == sum(
        path.read_text().count(REPO_URL)
        for folder in ("apps", "applicationsets")
        for path in (REPO_ROOT / folder).rglob("*.yaml")
    )
    refused = subprocess.run(
        ["bash", str(tmp_path / "apps" / "set-repo-url.sh"), "not a url"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == "set-repo-url: not a git URL: not a url"
