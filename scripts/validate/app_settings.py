"""The serving app's settings, read from the app's own source so the chart is checked against the real thing.

``charts/fastapi/app/serving/config.py`` is imported from the checkout being validated (only pydantic needed),
and its ``Settings`` model both names the variables (field names, upper-cased, as pydantic-settings reads
them) and judges their values, so "legal for the app" means exactly what the app will accept at start-up.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

CONFIG_MODULE = Path("charts/fastapi/app/serving/config.py")


@dataclass(frozen=True)
class AppSettings:
    source: str
    fields: tuple[str, ...]
    """The environment variables the app reads."""
    problems: Callable[[dict[str, str]], list[str]]
    """One line per variable whose value the app would reject (never the value itself)."""


def load_app_settings(root: Path) -> AppSettings | None:
    path = root / CONFIG_MODULE
    if not path.is_file():
        return None
    model = _import_settings(path)
    fields = tuple(name.upper() for name in model.model_fields)

    def problems(env: dict[str, str]) -> list[str]:
        try:
            # model_validate skips pydantic-settings' sources: only these values are judged, not os.environ.
            model.model_validate({name.lower(): value for name, value in env.items()})
        except ValidationError as error:
            return [_describe(entry) for entry in error.errors() if entry["type"] != "missing"]
        return []

    return AppSettings(str(CONFIG_MODULE), fields, problems)


def _describe(entry: Any) -> str:
    variable = str(entry["loc"][0]).upper() if entry["loc"] else "settings"
    return f"{variable}: the app rejects this value: {entry['msg']}"


def _import_settings(path: Path) -> Any:
    # A unique module name per checkout, so validating a copy never reuses another copy's module.
    name = "_validated_app_config_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].Settings
