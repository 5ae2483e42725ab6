"""``make applications``: the Applications the repository's ApplicationSets generate, as Argo CD would.

Generators (``list``, ``matrix``) are expanded here; every string of the ``template``, and the
``templatePatch`` text, are rendered by the real Go text/template + sprig engine through Helm's ``tpl`` (one
``helm template`` of a throwaway chart for everything). Helm's CLI always runs ``tpl`` with
``missingkey=zero``, so ``missingkey=error`` is enforced before rendering: every field an action
references must be a generator parameter.

``generated_applications()`` is the API the validator uses.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from scripts.platform import REPO_ROOT
from scripts.validate.render import HelmError, helm_binary

APPLICATIONSET_DIR = "applicationsets"
Params = dict[str, Any]

_ACTION = re.compile(r"{{-?(.*?)-?}}", re.DOTALL)
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')
# A field chain on the root context: `.component`, `.path.basename`; not `$x.y` nor a method on a value.
_FIELD_CHAIN = re.compile(r"(?<![\w$)\]])((?:\.[A-Za-z_]\w*)+)")
# Actions that rebind the dot: a reference inside them is not a reference to the parameters.
_REBINDING = re.compile(r"^\s*(range|with|define|block|template)\b")


class GenerationError(Exception):
    """An ApplicationSet that Argo CD would refuse to generate from; the message is one line."""


def generated_applications(root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """Every Application the ApplicationSets under ``root/applicationsets`` generate, in generator order."""
    jobs: list[tuple[str, dict[str, Any], Params]] = []
    for source, appset in _applicationsets(root):
        name = f"{source}: ApplicationSet/{appset.get('metadata', {}).get('name', '?')}"
        spec = appset.get("spec", {})
        _require_go_template(spec, name)
        for params in _expand(spec.get("generators", []), name):
            _check_references(spec, params, name)
            jobs.append((name, appset, params))
    pairs = [(text, params) for _, appset, params in jobs for text in _template_texts(appset["spec"])]
    rendered = iter(render_go_templates([text for text, _ in pairs], [params for _, params in pairs]))
    applications = []
    for _, appset, _params in jobs:
        spec = appset["spec"]
        application = _fill(spec["template"], rendered)
        if "templatePatch" in spec:
            patch = yaml.safe_load(next(rendered)) or {}
            application = _merge(application, patch)
        applications.append(_as_application(application, appset))
    return applications


def render_go_templates(texts: list[str], contexts: list[Params]) -> list[str]:
    """Render each text with its context as a Go template (text/template + sprig) on the real Helm engine."""
    if not texts:
        return []
    chart = '{{- range .Values.items }}\n---\n{{ dict "out" (tpl .text .params) | toJson }}\n{{- end }}\n'
    with tempfile.TemporaryDirectory(prefix="applications-") as tmp:
        chart_dir = Path(tmp) / "gotemplate"
        (chart_dir / "templates").mkdir(parents=True)
        (chart_dir / "Chart.yaml").write_text("apiVersion: v2\nname: gotemplate\nversion: 0.1.0\n")
        (chart_dir / "templates" / "render.yaml").write_text(chart)
        values = Path(tmp) / "values.json"
        items = [{"text": text, "params": ctx} for text, ctx in zip(texts, contexts, strict=True)]
        values.write_text(json.dumps({"items": items}))
        try:
            helm = helm_binary()
        except HelmError as error:
            raise GenerationError(str(error)) from None
        result = subprocess.run(
            [helm, "template", "gotemplate", str(chart_dir), "-f", str(values)],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise GenerationError(f"Go template rendering failed: {_last_line(result.stderr)}")
    return [doc["out"] for doc in yaml.safe_load_all(result.stdout) if doc]


def _applicationsets(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    folder = root / APPLICATIONSET_DIR
    if not folder.is_dir():
        raise GenerationError(f"{folder}: no such directory")
    for path in sorted(folder.glob("*.yaml")):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as error:
            raise GenerationError(
                f"{path.relative_to(root)}: not valid YAML: {_last_line(str(error))}"
            ) from None
        for doc in documents:
            if isinstance(doc, dict) and doc.get("kind") == "ApplicationSet":
                yield str(path.relative_to(root)), doc


def _require_go_template(spec: dict[str, Any], name: str) -> None:
    if spec.get("goTemplate") is not True:
        raise GenerationError(f"{name}: goTemplate must be true (fasttemplate is not supported here)")
    if "missingkey=error" not in spec.get("goTemplateOptions", []):
        raise GenerationError(f"{name}: goTemplateOptions must contain missingkey=error")


def _expand(generators: list[dict[str, Any]], name: str) -> list[Params]:
    """Parameter sets of the generators, in order (each generator's sets are appended, as Argo CD does)."""
    return [params for generator in generators for params in _expand_one(generator, name)]


def _expand_one(generator: dict[str, Any], name: str) -> list[Params]:
    if "list" in generator:
        elements = generator["list"].get("elements", [])
        if not all(isinstance(element, dict) for element in elements):
            raise GenerationError(f"{name}: list generator elements must be mappings")
        return [dict(element) for element in elements]
    if "matrix" in generator:
        children = generator["matrix"].get("generators", [])
        if len(children) != 2:
            raise GenerationError(f"{name}: a matrix generator takes exactly two generators")
        left, right = (_expand_one(child, name) for child in children)
        return [_combine(a, b, name) for a, b in itertools.product(left, right)]
    kinds = ", ".join(sorted(generator)) or "empty"
    raise GenerationError(f"{name}: generator {kinds} is not supported (list and matrix are)")


def _combine(left: Params, right: Params, name: str) -> Params:
    clash = sorted(set(left) & set(right))
    if clash:
        raise GenerationError(f"{name}: matrix generators both define parameter {clash[0]}")
    return {**left, **right}


def _check_references(spec: dict[str, Any], params: Params, name: str) -> None:
    """missingkey=error, checked up front: each ``.a.b`` an action reads must exist in the parameters."""
    for text in _template_texts(spec):
        for action in _ACTION.findall(text):
            if _REBINDING.match(action):
                raise GenerationError(f"{name}: range/with/define/template actions are not supported here")
            for chain in _FIELD_CHAIN.findall(_STRING_LITERAL.sub('""', action)):
                value: Any = params
                for key in chain.lstrip(".").split("."):
                    if not isinstance(value, dict) or key not in value:
                        raise GenerationError(
                            f"{name}: template reads {chain}, which no generator sets (missingkey=error)"
                        )
                    value = value[key]


def _template_texts(spec: dict[str, Any]) -> list[str]:
    """The template's string leaves in a fixed order, then the templatePatch text if any."""
    texts = list(_strings(spec.get("template", {})))
    if "templatePatch" in spec:
        texts.append(str(spec["templatePatch"]))
    return texts


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _fill(node: Any, rendered: Iterator[str]) -> Any:
    """The template with each string leaf replaced by its rendering (same walk order as ``_strings``)."""
    if isinstance(node, dict):
        return {key: _fill(value, rendered) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(value, rendered) for value in node]
    if isinstance(node, str):
        return next(rendered)
    return node


def _merge(base: Any, patch: Any) -> Any:
    """The patch over the base: mappings merge key by key, anything else (lists too) is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base.get(key), value)
        return merged
    return patch


def _as_application(template: dict[str, Any], appset: dict[str, Any]) -> dict[str, Any]:
    metadata = dict(template.get("metadata", {}))
    metadata.setdefault("namespace", appset.get("metadata", {}).get("namespace", "argocd"))
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": template.get("spec", {}),
    }


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repo", type=Path, default=REPO_ROOT, help="repository checkout (default: this one)"
    )
    args = parser.parse_args(argv)
    try:
        applications = generated_applications(args.repo.resolve())
    except GenerationError as error:
        print(f"applications: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump_all(applications, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
