"""Suite files: load every YAML document of a ``*_test.yaml`` as the plugin does; refuse the unknown.

A suite the plugin itself rejects (no tests, a test without asserts, a malformed assertion) is *invalid*.
Anything the plugin knows but this runner does not implement is *refused*: the affected cases are neither
passed nor failed, and the refusal names the feature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tooling.helm_unittest.yamlcompat import load

PLUGIN_VERSION = (1, 1, 0)
# The plugin splits a suite file on lines of three hyphens before decoding each part on its own.
_SPLITTER = re.compile(r"(?:^|\s*\n)---\s*")

SUITE_KEYS = frozenset(
    {"suite", "templates", "excludeTemplates", "values", "set", "release", "chart", "capabilities"}
    | {"includeCrds", "skip", "tests", "snapshotId"}
)
TEST_KEYS = frozenset(
    {"it", "values", "set", "template", "templates", "documentIndex", "documentSelector", "release"}
    | {"chart", "capabilities", "asserts", "skip"}
)
RELEASE_KEYS = frozenset({"name", "namespace", "revision", "upgrade"})
CHART_KEYS = frozenset({"version", "appVersion"})
CAPABILITIES_KEYS = frozenset({"majorVersion", "minorVersion", "apiVersions"})
SELECTOR_KEYS = frozenset({"path", "value", "matchMany", "skipEmptyTemplates"})
ASSERT_MODIFIERS = frozenset({"template", "documentIndex", "documentSelector", "not"})

# Each assertion type: its parameters, whether it is the antonym of its validator, whether it needs a render.
_PATH_VALUE = frozenset({"path", "value"})
ASSERTION_TYPES: dict[str, tuple[frozenset[str], bool, bool]] = {
    "equal": (_PATH_VALUE | {"decodeBase64"}, False, True),
    "notEqual": (_PATH_VALUE | {"decodeBase64"}, True, True),
    "greaterOrEqual": (_PATH_VALUE, False, True),
    "notGreaterOrEqual": (_PATH_VALUE, True, True),
    "lessOrEqual": (_PATH_VALUE, False, True),
    "notLessOrEqual": (_PATH_VALUE, True, True),
    "equalRaw": (frozenset({"value"}), False, True),
    "notEqualRaw": (frozenset({"value"}), True, True),
    "exists": (frozenset({"path"}), False, True),
    "notExists": (frozenset({"path"}), True, True),
    "isNull": (frozenset({"path"}), True, True),
    "isNotNull": (frozenset({"path"}), False, True),
    "matchRegex": (frozenset({"path", "pattern", "decodeBase64"}), False, True),
    "notMatchRegex": (frozenset({"path", "pattern", "decodeBase64"}), True, True),
    "matchRegexRaw": (frozenset({"pattern"}), False, True),
    "notMatchRegexRaw": (frozenset({"pattern"}), True, True),
    "contains": (frozenset({"path", "content", "count", "any"}), False, True),
    "notContains": (frozenset({"path", "content", "count", "any"}), True, True),
    "isKind": (frozenset({"of"}), False, True),
    "isAPIVersion": (frozenset({"of"}), False, True),
    "hasDocuments": (frozenset({"count", "filterAware"}), False, True),
    "isSubset": (frozenset({"path", "content"}), False, True),
    "isNotSubset": (frozenset({"path", "content"}), True, True),
    "isNullOrEmpty": (frozenset({"path"}), False, True),
    "isNotNullOrEmpty": (frozenset({"path"}), True, True),
    "isEmpty": (frozenset({"path"}), False, True),
    "isNotEmpty": (frozenset({"path"}), True, True),
    "failedTemplate": (frozenset({"errorMessage", "errorPattern"}), False, False),
    "notFailedTemplate": (frozenset({"errorMessage", "errorPattern"}), True, True),
    "containsDocument": (frozenset({"kind", "apiVersion", "name", "namespace", "any"}), False, True),
    "lengthEqual": (frozenset({"path", "paths", "count"}), False, True),
    "notLengthEqual": (frozenset({"path", "paths", "count"}), True, True),
    "isType": (frozenset({"path", "type"}), False, True),
    "isNotType": (frozenset({"path", "type"}), True, True),
    "matchSnapshot": (frozenset({"path"}), False, True),
    "matchSnapshotRaw": (frozenset(), False, True),
}
# Parameters the plugin knows that this runner refuses rather than approximates.
REFUSED_PARAMETERS = {
    ("matchSnapshot", "matchRegex"): "matchSnapshot.matchRegex (compares the plugin's exact YAML text)",
    ("matchSnapshot", "notMatchRegex"): "matchSnapshot.notMatchRegex (compares the plugin's exact YAML text)",
}


class InvalidSuite(Exception):
    """The plugin itself rejects this suite file."""


@dataclass(frozen=True)
class Assertion:
    index: int
    kind: str
    params: dict[str, Any]
    negative: bool
    needs_render_success: bool
    template: str
    document_index: int | None
    document_selector: dict[str, Any] | None
    shown_not: bool


@dataclass
class TestJob:
    name: str
    values: list[str]
    set_values: list[dict[str, Any]]
    template: str
    templates: list[str]
    document_index: int | None
    document_selector: dict[str, Any] | None
    release: dict[str, Any]
    chart: dict[str, str]
    capabilities: dict[str, Any]
    asserts: list[Assertion]
    skip_reason: str
    refusals: list[str] = field(default_factory=list)


@dataclass
class Suite:
    name: str
    file: Path
    chart_route: str
    templates: list[str]
    exclude_templates: list[str]
    include_crds: bool
    snapshot_id: str
    tests: list[TestJob]
    skip_reason: str = ""

    @property
    def snapshot_file(self) -> Path:
        name = self.file.name + (f"_{self.snapshot_id}" if self.snapshot_id else "")
        return self.file.parent / "__snapshot__" / f"{name}.snap"


def load_suite_file(path: Path, chart_route: str, extra_values: list[str], strict: bool) -> list[Suite]:
    """Every suite document of ``path``; raises InvalidSuite where the plugin reports the file as invalid."""
    suites = []
    for part in _SPLITTER.split(path.read_text()):
        if not part.strip():
            continue
        try:
            data = load(part)
        except yaml.YAMLError as error:
            raise InvalidSuite(f"{path}: YAML error: {one_line(str(error))}") from error
        if data is None:
            continue
        if not isinstance(data, dict):
            raise InvalidSuite(f"{path}: a suite must be a mapping")
        suites.append(_suite(path, chart_route, data, extra_values, strict))
    return suites


def _suite(
    path: Path, chart_route: str, data: dict[str, Any], extra_values: list[str], strict: bool
) -> Suite:
    tests_data = data.get("tests") or []
    if not isinstance(tests_data, list) or not tests_data:
        raise InvalidSuite(f"{path}: no tests found")
    if any(not isinstance(t, dict) or not t.get("asserts") for t in tests_data):
        raise InvalidSuite(f"{path}: no asserts found")
    suite_refusals = _unknown(data, SUITE_KEYS, "suite key", strict, path)
    release = _section(data, "release", RELEASE_KEYS, suite_refusals, "suite", strict, path)
    chart = _section(data, "chart", CHART_KEYS, suite_refusals, "suite", strict, path)
    capabilities = _section(data, "capabilities", CAPABILITIES_KEYS, suite_refusals, "suite", strict, path)
    skip = _section(
        data, "skip", frozenset({"reason", "minimumVersion"}), suite_refusals, "suite", strict, path
    )
    skip_reason = str(skip.get("reason") or "")
    minimum = skip.get("minimumVersion")
    if minimum and not skip_reason and not _meets_minimum(str(minimum)):
        skip_reason = (
            f"Test suite requires minimum unittest plugin version {minimum}, but current version is 1.1.0"
        )
    suite_values = [str(v) for v in _as_list(data.get("values"))] + extra_values
    suite_set = data.get("set") or {}
    tests = []
    for test_data in tests_data:
        test = _test(test_data, path, strict)
        test.refusals = suite_refusals + test.refusals
        test.values = suite_values + test.values
        test.set_values = [suite_set, *test.set_values]
        test.release = _merge_release(release, test.release)
        test.chart = {k: str(test.chart.get(k) or chart.get(k) or "") for k in CHART_KEYS}
        test.capabilities = _merge_capabilities(capabilities, test.capabilities)
        if skip_reason:
            test.skip_reason = skip_reason
        tests.append(test)
    suite = Suite(
        name=str(data.get("suite") or ""),
        file=path,
        chart_route=chart_route,
        templates=[str(t) for t in _as_list(data.get("templates"))],
        exclude_templates=[str(t) for t in _as_list(data.get("excludeTemplates"))],
        include_crds=bool(data.get("includeCrds")),
        snapshot_id=str(data.get("snapshotId") or ""),
        tests=tests,
        skip_reason=skip_reason,
    )
    if not skip_reason and all(t.skip_reason for t in tests):
        suite.skip_reason = "all tests are skipped"
    return suite


def _test(data: dict[str, Any], path: Path, strict: bool) -> TestJob:
    refusals = _unknown(data, TEST_KEYS, "test key", strict, path)
    release = _section(data, "release", RELEASE_KEYS, refusals, "test", strict, path)
    chart = _section(data, "chart", CHART_KEYS, refusals, "test", strict, path)
    capabilities = data.get("capabilities")
    if capabilities is not None:
        if not isinstance(capabilities, dict):
            raise InvalidSuite(f"{path}: test capabilities must be a mapping")
        refusals += [f"test key capabilities.{k}" for k in capabilities if k not in CAPABILITIES_KEYS]
    selector = data.get("documentSelector")
    if selector is not None:
        if not isinstance(selector, dict):
            raise InvalidSuite(f"{path}: documentSelector must be a mapping")
        refusals += [f"test key documentSelector.{k}" for k in selector if k not in SELECTOR_KEYS]
    document_index = data.get("documentIndex")
    if document_index is not None and (
        not isinstance(document_index, int) or isinstance(document_index, bool)
    ):
        raise InvalidSuite(f"{path}: documentIndex must be an integer")
    asserts = []
    for index, raw in enumerate(data.get("asserts") or []):
        assertion, refused = _assertion(index, raw, path)
        refusals += refused
        if assertion is not None:
            asserts.append(assertion)
    skip = data.get("skip") or {}
    if not isinstance(skip, dict):
        raise InvalidSuite(f"{path}: skip must be a mapping")
    refusals += [f"test key skip.{k}" for k in skip if k != "reason"]
    return TestJob(
        name=str(data.get("it") or ""),
        values=[str(v) for v in _as_list(data.get("values"))],
        set_values=[data.get("set") or {}],
        template=str(data.get("template") or ""),
        templates=[str(t) for t in _as_list(data.get("templates"))],
        document_index=document_index,
        document_selector=selector,
        release=release,
        chart={k: str(v) for k, v in chart.items() if v is not None},
        capabilities=dict(capabilities or {}),
        asserts=asserts,
        skip_reason=str(skip.get("reason") or ""),
        refusals=refusals,
    )


def _assertion(index: int, raw: Any, path: Path) -> tuple[Assertion | None, list[str]]:
    if not isinstance(raw, dict):
        raise InvalidSuite(f"{path}: asserts[{index}] must be a mapping")
    kinds = [key for key in raw if key not in ASSERT_MODIFIERS]
    known = [key for key in kinds if key in ASSERTION_TYPES]
    if len(known) > 1:
        raise InvalidSuite(f"{path}: asserts[{index}] declares {known[0]} and {known[1]}")
    if not known:
        if kinds:
            return None, [f"assertion type {kinds[0]}"]
        raise InvalidSuite(f"{path}: asserts[{index}] has no assertion type")
    kind = known[0]
    refusals = [f"assertion key {key} (beside {kind})" for key in kinds if key != kind]
    params = raw[kind] if raw[kind] is not None else {}
    if not isinstance(params, dict):
        raise InvalidSuite(f"{path}: asserts[{index}].{kind} must be a mapping")
    allowed, antonym, needs_success = ASSERTION_TYPES[kind]
    for name in params:
        if (kind, name) in REFUSED_PARAMETERS:
            refusals.append(REFUSED_PARAMETERS[(kind, name)])
        elif name not in allowed:
            refusals.append(f"assertion parameter {kind}.{name}")
    selector = raw.get("documentSelector")
    if selector is not None:
        if not isinstance(selector, dict) or not isinstance(selector.get("path"), str):
            raise InvalidSuite(f"{path}: asserts[{index}]: empty 'documentSelector.path' not supported")
        refusals += [f"assertion key documentSelector.{k}" for k in selector if k not in SELECTOR_KEYS]
    document_index = raw.get("documentIndex")
    negated = raw.get("not") is True
    return (
        Assertion(
            index=index,
            kind=kind,
            params=params,
            negative=negated != antonym,
            needs_render_success=needs_success,
            template=raw["template"] if isinstance(raw.get("template"), str) else "",
            document_index=document_index
            if isinstance(document_index, int) and not isinstance(document_index, bool)
            else None,
            document_selector=selector,
            shown_not=negated,
        ),
        refusals,
    )


def _unknown(data: dict[str, Any], known: frozenset[str], what: str, strict: bool, path: Path) -> list[str]:
    unknown = [key for key in data if key not in known]
    if strict and unknown:
        raise InvalidSuite(f"{path}: field {unknown[0]} not found (--strict)")
    special = {"kubernetesProvider": "a fake Kubernetes client", "postRenderer": "a post-renderer"}
    separator = "" if what.endswith(".") else " "
    return [f"{what}{separator}{key}" + (f" ({special[key]})" if key in special else "") for key in unknown]


def _section(
    data: dict[str, Any],
    key: str,
    known: frozenset[str],
    refusals: list[str],
    level: str,
    strict: bool,
    path: Path,
) -> dict[str, Any]:
    section = data.get(key) or {}
    if not isinstance(section, dict):
        raise InvalidSuite(f"{path}: {level} {key} must be a mapping")
    refusals += _unknown(section, known, f"{level} key {key}.", strict, path)
    return dict(section)


def _merge_release(suite: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    return {k: test.get(k) or suite.get(k) for k in RELEASE_KEYS}


def _merge_capabilities(suite: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    """The plugin's rule: a test's versions win, its apiVersions extend the suite's unless set to null."""
    merged: dict[str, Any] = {
        "majorVersion": _version_text(test.get("majorVersion")) or _version_text(suite.get("majorVersion")),
        "minorVersion": _version_text(test.get("minorVersion")) or _version_text(suite.get("minorVersion")),
    }
    if "apiVersions" in test and not isinstance(test["apiVersions"], list):
        merged["apiVersions"] = []
    else:
        own = [v for v in test.get("apiVersions") or [] if isinstance(v, str)]
        merged["apiVersions"] = own + [str(v) for v in suite.get("apiVersions") or []]
    return merged


def _version_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    return str(value) if isinstance(value, str | int) else ""


def _meets_minimum(minimum: str) -> bool:
    match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", minimum.strip())
    if not match:
        return False
    wanted = tuple(int(part or 0) for part in match.groups())
    return wanted <= PLUGIN_VERSION


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def one_line(text: str) -> str:
    return " ".join(text.split())
