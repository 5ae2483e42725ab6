"""The app contract: the fastapi chart sets exactly the variables the serving app reads, to values it takes,
and its Ingress routes nothing but the app's client routes.

The app's own ``Settings`` model judges (field names, upper-cased, as pydantic-settings reads them), so "legal
for the app" means exactly what the app accepts at start-up. It is imported normally (``tooling`` puts the
app's folder on ``sys.path``); this module is the one place that names it. A checkout whose settings module
differs from the imported one (another commit, a mutated copy) is reported, never judged with the wrong model.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, configmaps, manifest_finding, rendered_kind
from tooling.infra.helm import Manifest
from tooling.infra.k8s import container_env, dig, mapping, sequence
from tooling.infra.repository import AppSettings, Repository
from tooling.model import REPO_ROOT

APP_PORT = 8000
CODE_OPT_IN = "ALLOW_CODE_EXECUTING_MODELS"
SOURCE_RULE = "app-settings-source"


def imported_settings() -> tuple[type[BaseModel], Path, tuple[str, ...]]:
    """The app's settings model as the app itself imports it, the file it came from, its client routes."""
    from serving.config import CLIENT_ROUTES, Settings

    return Settings, Path(inspect.getfile(Settings)).resolve(), CLIENT_ROUTES


def load(repo: Repository) -> list[Finding]:
    """Set ``repo.app_settings`` from the app's model; a model that cannot be used is a finding."""
    try:
        model, imported, client_routes = imported_settings()
    except Exception as error:  # the app's module: any import-time error is theirs to see, in one line
        return [Finding("(app settings)", "Settings", "app-settings", f"cannot import: {error!r}")]
    source = imported.relative_to(REPO_ROOT) if imported.is_relative_to(REPO_ROOT) else imported
    validated = repo.root / source
    if not validated.is_file():
        return []
    if validated.resolve() != imported and validated.read_bytes() != imported.read_bytes():
        reason = (
            f"{validated} differs from the settings this validator imports ({imported}): run the "
            "checkout's own validator (python -m tooling.validate from it) to check its app contract"
        )
        return [Finding(str(source), "Settings", SOURCE_RULE, reason)]
    repo.app_settings = AppSettings(
        str(source), tuple(name.upper() for name in model.model_fields), _judge(model), client_routes
    )
    return []


def _judge(model: type[BaseModel]) -> Any:
    def problems(env: dict[str, str]) -> list[str]:
        try:
            # model_validate skips pydantic-settings' sources: only these values are judged, not os.environ.
            model.model_validate({name.lower(): value for name, value in env.items()})
        except ValidationError as error:
            return [_describe(entry) for entry in error.errors() if entry["type"] != "missing"]
        return []

    return problems


def _describe(entry: Any) -> str:
    variable = str(entry["loc"][0]).upper() if entry["loc"] else "settings"
    return f"{variable}: the app rejects this value: {entry['msg']}"


def check_app_settings(repo: Repository) -> Iterator[Finding]:
    settings = repo.app_settings
    if settings is None:
        return
    for deployment, manifest, container, env in _app_containers(repo):
        where = f"container {container.get('name')}"
        for missing in sorted(set(settings.fields) - set(env)):
            yield manifest_finding(
                manifest,
                deployment.namespace,
                "app-settings",
                f"{where} does not set {missing}, which the app reads ({settings.source})",
            )
        for unused in sorted(set(env) - set(settings.fields)):
            yield manifest_finding(
                manifest,
                deployment.namespace,
                "app-settings",
                f"{where} sets {unused}, which the app never reads ({settings.source})",
            )


def check_app_values(repo: Repository) -> Iterator[Finding]:
    settings = repo.app_settings
    if settings is None:
        return
    for deployment, manifest, _container, env in _app_containers(repo):
        known = {name: value for name, value in env.items() if value is not None and name in settings.fields}
        for problem in settings.problems(known):
            yield manifest_finding(manifest, deployment.namespace, "app-values", problem)


def check_no_code_executing_models(repo: Repository) -> Iterator[Finding]:
    """No environment lets the app load models whose loading runs code: a registered version would run in
    every pod. Read as the app reads a boolean, so ``"True"``, ``"1"`` or ``"on"`` count too."""
    for deployment, manifest, container, env in _app_containers(repo):
        value = env.get(CODE_OPT_IN)
        if value is not None and _enabled(value):
            yield manifest_finding(
                manifest,
                deployment.namespace,
                "app-no-code-models",
                f"container {container.get('name')} sets {CODE_OPT_IN}={value}: every pod would run the code "
                "of any registered version; only the tests' and the demo's own fleets opt in",
            )


def _enabled(value: str) -> bool:
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        return False  # not a boolean at all: app-values reports it


ROUTED_PATH_TYPES = ("Exact", "Prefix")


def check_app_ingress(repo: Repository) -> Iterator[Finding]:
    """Reload, release, the metrics, the docs and the experiment's data are an operator's, reached in-cluster:
    an Ingress path must be one of the app's client routes, matched exactly or as a prefix (which adds only
    paths below it, where the app has none); a default backend or a regex path would route everything. Rule
    ``ingress-annotations-allowed`` holds the annotations that could send a path elsewhere (rewrites)."""
    settings = repo.app_settings
    if settings is None:
        return
    allowed = ", ".join(settings.client_routes)
    for deployment, manifest in rendered_kind(repo, "Ingress"):
        if deployment.component != "fastapi":
            continue
        spec = mapping(manifest.obj.get("spec"))
        routed = [("defaultBackend", "every path")] if spec.get("defaultBackend") else []
        for rule in sequence(spec.get("rules")):
            for entry in sequence(dig(mapping(rule), "http", "paths")):
                path, path_type = mapping(entry).get("path"), mapping(entry).get("pathType")
                if path not in settings.client_routes or path_type not in ROUTED_PATH_TYPES:
                    routed.append((str(path_type), repr(path)))
        for path_type, path in routed:
            yield manifest_finding(
                manifest,
                deployment.namespace,
                "app-ingress-client-api",
                f"routes {path_type} {path} from outside the cluster; only the app's client routes may be "
                f"({allowed}, Exact or Prefix: {settings.source} CLIENT_ROUTES)",
            )


def _app_containers(
    repo: Repository,
) -> Iterator[tuple[Any, Manifest, dict[str, Any], dict[str, str | None]]]:
    """The serving app's container in each fastapi Deployment: the one listening on the app's port."""
    for deployment, manifest in rendered_kind(repo, "Deployment"):
        if deployment.component != "fastapi":
            continue
        known_configmaps = configmaps(repo.rendered[deployment])
        main = [mapping(c) for c in sequence(dig(manifest.obj, "spec", "template", "spec", "containers"))]
        app = [
            c
            for c in main
            if any(mapping(p).get("containerPort") == APP_PORT for p in sequence(c.get("ports")))
        ]
        for container in app or main[:1]:
            yield deployment, manifest, container, container_env(container, known_configmaps)


RULES = (
    Rule(
        "app-settings",
        "the fastapi chart sets exactly the variables the app's Settings reads",
        check_app_settings,
    ),
    Rule(
        "app-ingress-client-api",
        "the fastapi Ingress routes only the app's client API; operator routes stay in-cluster",
        check_app_ingress,
    ),
    Rule(
        "app-values",
        "the chart's values for the app (mode, percents, alias, ...) are ones the app accepts",
        check_app_values,
    ),
    Rule(
        "app-no-code-models",
        "no environment lets the app load models whose loading runs code (ALLOW_CODE_EXECUTING_MODELS)",
        check_no_code_executing_models,
    ),
)
