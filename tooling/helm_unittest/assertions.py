"""The plugin's validators: each takes the selected documents and says pass or fail, with the reasons.

Semantics follow helm-unittest v1.1.0: a path that reaches nothing fails a positive assertion and satisfies a
negative one; a path reaching several values needs every one to hold; no document fails a positive assertion.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tooling.helm_unittest.paths import find
from tooling.helm_unittest.render import RAW_KEY
from tooling.helm_unittest.yamlcompat import dump, go_equal, go_is_zero, go_type_name

_TRAILING_SPACES = re.compile(r"[ ]+\r?\n")


class SnapshotComparer:
    """Interface: compare a value with the next stored snapshot of the current test."""

    def compare(self, content: Any) -> tuple[bool, str]:
        raise NotImplementedError


@dataclass
class Context:
    docs: list[Any]
    selected: list[Any]
    negative: bool
    render_error: str | None
    snapshots: SnapshotComparer


Outcome = tuple[bool, list[str]]


def uniform(value: Any) -> str:
    """Go's ``fmt.Sprintf("%v")`` of a raw text with trailing spaces and leading newlines dropped."""
    text = "<nil>" if value is None else str(value)
    return _TRAILING_SPACES.sub("\n", text).lstrip("\n")


def _all_of(results: list[bool]) -> bool:
    return all(results) if results else False


def _not(context: Context) -> str:
    return " NOT" if context.negative else ""


def _per_document(context: Context, check: Callable[[Any, int], Outcome], empty_message: str) -> Outcome:
    """Every selected document must pass; none selected passes only a negative assertion."""
    if not context.selected:
        return (True, []) if context.negative else (False, [empty_message])
    results, errors = [], []
    for index, document in enumerate(context.selected):
        passed, messages = check(document, index)
        results.append(passed)
        errors += messages
    return _all_of(results), errors


def _per_value(
    context: Context, params: dict[str, Any], check: Callable[[Any], str | None], document: Any, index: int
) -> Outcome:
    """Every value the path reaches must pass; reaching none passes only a negative assertion."""
    path = str(params.get("path") or "")
    actuals = find(document, path)
    if not actuals:
        return (True, []) if context.negative else (False, [f"DocumentIndex {index}: unknown path {path}"])
    problems = [problem for actual in actuals if (problem := check(actual)) is not None]
    return not problems, [f"DocumentIndex {index}: Path {path}: {p}" for p in problems]


def _each_value(
    context: Context, params: dict[str, Any], check: Callable[[Any], str | None], empty: str
) -> Outcome:
    """The plugin's common shape: every value of ``params.path`` in every selected document must pass."""
    return _per_document(context, lambda doc, i: _per_value(context, params, check, doc, i), empty)


def _decoded(actual: Any, params: dict[str, Any]) -> Any:
    if isinstance(actual, str) and params.get("decodeBase64"):
        try:
            return base64.b64decode(actual, validate=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError) as error:
            raise _Problem(f"unable to decode base64 expected content {actual}") from error
    return actual


class _Problem(Exception):
    pass


def equal(params: dict[str, Any], context: Context) -> Outcome:
    expected = params.get("value")

    def check(actual: Any) -> str | None:
        try:
            actual = _decoded(actual, params)
        except _Problem as problem:
            return str(problem)
        if isinstance(actual, str):
            actual = uniform(actual)
        if go_equal(expected, actual) == context.negative:
            return f"expected{_not(context)} to equal {dump(expected)!r}, actual {dump(actual)!r}"
        return None

    return _each_value(context, params, check, "no manifest found to compare")


def compare_order(comparison: str) -> Callable[[dict[str, Any], Context], Outcome]:
    """greaterOrEqual / lessOrEqual as the plugin evaluates them.

    The plugin's check reads ``(greater && a >= e) || (less && a <= e) == !negative``; Go binds ``==`` first,
    so ``notGreaterOrEqual`` always holds while ``notLessOrEqual`` means greater. Reproduced, not corrected.
    """

    def holds(actual: Any, expected: Any, negative: bool) -> bool:
        if comparison == "greater":
            return bool(actual >= expected) or negative
        return bool(actual <= expected) == (not negative)

    def validate(params: dict[str, Any], context: Context) -> Outcome:
        expected = params.get("value")
        path = str(params.get("path") or "")

        def per_doc(document: Any, index: int) -> Outcome:
            actuals = find(document, path)
            if not actuals:
                return (
                    (True, [])
                    if context.negative
                    else (False, [f"DocumentIndex {index}: unknown path '{path}'"])
                )
            success = False
            errors = []
            for position, actual in enumerate(actuals):
                if type(actual) is not type(expected):
                    errors.append(
                        f"actual {go_type_name(actual)} and expected {go_type_name(expected)} types differ"
                    )
                    continue
                if isinstance(expected, bool) or not isinstance(expected, str | int | float):
                    single = False
                    errors.append(f"unsupported type {go_type_name(expected)}")
                else:
                    single = holds(actual, expected, context.negative)
                    if not single:
                        errors.append(f"the actual {actual!r} is not {comparison} or equal to {expected!r}")
                success = single if position == 0 else success and single
            return success, errors

        return _per_document(context, per_doc, "no manifests found")

    return validate


def equal_raw(params: dict[str, Any], context: Context) -> Outcome:
    expected = params.get("value")

    def check(document: Any, index: int) -> Outcome:
        actual = uniform(document.get(RAW_KEY))
        if go_equal(expected, actual) == context.negative:
            return False, [f"expected{_not(context)} to equal {expected!r}, actual {actual!r}"]
        return True, []

    return _per_document(context, check, "no manifest found")


def exists(params: dict[str, Any], context: Context) -> Outcome:
    path = str(params.get("path") or "")

    def check(document: Any, index: int) -> Outcome:
        found = bool(find(document, path))
        if found == context.negative:
            return False, [f"DocumentIndex {index}: Path {path} expected to{_not(context)} exist"]
        return True, []

    return _per_document(context, check, f"Path {path} expected to exist: no manifest found")


def match_regex(params: dict[str, Any], context: Context) -> Outcome:
    pattern_text = str(params.get("pattern") or "")
    if not pattern_text:
        return False, ["expected field 'pattern' to be filled"]
    pattern = re.compile(pattern_text)

    def check(actual: Any) -> str | None:
        if not isinstance(actual, str):
            return f"expect to be a string, got {dump(actual)!r}"
        try:
            text = _decoded(actual, params)
        except _Problem as problem:
            return str(problem)
        if bool(pattern.search(text)) == context.negative:
            return f"expected{_not(context)} to match {pattern_text!r}, actual {text!r}"
        return None

    return _each_value(context, params, check, "no manifest found to match")


def match_regex_raw(params: dict[str, Any], context: Context) -> Outcome:
    pattern_text = str(params.get("pattern") or "")
    if not pattern_text:
        return False, ["expected field 'pattern' to be filled"]
    pattern = re.compile(pattern_text)

    def check(document: Any, index: int) -> Outcome:
        actual = uniform(document.get(RAW_KEY))
        if bool(pattern.search(actual)) == context.negative:
            return False, [f"expected{_not(context)} to match {pattern_text!r}, actual {actual!r}"]
        return True, []

    return _per_document(context, check, "no manifest found to match")


def contains(params: dict[str, Any], context: Context) -> Outcome:
    content = params.get("content")
    count = params.get("count")
    any_match = bool(params.get("any"))

    def hits(items: list[Any]) -> int:
        total = 0
        for item in items:
            if any_match:
                if isinstance(item, dict) and isinstance(content, dict):
                    total += int(_subset(item, content))
                    continue
                total += int(go_equal(item, content))
            else:
                total += int(go_equal(item, content))
        return total

    def check(actual: Any) -> str | None:
        if not isinstance(actual, list):
            return f"expect to be an array, got {dump(actual)!r}"
        found = hits(actual)
        holds = found > 0 if count is None else (found > 0 and found == count)
        if holds == context.negative:
            wanted = "" if count is None else f" {count} time(s)"
            return f"expected{_not(context)} to contain {dump(content)!r}{wanted}, found {found}"
        return None

    return _each_value(context, params, check, "no manifest found to contain")


def _subset(actual: dict[str, Any], content: dict[str, Any]) -> bool:
    return all(
        go_equal(actual.get(key), value) if key in actual else value is None for key, value in content.items()
    )


def is_subset(params: dict[str, Any], context: Context) -> Outcome:
    content = params.get("content")

    def check(actual: Any) -> str | None:
        if not isinstance(actual, dict) or not isinstance(content, dict):
            return f"expect to be an object, got {dump(actual)!r}"
        if _subset(actual, content) == context.negative:
            return f"expected{_not(context)} to contain {dump(content)!r}, actual {dump(actual)!r}"
        return None

    return _each_value(context, params, check, "no manifest found to contain")


def is_null_or_empty(params: dict[str, Any], context: Context) -> Outcome:
    def check(actual: Any) -> str | None:
        if go_is_zero(actual) == context.negative:
            return f"expected{_not(context)} to be null or empty, got {dump(actual)!r}"
        return None

    return _each_value(context, params, check, "no manifest found to check")


def is_type(params: dict[str, Any], context: Context) -> Outcome:
    wanted = str(params.get("type") or "")

    def check(actual: Any) -> str | None:
        actual_type = go_type_name(actual)
        if (actual_type == wanted) == context.negative:
            return f"expected{_not(context)} to be of type {wanted}, actual {actual_type}"
        return None

    return _each_value(context, params, check, "no manifest found to check")


def _kind_field(field_name: str, label: str) -> Callable[[dict[str, Any], Context], Outcome]:
    def validate(params: dict[str, Any], context: Context) -> Outcome:
        wanted = params.get("of")

        def check(document: Any, index: int) -> Outcome:
            actual = document.get(field_name)
            holds = isinstance(actual, str) and actual == wanted
            if holds == context.negative:
                return False, [
                    f"DocumentIndex {index}: expected{_not(context)} to be {label} {wanted}, actual {actual}"
                ]
            return True, []

        return _per_document(context, check, f"expected to be {label} {wanted}: no manifest found")

    return validate


def has_documents(params: dict[str, Any], context: Context) -> Outcome:
    wanted = params.get("count") or 0
    actual = len(context.selected) if params.get("filterAware") else len(context.docs)
    if (actual == wanted) != context.negative:
        return True, []
    return False, [f"expected{_not(context)} documents count to be {wanted}, actual {actual}"]


def contains_document(params: dict[str, Any], context: Context) -> Outcome:
    kind, api_version = params.get("kind"), params.get("apiVersion")
    name, namespace = params.get("name") or "", params.get("namespace") or ""
    any_match = bool(params.get("any"))
    described = f"Kind = {kind}, apiVersion = {api_version}" + (f", Name = {name}" if name else "")
    described += f", Namespace = {namespace}" if namespace else ""

    def matches(document: dict[str, Any]) -> bool:
        for field_name, wanted in (("kind", kind), ("apiVersion", api_version)):
            actual = document.get(field_name)
            if isinstance(actual, str) and actual != wanted:
                return False
        for path, wanted in (("metadata.name", name), ("metadata.namespace", namespace)):
            if wanted:
                found = find(document, path)
                if not found or found[0] != wanted:
                    return False
        return True

    if not context.selected:
        return (True, []) if context.negative else (False, [f"expected to contain document: {described}"])
    passed, errors = True, []
    for index, document in enumerate(context.selected):
        if matches(document) == context.negative:
            passed = False
            errors.append(f"DocumentIndex {index}: expected{_not(context)} to contain document: {described}")
        elif any_match != context.negative:
            return True, []
    return passed, errors


def length_equal(params: dict[str, Any], context: Context) -> Outcome:
    path, paths, count = params.get("path") or "", params.get("paths") or [], params.get("count")
    if path and (count is None or count < 0):
        return False, ["'count' field must be set if 'path' is used"]
    if path and paths:
        return False, ["'paths' couldn't be used with 'path'"]

    def counts(document: Any, one_path: str) -> tuple[bool, list[str], int]:
        actuals = find(document, one_path)
        success = not actuals and context.negative
        errors: list[str] = []
        length = 0
        for position, actual in enumerate(actuals):
            if not isinstance(actual, list) and count is None:
                errors.append(f"{one_path} is not array")
                continue
            length = len(actual) if isinstance(actual, list) else 0
            single = not (count is not None and (length == count) == context.negative)
            if not single:
                errors.append(f"Path {one_path}: expected{_not(context)} count {count}, got {length}")
            success = single if position == 0 else success and single
        return success, errors, length

    def check(document: Any, index: int) -> Outcome:
        if path:
            passed, errors, _ = counts(document, path)
            return passed, errors
        lengths: dict[str, int] = {}
        errors = []
        for one_path in paths:
            passed, more, lengths[one_path] = counts(document, one_path)
            if not passed:
                return False, errors + more
        first = None
        for one_path in sorted(lengths):
            if first is None:
                first = lengths[one_path]
            elif (first == lengths[one_path]) == context.negative:
                return False, [f"Path {one_path}: expected count {first}, got {lengths[one_path]}"]
        return first is not None, []

    return _per_document(context, check, "no manifest found")


def failed_template(params: dict[str, Any], context: Context) -> Outcome:
    message, pattern = params.get("errorMessage") or "", params.get("errorPattern") or ""
    if message and pattern:
        return False, ["single attribute 'errorMessage' or 'errorPattern' supported at the same time"]

    def holds(actual: str | None) -> bool:
        if actual is None:
            return False
        if pattern:
            try:
                return re.search(pattern, actual) is not None
            except re.error:
                return re.escape(pattern) in actual or re.search(re.escape(pattern), actual) is not None
        return actual == message

    if context.render_error is not None:
        if not message and not pattern:
            return True, []
        if holds(context.render_error) == context.negative:
            return False, [
                f"expected{_not(context)} to match {message or pattern!r}, actual {context.render_error!r}"
            ]
        return True, []
    if not context.selected and not context.negative:
        return False, ["expected a failed template: No failed document"]
    passed = True
    errors = []
    for document in context.selected:
        if not message and not pattern:
            continue
        actual = document.get(RAW_KEY) if isinstance(document, dict) else None
        if (isinstance(actual, str) and holds(actual)) == context.negative:
            passed = False
            errors.append(f"expected{_not(context)} to match {message or pattern!r}")
    return passed, errors


def match_snapshot(params: dict[str, Any], context: Context) -> Outcome:
    path = str(params.get("path") or "")

    def per_doc(document: Any, index: int) -> Outcome:
        actuals = find(document, path)
        if not actuals:
            return (
                (True, []) if context.negative else (False, [f"DocumentIndex {index}: unknown path {path}"])
            )
        results, errors = [], []
        for actual in actuals:
            same, stored = context.snapshots.compare(actual)
            results.append(same != context.negative)
            if same == context.negative:
                errors.append(
                    f"DocumentIndex {index}: expected{_not(context)} to match "
                    f"snapshot:\n{stored}\nactual:\n{dump(actual)}"
                )
        return _all_of(results), errors

    if not context.selected:
        return not context.negative, []
    return _per_document(context, per_doc, "")


def match_snapshot_raw(params: dict[str, Any], context: Context) -> Outcome:
    del params
    if not context.selected:
        return not context.negative, []
    results, errors = [], []
    for document in context.selected:
        actual = uniform(document.get(RAW_KEY))
        same, stored = context.snapshots.compare(actual)
        results.append(same != context.negative)
        if same == context.negative:
            errors.append(f"expected{_not(context)} to match snapshot:\n{stored}\nactual:\n{actual}")
    return _all_of(results), errors


VALIDATORS: dict[str, Callable[[dict[str, Any], Context], Outcome]] = {
    "equal": equal,
    "notEqual": equal,
    "greaterOrEqual": compare_order("greater"),
    "notGreaterOrEqual": compare_order("greater"),
    "lessOrEqual": compare_order("less"),
    "notLessOrEqual": compare_order("less"),
    "equalRaw": equal_raw,
    "notEqualRaw": equal_raw,
    "exists": exists,
    "notExists": exists,
    "isNull": exists,
    "isNotNull": exists,
    "matchRegex": match_regex,
    "notMatchRegex": match_regex,
    "matchRegexRaw": match_regex_raw,
    "notMatchRegexRaw": match_regex_raw,
    "contains": contains,
    "notContains": contains,
    "isKind": _kind_field("kind", "kind"),
    "isAPIVersion": _kind_field("apiVersion", "apiVersion"),
    "hasDocuments": has_documents,
    "isSubset": is_subset,
    "isNotSubset": is_subset,
    "isNullOrEmpty": is_null_or_empty,
    "isNotNullOrEmpty": is_null_or_empty,
    "isEmpty": is_null_or_empty,
    "isNotEmpty": is_null_or_empty,
    "failedTemplate": failed_template,
    "notFailedTemplate": failed_template,
    "containsDocument": contains_document,
    "lengthEqual": length_equal,
    "notLengthEqual": length_equal,
    "isType": is_type,
    "isNotType": is_type,
    "matchSnapshot": match_snapshot,
    "matchSnapshotRaw": match_snapshot_raw,
}
