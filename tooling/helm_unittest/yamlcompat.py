"""YAML as the plugin's Go decoder sees it: YAML 1.2 core scalars, Go's type names and Go's equality.

PyYAML follows YAML 1.1 (``yes`` is a boolean, ``2024-01-01`` a date); the plugin decodes with yaml.v3, where
those are strings. Equality is Go's ``reflect.DeepEqual``: ``1`` and ``1.0`` and ``true`` are all different.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml


class GoYamlLoader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's implicit scalars instead of YAML 1.1's."""


GoYamlLoader.yaml_implicit_resolvers = {}
_CORE_SCALARS: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN\0"),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
]
for _tag, _pattern, _first in _CORE_SCALARS:
    GoYamlLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


def _construct_bool(loader: GoYamlLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


def _construct_int(loader: GoYamlLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 16) if text.startswith("0x") else int(text, 10)


GoYamlLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
GoYamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load(text: str) -> Any:
    return yaml.load(text, Loader=GoYamlLoader)  # noqa: S506 - a SafeLoader subclass


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=GoYamlLoader))


def go_equal(left: Any, right: Any) -> bool:
    """``reflect.DeepEqual`` over decoded YAML: types must match, not only values."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(go_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(go_equal(a, b) for a, b in zip(left, right, strict=True))
    if type(left) is not type(right):
        return False
    return bool(left == right)


def go_type_name(value: Any) -> str:
    """What Go's ``reflect.TypeOf(v).String()`` prints for a value yaml.v3 decoded into ``any``."""
    if value is None:
        return ""
    names: dict[type, str] = {
        bool: "bool",
        int: "int",
        float: "float64",
        str: "string",
        dict: "map[string]interface {}",
        list: "[]interface {}",
    }
    return names.get(type(value), type(value).__name__)


def go_is_zero(value: Any) -> bool:
    """Go's emptiness as the plugin's isNullOrEmpty sees it: nil, zero value, or no elements."""
    if value is None:
        return True
    if isinstance(value, dict | list | str):
        return len(value) == 0
    return value is False or (not isinstance(value, bool) and value == 0)


def dump(value: Any) -> str:
    """Readable YAML for reports (not byte-equal to the plugin's, which never matters for a verdict)."""
    if isinstance(value, str) and "\n" not in value:
        return value
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True, allow_unicode=True).rstrip("\n")


def to_json(value: Any) -> str:
    """Values for ``helm -f``: JSON is YAML, and Helm reads values through JSON anyway."""
    return json.dumps(value, sort_keys=True, default=str)
