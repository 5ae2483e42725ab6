"""An import-direction checker: layers declared as data, every module parsed statically (``ast``).

A package is described bottom-up as an ordered list of layers, each naming the sub-packages (dotted prefixes)
it holds. A module may import its own layer and the layers below it; an import pointing up is a violation,
as is an import between two sub-packages of an isolated layer (commands never import each other), any import
of a ``__main__`` module, and loading a module of the package by name at run time (``importlib``,
``__import__``), which would hide an edge from this check. The package's root ``__init__`` belongs to the
bottom layer; a module no layer names is a violation too, so a new sub-package must be placed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DYNAMIC_IMPORTS = frozenset({"import_module", "__import__", "spec_from_file_location"})


@dataclass(frozen=True)
class Layer:
    name: str
    packages: tuple[str, ...]
    isolated: bool = False
    """Its packages are peers that never import one another (the commands)."""


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under ``root / package``, by dotted name."""
    found = {}
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _owner(module: str, layers: Sequence[Layer], package: str) -> tuple[int, str] | None:
    """(layer index, the declared package that holds ``module``): the longest matching prefix wins."""
    if module == package:
        return 0, package
    matches = [
        (len(prefix), index, prefix)
        for index, layer in enumerate(layers)
        for prefix in layer.packages
        if module == prefix or module.startswith(prefix + ".")
    ]
    return (max(matches)[1], max(matches)[2]) if matches else None


def _imported(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in the file; relative ones resolved, ``from x import sub`` as x.sub."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield node.lineno, candidate if candidate in known else base


def _dynamic_imports(tree: ast.Module) -> Iterator[int]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = node.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            if name in DYNAMIC_IMPORTS:
                yield node.lineno


def violations(root: Path, package: str, layers: Sequence[Layer]) -> list[str]:
    """One line per import that breaks the layering of ``package`` (under ``root``); empty when clean."""
    found = modules(root, package)
    known = set(found)
    problems = []
    for module, path in found.items():
        where = f"{path.relative_to(root)}"
        owner = _owner(module, layers, package)
        if owner is None:
            problems.append(f"{where}: {module} is in no declared layer")
            continue
        level, unit = owner
        tree = ast.parse(path.read_text(), filename=str(path))
        for line in _dynamic_imports(tree):
            problems.append(f"{where}:{line}: loads a module by name at run time (import it statically)")
        for line, target in _imported(tree, module, path.name == "__init__.py", known):
            if target != package and not target.startswith(package + "."):
                continue
            if target.rsplit(".", 1)[-1] == "__main__":
                problems.append(f"{where}:{line}: imports {target}, a __main__ module")
                continue
            target_owner = _owner(target, layers, package)
            if target_owner is None:
                continue  # reported where that module is defined
            target_level, target_unit = target_owner
            if target_level > level:
                problems.append(
                    f"{where}:{line}: {layers[level].name} imports {target} of the higher layer "
                    f"{layers[target_level].name}"
                )
            elif target_level == level and layers[level].isolated and target_unit != unit:
                problems.append(
                    f"{where}:{line}: {unit} imports {target_unit}: {layers[level].name} are peers"
                )
    return problems
