"""Chart conventions the suites cannot see: strict schemas at every level, every value documented."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tooling.model import COMPONENTS, REPO_ROOT

CHARTS = [REPO_ROOT / "charts" / component for component in COMPONENTS]
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?P<rest>.*)$")
# Maps whose keys are data, not settings (annotations, labels, selectors, extra settings).
FREE_FORM = re.compile(r"/(annotations|podAnnotations|labels|nodeSelector|extraConfig|affinity)$")


def objects_without_closed_properties(schema: Any, path: str = "") -> Iterator[str]:
    if isinstance(schema, dict):
        if "properties" in schema and schema.get("additionalProperties") is not False:
            yield path or "/"
        for key, value in schema.items():
            yield from objects_without_closed_properties(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from objects_without_closed_properties(value, f"{path}/{index}")


def undocumented_values(values_file: Path) -> list[str]:
    """Leaf keys with no comment above them or above any of their parents."""
    missing: list[str] = []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented)
    previous = ""
    for line in values_file.read_text().splitlines():
        match = KEY_LINE.match(line)
        if match:
            indent = len(match["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            documented = previous.lstrip().startswith("#") or any(doc for _, _, doc in stack)
            path = "/" + "/".join([*(key for _, key, _ in stack), match["key"]])
            is_leaf = match["rest"].strip() != ""
            if is_leaf and not documented and not FREE_FORM.search(path.rsplit("/", 1)[0]):
                missing.append(path)
            stack.append((indent, match["key"], documented))
        if line.strip():
            previous = line
    return missing


@pytest.mark.parametrize("chart", CHARTS, ids=lambda chart: chart.name)
def test_schema_closes_every_object(chart: Path) -> None:
    schema = json.loads((chart / "values.schema.json").read_text())
    assert list(objects_without_closed_properties(schema)) == []


@pytest.mark.parametrize("chart", CHARTS, ids=lambda chart: chart.name)
def test_every_value_is_documented(chart: Path) -> None:
    assert undocumented_values(chart / "values.yaml") == []


def test_an_undocumented_value_is_caught(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("# -- documented\na: 1\nb:\n  # -- documented\n  c: 2\n  d: 3\n")
    assert undocumented_values(values) == ["/b/d"]


def egress_rules_definition(chart: Path) -> str:
    """The chart's ``<chart>.egressRules`` template, with the chart's name taken out."""
    text = (chart / "templates" / "_helpers.tpl").read_text()
    match = re.search(r'\{\{- define "(\w+)\.egressRules" -\}\}.*?\n\{\{- end \}\}\n(?=\Z|\n)', text, re.S)
    assert match, f"{chart.name}: no egressRules definition in _helpers.tpl"
    return match.group(0).replace(f"{match.group(1)}.", "CHART.")


def test_every_chart_renders_egress_with_the_same_template() -> None:
    """networkPolicy.egress means the same in every chart: one definition, carried by each (the charts are
    separate artifacts and share no library chart)."""
    definitions = {chart.name: egress_rules_definition(chart) for chart in CHARTS}
    assert len(set(definitions.values())) == 1, definitions
