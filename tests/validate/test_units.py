"""The validator's pure parts on small inputs: rules that the real repository cannot easily trip, formats."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tooling.checks.findings import Finding
from tooling.checks.rules.images import image_tag_problem
from tooling.checks.rules.ingress import check_ingress_class_per_env
from tooling.checks.rules.metallb import pool_ranges
from tooling.checks.rules.network import selects
from tooling.checks.rules.podsecurity import restricted_problems
from tooling.checks.rules.sealedsecrets import check_sealedsecret_scope, sealing_scope
from tooling.checks.rules.secrets import check_secret_sealed
from tooling.checks.rules.supplychain import check_base_digest, check_pip_hashes, unhashed_requirements
from tooling.infra.directories import applied_files, is_directory_source
from tooling.infra.helm import Manifest, render_key
from tooling.infra.helmignore import is_ignored, parse
from tooling.infra.repository import Document, Repository
from tooling.infra.schemas import SchemaStore, default_locations, location_problem
from tooling.model import REPO_ROOT, Deployment


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("ghcr.io/org/app:1.2.3", None),
        ("ghcr.io/org/app@sha256:" + "a" * 64, None),
        ("localhost:5000/app:2", None),
        ("ghcr.io/org/app", "has no tag"),
        ("localhost:5000/app", "has no tag"),
        ("app:latest", "uses the moving tag 'latest'"),
    ],
)
def test_image_tags(image: str, problem: str | None) -> None:
    assert image_tag_problem(image) == problem


def _document(path: str, text: str) -> Document:
    return Document(path, 0, yaml.safe_load(text))


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("10.0.0.0/30", (4, 167772160, 167772163)),
        ("10.0.0.5-10.0.0.9", (4, 167772165, 167772169)),
        ("10.0.0.9-10.0.0.5", None),
        ("10.0.0.1/24", None),  # host bits set: MetalLB refuses it too
        ("fd00::1-10.0.0.1", None),
        ("pool", None),
    ],
)
def test_pool_ranges(address: str, parsed: tuple[int, int, int] | None) -> None:
    pool = _document("metallb/dev/pool.yaml", f"kind: IPAddressPool\nspec: {{addresses: ['{address}']}}")
    assert list(pool_ranges(pool)) == [(address, parsed)]


@pytest.mark.parametrize(
    ("annotations", "scope"),
    [
        ({}, "strict"),
        ({"sealedsecrets.bitnami.com/namespace-wide": "true"}, "namespace-wide"),
        ({"sealedsecrets.bitnami.com/cluster-wide": "true"}, "cluster-wide"),
        ({"sealedsecrets.bitnami.com/cluster-wide": "false"}, "strict"),
        (
            {
                "sealedsecrets.bitnami.com/cluster-wide": "true",
                "sealedsecrets.bitnami.com/namespace-wide": "true",
            },
            None,
        ),
    ],
)
def test_sealing_scope(annotations: dict[str, Any], scope: str | None) -> None:
    assert sealing_scope(annotations) == scope


SEALED = """
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: token, namespace: fastapi-dev}
spec:
  encryptedData: {TOKEN: AgB=}
  template: {metadata: {name: token, namespace: fastapi-dev}}
"""


def test_sealedsecret_scope_accepts_a_consistent_strict_secret() -> None:
    repo = Repository(REPO_ROOT, documents=[_document("sealed-secrets/dev/token.yaml", SEALED)])
    assert list(check_sealedsecret_scope(repo)) == []


def test_sealedsecret_scope_flags_a_template_that_disagrees_with_the_metadata() -> None:
    text = SEALED.replace(
        "template: {metadata:",
        "template: {metadata: {annotations: {sealedsecrets.bitnami.com/cluster-wide: 'true'}},\n    x:",
    )
    repo = Repository(REPO_ROOT, documents=[_document("sealed-secrets/dev/token.yaml", text)])
    assert [f.rule for f in check_sealedsecret_scope(repo)] == ["sealedsecret-scope"]


def _pod(volume_secret: str) -> Manifest:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "token"}}]}],
                    "volumes": [{"name": "creds", "secret": {"secretName": volume_secret}}],
                }
            }
        },
    }
    return Manifest("charts/fastapi/templates/deployment.yaml", obj)


def test_secret_sealed_follows_envfrom_and_volumes_per_namespace() -> None:
    deployment = Deployment("fastapi", "dev", REPO_ROOT)
    sealed = _document("sealed-secrets/dev/token.yaml", SEALED)
    repo = Repository(REPO_ROOT, documents=[sealed], rendered={deployment: [_pod("token")]})
    assert list(check_secret_sealed(repo)) == []
    repo.rendered = {deployment: [_pod("s3-creds")]}
    [finding] = check_secret_sealed(repo)
    assert finding.rule == "secret-sealed"
    assert "s3-creds" in finding.reason
    # The same SealedSecret sealed for dev does not satisfy prod.
    repo.rendered = {Deployment("fastapi", "prod", REPO_ROOT): [_pod("token")]}
    assert {f.reason.split(":")[0] for f in check_secret_sealed(repo)} == {
        "envFrom.secretRef of container app uses Secret 'token'",
        "volume creds uses Secret 'token'",
    }


def test_finding_is_one_line_and_bounded() -> None:
    line = str(Finding("a.yaml", "ns/Kind/x", "rule-id", "first\nsecond  " + "x" * 500))
    assert "\n" not in line
    assert line.startswith("a.yaml: ns/Kind/x: rule-id: first second ")
    assert len(line) < 300


def test_schema_store_reports_every_error_and_missing_schemas() -> None:
    store = SchemaStore(default_locations(REPO_ROOT), "1.31.0")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replica": 1,
            "selector": {},
            "template": {"spec": {"containers": [{"name": "c", "tty": "yes"}]}},
        },
    }
    problems = store.problems(deployment)
    assert problems is not None
    assert {p.path for p in problems} >= {"spec", "spec.template.spec.containers[0].tty"}
    assert store.problems({"apiVersion": "example.org/v1", "kind": "Widget"}) is None


def test_crd_schemas_are_made_strict() -> None:
    store = SchemaStore(default_locations(REPO_ROOT), "1.31.0")
    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "p"},
        "spec": {"addresses": ["10.0.0.0/30"], "autoassign": False},
    }
    problems = store.problems(pool)
    assert problems
    assert "autoassign" in problems[0].message


def test_location_templates_are_checked() -> None:
    assert location_problem("/schemas/{group}/{kind}_{version}.json") is None
    assert location_problem("/schemas/{Group}/{kind}.json") is not None


def test_validator_cli_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tooling.validate.cli import main

    assert main(["--repo", str(tmp_path)]) == 2
    assert "no charts/" in capsys.readouterr().err
    (tmp_path / "charts").mkdir()
    assert main(["--repo", str(tmp_path), "--schema-location", "/x/{nope}.json"]) == 2
    assert "--schema-location" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--only", "everything"])
    assert exit_info.value.code == 2


def test_every_checkov_skip_is_reviewed() -> None:
    from tooling.checks.checkov import load_skips

    skips = load_skips()
    assert skips
    for skip in skips:
        assert re.fullmatch(r"CKV2?_K8S_\d+", skip.id), skip.id
        assert len(skip.reason.split()) >= 8, f"{skip.id}: give the reason, not a label"
    assert len({skip.id for skip in skips}) == len(skips)


def test_the_render_key_hashes_only_what_helm_reads(tmp_path: Path) -> None:
    """The fastapi chart's .helmignore leaves out app/ and tests/: editing them must not re-render."""
    shutil.copytree(REPO_ROOT / "charts" / "fastapi", tmp_path / "charts" / "fastapi")
    shutil.copytree(REPO_ROOT / "environments", tmp_path / "environments")
    deployment = Deployment("fastapi", "dev", tmp_path)
    before = render_key(deployment)
    (deployment.chart_dir / "app" / "extra.py").write_text("CHANGED = True\n")
    (deployment.chart_dir / "tests" / "extra_test.yaml").write_text("suite: x\n")
    assert render_key(deployment) == before
    (deployment.chart_dir / "templates" / "extra.yaml").write_text("# a template helm reads\n")
    assert render_key(deployment) != before


@pytest.mark.parametrize(
    ("patterns", "path", "is_dir", "ignored"),
    [
        ("dags/\n", "dags", True, True),
        ("dags/\n", "dags", False, False),  # a trailing '/' matches folders only
        ("*.tmp\n", "templates/x.tmp", False, True),  # no '/': the base name, at any depth
        ("templates/*.yaml\n", "templates/a.yaml", False, True),
        ("templates/*.yaml\n", "templates/sub/a.yaml", False, False),  # '*' never crosses '/'
        ("/values.yaml\n", "values.yaml", False, True),
        ("", "templates/.hidden", False, True),  # Helm's default: dotfiles in templates/
        ("# a comment\n", "Chart.yaml", False, False),
    ],
)
def test_helmignore_matches_as_helm_does(patterns: str, path: str, is_dir: bool, ignored: bool) -> None:
    assert is_ignored(parse(patterns), path, is_dir) is ignored


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ({}, True),
        ({"matchLabels": {"app": "api"}}, True),
        ({"matchLabels": {"app": "api", "tier": "web"}}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "ui"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["api"]}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, True),
    ],
)
def test_network_policy_pod_selection(selector: dict[str, Any], selected: bool) -> None:
    policy = {"kind": "NetworkPolicy", "spec": {"podSelector": selector}}
    assert selects(policy, {"app": "api"}) is selected


def test_restricted_pod_security_names_each_problem() -> None:
    compliant = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    assert list(restricted_problems(compliant)) == []
    refused = {
        "hostNetwork": True,
        "securityContext": {},
        "initContainers": [{"name": "init", "ports": [{"containerPort": 80, "hostPort": 80}]}],
        "containers": [
            {
                "name": "app",
                "securityContext": {
                    "privileged": True,
                    "runAsUser": 0,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SYS_ADMIN"]},
                },
            }
        ],
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
    }
    assert list(restricted_problems(refused)) == [
        "hostNetwork is set",
        "volume host is of type hostPath",
        "container init: allowPrivilegeEscalation is not false",
        "container init: capabilities.drop lacks ALL",
        "container init: runAsNonRoot is not true",
        "container init: seccompProfile is not RuntimeDefault or Localhost",
        "container init: uses a hostPort",
        "container app: privileged",
        "container app: allowPrivilegeEscalation is not false",
        "container app: adds the capabilities SYS_ADMIN",
        "container app: runAsNonRoot is not true",
        "container app: runs as uid 0",
        "container app: seccompProfile is not RuntimeDefault or Localhost",
    ]


def _build_repository(dockerfile: str, lock: str) -> Repository:
    repo = Repository(Path("."))
    repo.build_files = {"image/Dockerfile": dockerfile, "image/requirements.lock": lock}
    return repo


HASHED_LOCK = "anyio==4.16.0 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via httpx\n"


@pytest.mark.parametrize(
    ("dockerfile", "problems"),
    [
        (
            "FROM python:3.11@sha256:" + "b" * 64 + "\nWORKDIR /app\nCOPY requirements.lock .\n"
            "RUN pip install --no-cache-dir --require-hashes --no-deps \\\n"
            "    -r requirements.lock && true\n",
            [],
        ),
        (
            "FROM python:3.11@sha256:" + "b" * 64 + "\nCOPY requirements.lock /opt/lock/\n"
            "RUN uv pip install --system --require-hashes --no-deps -r /opt/lock/requirements.lock\n",
            [],
        ),
        (
            "FROM python:3.11\nCOPY requirements.lock /r.lock\n# a comment\nRUN pip install -r /r.lock\n",
            [
                "line 1: dockerfile-base-digest: base image 'python:3.11' is not pinned by digest "
                "(<image>:<tag>@sha256:<digest>)",
                "line 4: dockerfile-pip-hashes: pip install without --require-hashes --no-deps",
            ],
        ),
        (
            "FROM python:3.11@sha256:" + "b" * 64 + " AS build\nFROM build\n"
            "RUN pip install --require-hashes --no-deps -r requirements.lock\n",
            [
                "line 3: dockerfile-pip-hashes: installs requirements.lock, which no COPY brings from the "
                "build context"
            ],
        ),
    ],
)
def test_dockerfile_supply_chain_rules(dockerfile: str, problems: list[str]) -> None:
    repo = _build_repository(dockerfile, HASHED_LOCK)
    findings = [*check_base_digest(repo), *check_pip_hashes(repo)]
    assert [f"{f.object}: {f.rule}: {f.reason}" for f in findings] == problems


def test_lock_requirements_without_a_sha256_are_named() -> None:
    lock = (
        HASHED_LOCK
        + "numpy==2.4.6\n    # via pandas\nscipy>=1 ; python_version < '3.12' \\\n    --hash=sha256:"
        + ("c" * 64 + "\n")
    )
    assert unhashed_requirements(lock) == ["numpy", "scipy"]


@pytest.mark.parametrize(
    ("directory", "applied"),
    [
        ({}, ["a.yaml", "b.yml", "c.json", "d.jsonnet"]),
        ({"include": "*.yaml"}, ["a.yaml"]),
        ({"include": "*.yaml", "recurse": True}, ["a.yaml", "sub/e.yaml"]),
        ({"include": "a.yaml", "recurse": True}, ["a.yaml"]),
        ({"recurse": True, "exclude": "*.json"}, ["a.yaml", "b.yml", "d.jsonnet", "sub/e.yaml", "sub/f.yml"]),
    ],
)
def test_directory_source_applies_what_argo_cd_selects(
    tmp_path: Path, directory: dict[str, Any], applied: list[str]
) -> None:
    folder = tmp_path / "objects"
    names = ("a.yaml", "b.yml", "c.json", "d.jsonnet", "README.md", "cert.pem", "sub/e.yaml", "sub/f.yml")
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}\n")
    source = {"path": "objects", "directory": directory}
    assert [path.relative_to(folder).as_posix() for path in applied_files(tmp_path, source)] == applied
    (folder / "Chart.yaml").write_text("name: x\n")
    assert not is_directory_source(tmp_path, source)


def test_an_ingress_class_two_environments_controllers_create_is_flagged() -> None:
    def controller(env: str, ingress_class: str) -> dict[str, Any]:
        values = {"controller": {"ingressClassResource": {"name": ingress_class}}}
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": f"ingress-nginx-{env}", "namespace": "argocd"},
            "spec": {
                "source": {"chart": "ingress-nginx", "helm": {"valuesObject": values}},
                "destination": {"namespace": f"ingress-nginx-{env}"},
            },
        }

    documents = [
        Document("apps/x.yaml", i, controller(env, "nginx-prod")) for i, env in enumerate(["dev", "prod"])
    ]
    findings = list(check_ingress_class_per_env(Repository(REPO_ROOT, documents=documents)))
    assert [(f.object, f.rule) for f in findings] == [
        ("argocd/Application/ingress-nginx-dev", "ingress-class-per-env"),
        ("argocd/Application/ingress-nginx-prod", "ingress-class-per-env"),
    ]
    assert "'nginx-prod' is also created for ['prod']" in findings[0].reason
