"""Run helm-unittest suites (``charts/<chart>/tests/*_test.yaml``) over a real ``helm template`` render.

The suites keep the plugin's file format, so ``helm unittest charts/<chart>`` runs them where the plugin is
installed; this module is the same contract for machines without it. It supports exactly the assertion
types in ``ASSERTIONS`` and refuses any other, so a suite never passes by asserting something it ignores.

Paths use the plugin's JSONPath subset: ``a.b[0].c``, ``metadata.annotations["x/y"]`` and list filters
``env[?(@.name == "MODEL_NAME")].value``.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scripts.platform import KUBE_VERSION, REPO_ROOT
from scripts.validate.render import helm_binary, parse_manifests

# The plugin defaults to RELEASE-NAME, which the helm CLI rejects; suites here always name their release.
DEFAULT_RELEASE = {"name": "release-name", "namespace": "namespace"}
ASSERT_MODIFIERS = frozenset({"not", "template", "documentIndex", "documentSelector"})


class SuiteError(Exception):
    """A suite that cannot be run as written (unknown assertion, bad path, missing file)."""


@dataclass(frozen=True)
class Case:
    """One ``tests[]`` entry of a suite, with the suite-level settings already folded in."""

    chart_dir: Path
    suite_file: Path
    suite: str
    it: str
    templates: tuple[str, ...]
    value_files: tuple[Path, ...]
    sets: tuple[dict[str, Any], ...]
    release: dict[str, str]
    asserts: tuple[dict[str, Any], ...]
    document_index: int | None = None

    @property
    def id(self) -> str:
        return f"{self.chart_dir.name}/{self.suite_file.name}::{self.it}"


@dataclass
class Render:
    """The outcome of one ``helm template``: documents by template file, or Helm's error text."""

    documents: dict[str, list[Any]] = field(default_factory=dict)
    error: str | None = None


# --- discovery -------------------------------------------------------------------------------------------


def discover(root: Path = REPO_ROOT) -> list[Case]:
    return [case for suite in sorted(root.glob("charts/*/tests/*_test.yaml")) for case in load_suite(suite)]


def load_suite(suite_file: Path) -> list[Case]:
    data = yaml.safe_load(suite_file.read_text())
    chart_dir = suite_file.parent.parent
    suite_templates = _as_list(data.get("templates"))
    cases = []
    for test in data.get("tests") or []:
        templates = _as_list(test.get("template")) or _as_list(test.get("templates")) or suite_templates
        cases.append(
            Case(
                chart_dir=chart_dir,
                suite_file=suite_file,
                suite=str(data.get("suite", suite_file.stem)),
                it=str(test["it"]),
                templates=tuple(_template_name(t) for t in templates),
                value_files=tuple(
                    suite_file.parent / v
                    for v in [*_as_list(data.get("values")), *_as_list(test.get("values"))]
                ),
                sets=tuple(s for s in (data.get("set"), test.get("set")) if s),
                release={**DEFAULT_RELEASE, **(data.get("release") or {}), **(test.get("release") or {})},
                asserts=tuple(test.get("asserts") or ()),
                document_index=test.get("documentIndex"),
            )
        )
    return cases


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _template_name(name: str) -> str:
    return name.removeprefix("templates/")


# --- rendering -------------------------------------------------------------------------------------------


def render(case: Case) -> Render:
    overrides = [_nest_dotted(s) for s in case.sets]
    key = (
        str(case.chart_dir),
        case.value_files,
        yaml.safe_dump(overrides),
        tuple(sorted(case.release.items())),
    )
    return _render_cached(key)


@functools.lru_cache(maxsize=256)
def _render_cached(key: tuple[str, tuple[Path, ...], str, tuple[tuple[str, str], ...]]) -> Render:
    chart_dir, value_files, overrides_yaml, release_items = key
    release = dict(release_items)
    for path in value_files:
        if not path.is_file():
            raise SuiteError(f"values file not found: {path}")
    with tempfile.TemporaryDirectory() as tmp:
        args = [helm_binary(), "template", release["name"], chart_dir, "--namespace", release["namespace"]]
        args += ["--kube-version", KUBE_VERSION, "-f", str(Path(chart_dir) / "values.yaml")]
        args += [arg for path in value_files for arg in ("-f", str(path))]
        for index, override in enumerate(yaml.safe_load(overrides_yaml)):
            override_file = Path(tmp) / f"set-{index}.yaml"
            override_file.write_text(yaml.safe_dump(override))
            args += ["-f", str(override_file)]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return Render(error=result.stderr.strip().removeprefix("Error: "))
    documents: dict[str, list[Any]] = {}
    for manifest in parse_manifests(result.stdout):
        name = manifest.source.split("/templates/", 1)[-1]
        documents.setdefault(name, []).append(manifest.obj)
    return Render(documents=documents)


def _nest_dotted(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``, as the plugin's ``set`` does."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


# --- paths -----------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\.?(?P<key>[A-Za-z0-9_$-]+)
      | \[(?P<index>-?\d+)\]
      | \[(?P<quote>["'])(?P<qkey>.*?)(?P=quote)\]
      | \[\?\(@\.(?P<fkey>[A-Za-z0-9_.-]+)\s*==\s*(?P<fquote>["'])(?P<fvalue>.*?)(?P=fquote)\)\]""",
    re.VERBOSE,
)


def select(document: Any, path: str) -> list[Any]:
    """Every value ``path`` reaches in ``document`` (empty when it reaches none)."""
    matches = [document]
    position = 0
    while position < len(path):
        token = _TOKEN.match(path, position)
        if token is None:
            raise SuiteError(f"unsupported path syntax at {path[position:]!r} in {path!r}")
        position = token.end()
        matches = [found for value in matches for found in _step(value, token)]
    return matches


def _step(value: Any, token: re.Match[str]) -> Iterator[Any]:
    key = token["key"] if token["key"] is not None else token["qkey"]
    if key is not None:
        if isinstance(value, dict) and key in value:
            yield value[key]
    elif token["index"] is not None:
        index = int(token["index"])
        if isinstance(value, list) and -len(value) <= index < len(value):
            yield value[index]
    elif isinstance(value, list):
        for item in value:
            found = select(item, token["fkey"])
            if found and str(found[0]) == token["fvalue"]:
                yield item


# --- assertions ------------------------------------------------------------------------------------------

Check = Callable[[Any, dict[str, Any]], str | None]
"""(document, assertion parameters) → None when it holds, else why not."""


def _values(document: Any, params: dict[str, Any]) -> list[Any]:
    if "path" not in params:
        raise SuiteError("assertion needs a path")
    return select(document, str(params["path"]))


def _single(document: Any, params: dict[str, Any]) -> tuple[bool, Any]:
    found = _values(document, params)
    return (bool(found), found[0] if len(found) == 1 else found)


def _equal(document: Any, params: dict[str, Any]) -> str | None:
    # A filter path may reach several values; as in the plugin, each of them must match.
    found = _values(document, params)
    if not found:
        return f"path {params['path']} not found"
    wrong = [actual for actual in found if actual != params["value"]]
    return f"{params['path']}: expected {params['value']!r}, got {wrong[0]!r}" if wrong else None


def _not_equal(document: Any, params: dict[str, Any]) -> str | None:
    if any(actual == params["value"] for actual in _values(document, params)):
        return f"{params['path']}: expected anything but {params['value']!r}"
    return None


def _exists(document: Any, params: dict[str, Any]) -> str | None:
    return None if _values(document, params) else f"path {params['path']} does not exist"


def _not_exists(document: Any, params: dict[str, Any]) -> str | None:
    found = _values(document, params)
    return f"path {params['path']} exists: {found[0]!r}" if found else None


def _is_null(document: Any, params: dict[str, Any]) -> str | None:
    ok, actual = _single(document, params)
    return None if not ok or actual is None else f"{params['path']}: expected null, got {actual!r}"


def _is_not_null(document: Any, params: dict[str, Any]) -> str | None:
    ok, actual = _single(document, params)
    return None if ok and actual is not None else f"{params['path']}: expected a value, got null"


def _is_empty(document: Any, params: dict[str, Any]) -> str | None:
    ok, actual = _single(document, params)
    return (
        None
        if not ok or actual in (None, "", [], {}, 0, False)
        else f"{params['path']}: not empty: {actual!r}"
    )


def _is_not_empty(document: Any, params: dict[str, Any]) -> str | None:
    return None if _is_empty(document, params) else f"{params['path']}: expected a non-empty value"


def _contains(document: Any, params: dict[str, Any]) -> str | None:
    ok, actual = _single(document, params)
    if not ok or not isinstance(actual, list):
        return f"{params['path']}: expected a list, got {actual!r}"
    content = params["content"]
    if params.get("any"):
        hits = sum(1 for item in actual if _is_subset(content, item))
    else:
        hits = sum(1 for item in actual if item == content)
    wanted = params.get("count")
    if (wanted is None and hits == 0) or (wanted is not None and hits != wanted):
        return f"{params['path']}: {content!r} found {hits} time(s) in {actual!r}"
    return None


def _is_subset_check(document: Any, params: dict[str, Any]) -> str | None:
    ok, actual = _single(document, params)
    if ok and _is_subset(params["content"], actual):
        return None
    return f"{params['path']}: {params['content']!r} is not a subset of {actual!r}"


def _is_subset(content: Any, actual: Any) -> bool:
    if isinstance(content, dict) and isinstance(actual, dict):
        return all(k in actual and actual[k] == v for k, v in content.items())
    return bool(content == actual)


def _match_regex(document: Any, params: dict[str, Any]) -> str | None:
    found = _values(document, params)
    if not found:
        return f"path {params['path']} not found"
    for actual in found:
        if not isinstance(actual, str):
            return f"{params['path']}: expected a string, got {actual!r}"
        if not re.search(params["pattern"], actual):
            return f"{params['path']}: {actual!r} !~ /{params['pattern']}/"
    return None


def _length_equal(document: Any, params: dict[str, Any]) -> str | None:
    ok, actual = _single(document, params)
    if ok and isinstance(actual, list | dict) and len(actual) == params["count"]:
        return None
    return f"{params['path']}: expected {params['count']} item(s), got {actual!r}"


def _is_kind(document: Any, params: dict[str, Any]) -> str | None:
    kind = document.get("kind") if isinstance(document, dict) else None
    return None if kind == params["of"] else f"expected kind {params['of']}, got {kind}"


def _is_api_version(document: Any, params: dict[str, Any]) -> str | None:
    version = document.get("apiVersion") if isinstance(document, dict) else None
    return None if version == params["of"] else f"expected apiVersion {params['of']}, got {version}"


PER_DOCUMENT: dict[str, Check] = {
    "equal": _equal,
    "notEqual": _not_equal,
    "exists": _exists,
    "notExists": _not_exists,
    "isNull": _is_null,
    "isNotNull": _is_not_null,
    "isEmpty": _is_empty,
    "isNotEmpty": _is_not_empty,
    "contains": _contains,
    "isSubset": _is_subset_check,
    "matchRegex": _match_regex,
    "lengthEqual": _length_equal,
    "isKind": _is_kind,
    "isAPIVersion": _is_api_version,
}
WHOLE_RENDER = ("hasDocuments", "failedTemplate")
ASSERTIONS: tuple[str, ...] = (*PER_DOCUMENT, *WHOLE_RENDER)
"""Every assertion type this runner implements (the README lists them)."""


def run_case(case: Case) -> None:
    """Render and check every assertion: AssertionError lists each failure, SuiteError a bad suite."""
    if not case.asserts:
        raise SuiteError(f"{case.id}: a test without asserts proves nothing")
    outcome = render(case)
    failures = [
        f"asserts[{index}] {message}"
        for index, assertion in enumerate(case.asserts)
        for message in _check(case, outcome, assertion)
    ]
    if failures:
        raise AssertionError(f"{case.id}:\n  " + "\n  ".join(failures))


def _check(case: Case, outcome: Render, assertion: dict[str, Any]) -> list[str]:
    kinds = [key for key in assertion if key not in ASSERT_MODIFIERS]
    if len(kinds) != 1:
        raise SuiteError(f"{case.id}: each assert needs exactly one assertion type, got {kinds}")
    kind = kinds[0]
    if kind not in ASSERTIONS:
        raise SuiteError(f"{case.id}: unknown assertion type {kind!r} (supported: {', '.join(ASSERTIONS)})")
    params = assertion[kind] or {}
    negate = bool(assertion.get("not", False))
    templates = tuple(_as_list(assertion.get("template"))) or case.templates
    if kind == "failedTemplate":
        return _verdict(kind, _failed_template(outcome, params), negate)
    if outcome.error is not None:
        return [f"{kind}: helm template failed: {outcome.error}"]
    # As in the plugin, an assertion holds for each selected template on its own (counts are per template).
    return [
        f"{template}: {message}"
        for template in map(_template_name, templates)
        for message in _check_template(kind, params, negate, _documents(case, outcome, template, assertion))
    ]


def _check_template(
    kind: str, params: dict[str, Any], negate: bool, documents: list[tuple[int, Any]]
) -> list[str]:
    if kind == "hasDocuments":
        count = len(documents)
        problem = None if count == params["count"] else f"{count} document(s), not {params['count']}"
        return _verdict(kind, problem, negate)
    if not documents:
        return [f"{kind}: the template rendered no document to check"]
    messages = []
    for number, document in documents:
        problem = PER_DOCUMENT[kind](document, params)
        messages += [f"document {number}: {line}" for line in _verdict(kind, problem, negate)]
    return messages


def _verdict(kind: str, problem: str | None, negate: bool) -> list[str]:
    if negate:
        return [] if problem else [f"not {kind}: the assertion holds, but it must not"]
    return [f"{kind}: {problem}"] if problem else []


def _failed_template(outcome: Render, params: dict[str, Any]) -> str | None:
    if outcome.error is None:
        return "the chart rendered, but it must fail"
    if "errorMessage" in params and outcome.error != params["errorMessage"]:
        return f"error {outcome.error!r} is not {params['errorMessage']!r}"
    if "errorPattern" in params and not re.search(params["errorPattern"], outcome.error):
        return f"error {outcome.error!r} !~ /{params['errorPattern']}/"
    return None


def _documents(
    case: Case, outcome: Render, template: str, assertion: dict[str, Any]
) -> list[tuple[int, Any]]:
    numbered = list(enumerate(outcome.documents.get(template, [])))
    selector = assertion.get("documentSelector")
    if selector:
        numbered = [(i, d) for i, d in numbered if select(d, selector["path"])[:1] == [selector["value"]]]
    index = assertion.get("documentIndex", case.document_index)
    if index is not None:
        numbered = [(i, d) for i, d in numbered if i == index]
    return numbered
