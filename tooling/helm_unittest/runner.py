"""Discover a chart's suites (and its enabled subcharts'), run every test job, return one result per case."""

from __future__ import annotations

import copy
import glob
import posixpath
import re
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling.helm_unittest.assertions import VALIDATORS, Context
from tooling.helm_unittest.charts import ChartError, ChartNode, expand, load_tree
from tooling.helm_unittest.paths import PathSyntaxRefused, SetPathError, build_set_value
from tooling.helm_unittest.render import (
    DEFAULT_KUBE_MAJOR,
    DEFAULT_KUBE_MINOR,
    RAW_KEY,
    Refused,
    Rendered,
    Renderer,
    RenderRequest,
    select_templates,
)
from tooling.helm_unittest.selection import (
    SelectionError,
    effective_index,
    effective_selector,
    prefixed,
    select_documents,
    templates_to_assert,
)
from tooling.helm_unittest.snapshots import SnapshotFile
from tooling.helm_unittest.suite import InvalidSuite, Suite, TestJob, load_suite_file, one_line
from tooling.helm_unittest.yamlcompat import load, to_json

DEFAULT_TEST_FILES = ["tests/*_test.yaml"]
# The plugin's pattern for locating the failing file in an engine error (Go's (?msU): every quantifier lazy).
_RENDER_ERROR = re.compile(r"^(?:.+?: |.+? \()(?:(.+?):\d+:\d+).+?(?:.+?>)*?: (.+?)$", re.M | re.S)


@dataclass(frozen=True)
class Options:
    test_files: tuple[str, ...] = tuple(DEFAULT_TEST_FILES)
    values_files: tuple[str, ...] = ()
    update_snapshots: bool = False
    with_subchart: bool = True
    strict: bool = False
    failfast: bool = False
    skip_schema_validation: bool = False


@dataclass
class AssertionFailure:
    index: int
    kind: str
    negated: bool
    messages: list[str]


@dataclass
class CaseResult:
    """One test job's verdict: pass, fail, skipped, refused, or invalid (the plugin rejects the suite)."""

    chart: str
    suite_file: Path
    suite_name: str
    name: str
    verdict: str
    failures: list[AssertionFailure] = field(default_factory=list)
    reason: str = ""


@dataclass
class ChartRun:
    chart_dir: Path
    chart_name: str
    results: list[CaseResult]
    error: str = ""
    snapshot_files: list[SnapshotFile] = field(default_factory=list)


def run_chart(chart_dir: Path, helm: str, options: Options, workspace: Path | None = None) -> ChartRun:
    with tempfile.TemporaryDirectory(prefix="helm-unittest-") as temporary:
        base = workspace or Path(temporary)
        try:
            tree = load_tree(chart_dir)
            expanded_tree = load_tree(expand(chart_dir, base), tree.name)
        except (ChartError, OSError, tarfile.TarError) as error:
            return ChartRun(chart_dir, chart_dir.name, [], error=one_line(str(error)))
        renderer = Renderer(helm, expanded_tree, base)
        suites, results = _discover(chart_dir, tree, options)
        snapshot_files: dict[Path, SnapshotFile] = {}
        jobs: list[tuple[Suite, TestJob, SnapshotFile]] = []
        for suite in suites:
            snapshot_file = snapshot_files.setdefault(
                suite.snapshot_file, SnapshotFile(suite.snapshot_file, options.update_snapshots)
            )
            jobs += [(suite, job, snapshot_file) for job in suite.tests]
        with ThreadPoolExecutor(max_workers=4) as pool:
            results += list(
                pool.map(lambda item: _run_job(item[0], item[1], item[2], renderer, options), jobs)
            )
        for snapshot_file in snapshot_files.values():
            snapshot_file.store_if_updating()
        return ChartRun(chart_dir, tree.name, results, snapshot_files=list(snapshot_files.values()))


def _discover(chart_dir: Path, tree: ChartNode, options: Options) -> tuple[list[Suite], list[CaseResult]]:
    suites: list[Suite] = []
    invalid: list[CaseResult] = []
    root_values = _root_values(chart_dir, options)

    def visit(directory: Path, node: ChartNode, route: str) -> None:
        for pattern in options.test_files:
            for file_name in sorted(glob.glob(str(directory / pattern), recursive=True)):
                path = Path(file_name)
                try:
                    suites.extend(
                        load_suite_file(path, route, _absolute(options.values_files), options.strict)
                    )
                except InvalidSuite as error:
                    invalid.append(CaseResult(tree.name, path, "", "(suite)", "invalid", reason=str(error)))
        if not options.with_subchart:
            return
        for sub in node.subcharts:
            if _enabled(node, sub, root_values):
                visit(directory / "charts" / sub.name, sub, f"{route}/charts/{sub.name}")

    visit(chart_dir, tree, tree.name)
    return suites, invalid


def _absolute(patterns: tuple[str, ...]) -> list[str]:
    found = []
    for pattern in patterns:
        found += [str(Path(p).resolve()) for p in sorted(glob.glob(pattern, recursive=True))] or [pattern]
    return found


def _root_values(chart_dir: Path, options: Options) -> dict[str, Any]:
    values_file = chart_dir / "values.yaml"
    values = (load(values_file.read_text()) or {}) if values_file.is_file() else {}
    for name in options.values_files:
        path = Path(name) if Path(name).is_absolute() else chart_dir / name
        if path.is_file():
            values = merge(load(path.read_text()) or {}, values)
    return values


def _enabled(parent: ChartNode, sub: ChartNode, values: dict[str, Any]) -> bool:
    """The plugin's rule for running a subchart's suites: its condition, else its tags, else enabled."""
    for dependency in parent.metadata.get("dependencies") or []:
        if (dependency.get("alias") or dependency.get("name")) != sub.name:
            continue
        if dependency.get("condition"):
            return _condition(str(dependency["condition"]), values)
        tags = dependency.get("tags") or []
        if tags:
            tag_values = values.get("tags")
            if not isinstance(tag_values, dict):
                return True
            present = [tag_values[tag] for tag in tags if tag in tag_values]
            return any(value is True for value in present) if present else False
    return True


def _condition(path: str, values: dict[str, Any]) -> bool:
    current: Any = values
    parts = path.split(".")
    for position, part in enumerate(parts):
        if not isinstance(current, dict) or part not in current:
            return True
        current = current[part]
        if position == len(parts) - 1:
            return current if isinstance(current, bool) else True
    return True


def merge(preferred: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Helm's MergeTables: ``preferred`` wins, nested maps merge, ``base`` fills the gaps."""
    merged = copy.deepcopy(preferred)
    for key, value in base.items():
        if key not in merged:
            merged[key] = copy.deepcopy(value)
        elif isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = merge(merged[key], value)
    return merged


def _scope(route: str, values: dict[str, Any]) -> dict[str, Any]:
    names = route.split("/")[::2]
    while len(names) > 1:
        scoped: dict[str, Any] = {"global": values["global"]} if "global" in values else {}
        scoped[names[-1]] = values
        values, names = scoped, names[:-1]
    return values


def user_values(suite: Suite, job: TestJob) -> dict[str, Any]:
    base: dict[str, Any] = {}
    for name in job.values:
        path = Path(name) if Path(name).is_absolute() else suite.file.parent / name
        loaded = load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise SetPathError(f"failed to parse {name}: not a mapping")
        base = merge(_scope(suite.chart_route, loaded), base)
    for set_values in job.set_values:
        for set_path, value in set_values.items():
            base = merge(_scope(suite.chart_route, build_set_value(str(set_path), value)), base)
    return base


def _run_job(
    suite: Suite, job: TestJob, snapshot_file: SnapshotFile, renderer: Renderer, options: Options
) -> CaseResult:
    result = CaseResult(renderer.tree.name, suite.file, suite.name, job.name, "pass")
    if job.refusals:
        result.verdict, result.reason = "refused", job.refusals[0]
        return result
    if job.skip_reason:
        result.verdict, result.reason = "skipped", job.skip_reason
        return result
    try:
        values = user_values(suite, job)
    except (OSError, SetPathError) as error:
        result.verdict, result.reason = "fail", one_line(str(error))
        return result
    capabilities = job.capabilities
    request = RenderRequest(
        release_name=str(job.release.get("name") or ""),
        namespace=str(job.release.get("namespace") or ""),
        revision=int(job.release.get("revision") or 0),
        upgrade=bool(job.release.get("upgrade")),
        kube_major=capabilities.get("majorVersion") or DEFAULT_KUBE_MAJOR,
        kube_minor=capabilities.get("minorVersion") or DEFAULT_KUBE_MINOR,
        api_versions=tuple(capabilities.get("apiVersions") or ()),
        chart_version=job.chart.get("version", ""),
        chart_app_version=job.chart.get("appVersion", ""),
        include_crds=suite.include_crds,
        skip_schema_validation=options.skip_schema_validation,
        selected=select_templates(renderer.tree, suite.chart_route, suite.templates, suite.exclude_templates),
        values_json=to_json(values),
    )
    try:
        rendered = renderer.render(request)
        return _assert_all(suite, job, rendered, request, snapshot_file, result)
    except (Refused, PathSyntaxRefused) as refusal:
        result.verdict, result.reason = "refused", str(refusal)
        return result
    except re.error as error:
        result.verdict, result.reason = (
            "refused",
            f"regular expression syntax Python does not share with Go: {error}",
        )
        return result


def _outputs(suite: Suite, job: TestJob, rendered: Rendered) -> tuple[dict[str, list[Any]], list[str]]:
    """Documents per template key as the plugin's assertions see them, and the keys a wildcard selects."""
    if rendered.error is None:
        keys = sorted(rendered.documents)
        return rendered.documents, keys
    if all(a.needs_render_success for a in job.asserts):
        return {}, []
    match = _RENDER_ERROR.search(rendered.error)
    if match is None:
        return {}, []
    failed_file = match[1]
    content = rendered.error.split("\n", 1)[1] if "\n" in rendered.error else match[2]
    outputs: dict[str, list[Any]] = {}
    if posixpath.basename(failed_file).startswith("_"):
        for name in suite.templates or ["**"]:
            outputs[prefixed(suite.chart_route, name)] = [{RAW_KEY: content}]
    else:
        chart_name = suite.chart_route.split("/")[0]
        key = failed_file if failed_file.startswith(chart_name) else posixpath.join(chart_name, failed_file)
        outputs[key] = [{RAW_KEY: content}]
    return outputs, sorted(outputs)


def _assert_all(
    suite: Suite,
    job: TestJob,
    rendered: Rendered,
    request: RenderRequest,
    snapshot_file: SnapshotFile,
    result: CaseResult,
) -> CaseResult:
    if rendered.exec_error is not None:
        result.verdict, result.reason = "fail", one_line(rendered.exec_error)
        return result
    if rendered.error is not None and rendered.wrapped and ".hu-raw.yaml" in rendered.error:
        raise Refused("a render error inside a text template (its message differs from the plugin's)")
    if rendered.error is not None and (
        'executing "' in rendered.error or "execution error at (" in rendered.error
    ):
        for a in job.asserts:
            if a.kind == "failedTemplate" and (
                a.params.get("errorMessage") or str(a.params.get("errorPattern", "")).startswith("^")
            ):
                raise Refused(
                    "failedTemplate exact message on a template error"
                    " (the plugin's Helm 3.20 words it differently)"
                )
    outputs, wildcard_keys = _outputs(suite, job, rendered)
    render_ok = rendered.error is None
    skip_empty = bool(job.document_selector and job.document_selector.get("skipEmptyTemplates") is True)
    comparer = snapshot_file.comparer(job.name)
    passed_all = True
    skipped = []
    for assertion in job.asserts:
        keys = templates_to_assert(assertion, job, suite.templates, suite.chart_route, wildcard_keys)
        index = effective_index(assertion, job)
        if (index is not None or assertion.kind.startswith("matchSnapshot")) and set(
            keys
        ) & rendered.order_uncertain:
            raise Refused(
                "document order in a template with several kinds (helm template sorts documents by kind)"
            )
        passed, messages, was_skipped = _evaluate(
            assertion, job, keys, outputs, render_ok, rendered, skip_empty, comparer, index
        )
        skipped.append(was_skipped)
        if not passed:
            passed_all = False
            result.failures.append(
                AssertionFailure(assertion.index, assertion.kind, assertion.shown_not, messages)
            )
    result.verdict = "pass" if passed_all else "fail"
    if passed_all and skipped and all(skipped):
        result.reason = "every assertion skipped (documentSelector.skipEmptyTemplates)"
    del request
    return result


def _evaluate(
    assertion: Any,
    job: TestJob,
    keys: list[str],
    outputs: dict[str, list[Any]],
    render_ok: bool,
    rendered: Rendered,
    skip_empty: bool,
    comparer: Any,
    index: int | None,
) -> tuple[bool, list[str], bool]:
    templates = {key: outputs.get(key) for key in keys}
    try:
        selected = select_documents(templates, effective_selector(assertion, job), index)
    except SelectionError as error:
        return False, [f"Error: {error}"], False
    chosen = sorted(selected)
    if skip_empty and not chosen:
        return True, [], True
    validator = VALIDATORS[assertion.kind]

    def context(docs: list[Any], picked: list[Any]) -> Context:
        return Context(docs, picked, assertion.negative, rendered.error, comparer)

    if not chosen:
        if assertion.needs_render_success != render_ok:
            return False, ["Error: rendered manifest is empty"], False
        passed, messages = validator(assertion.params, context([], []))
        return passed, messages, False
    passed_all, all_messages = True, []
    for key in chosen:
        if key not in outputs and assertion.needs_render_success:
            passed, messages = False, [f'Error: template "{key}" not exists or not selected in test suite']
        elif assertion.needs_render_success != render_ok:
            passed, messages = False, [f"Error: Invalid rendering: {rendered.error or 'the chart rendered'}"]
        else:
            passed, messages = validator(assertion.params, context(outputs.get(key) or [], selected[key]))
            messages = [f"Template: {key}", *messages] if not passed else messages
        passed_all = passed_all and passed
        all_messages += messages if not passed else []
    return passed_all, all_messages, False
