"""Which templates and documents each assertion reads: template defaults, documentIndex, documentSelector."""

from __future__ import annotations

import posixpath
from typing import Any

from tooling.helm_unittest.charts import template_file_name
from tooling.helm_unittest.paths import find
from tooling.helm_unittest.suite import Assertion, TestJob
from tooling.helm_unittest.yamlcompat import go_equal


class SelectionError(Exception):
    """The plugin's selection error (index out of range, document not found, multiple indexes): a failure."""


def prefixed(chart_route: str, name: str) -> str:
    return posixpath.normpath(posixpath.join(chart_route, template_file_name(name)))


def templates_to_assert(
    assertion: Assertion, job: TestJob, suite_templates: list[str], chart_route: str, output_keys: list[str]
) -> list[str]:
    if assertion.template:
        return [prefixed(chart_route, assertion.template)]
    if job.templates:
        return [prefixed(chart_route, name) for name in job.templates]
    if job.template:
        return [prefixed(chart_route, job.template)]
    defaults = suite_templates or ["**"]
    if any("*" in name for name in defaults):
        return list(output_keys)
    return [prefixed(chart_route, name) for name in defaults]


def effective_selector(assertion: Assertion, job: TestJob) -> dict[str, Any] | None:
    return assertion.document_selector if assertion.document_selector is not None else job.document_selector


def effective_index(assertion: Assertion, job: TestJob) -> int | None:
    return job.document_index if job.document_index is not None else assertion.document_index


def select_documents(
    templates: dict[str, list[Any] | None], selector: dict[str, Any] | None, index: int | None
) -> dict[str, list[Any]]:
    if selector is not None and selector.get("path"):
        return _by_selector(templates, selector)
    if index is not None:
        chosen = {}
        for key, documents in templates.items():
            if index >= len(documents or []):
                raise SelectionError(f"document index {index} is out of range")
            chosen[key] = [(documents or [])[index]]
        return chosen
    return {key: list(documents or []) for key, documents in templates.items()}


def _by_selector(templates: dict[str, list[Any] | None], selector: dict[str, Any]) -> dict[str, list[Any]]:
    path = str(selector["path"])
    wanted = selector.get("value")
    match_many = selector.get("matchMany") is True
    skip_empty = selector.get("skipEmptyTemplates") is True
    chosen: dict[str, list[Any]] = {}
    total = 0
    for key, documents in templates.items():
        matching: list[Any] = []
        for document in documents or []:
            found = find(document, path)
            if any(wanted is None or go_equal(wanted, value) for value in found):
                if not match_many and matching:
                    raise SelectionError("multiple indexes found")
                matching.append(document)
        if not skip_empty and not matching:
            raise SelectionError("document not found")
        total += len(matching)
        if not match_many and total > 1:
            raise SelectionError("multiple indexes found")
        if matching or not skip_empty:
            chosen[key] = matching
    return chosen
