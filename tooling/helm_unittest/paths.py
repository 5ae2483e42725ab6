"""The two path languages of a suite: assertion paths (yaml-jsonpath) and ``set`` keys (Helm's set syntax)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tooling.helm_unittest.yamlcompat import go_equal, load


class PathSyntaxRefused(Exception):
    """A path this runner does not evaluate; the case is refused, never guessed."""


class SetPathError(Exception):
    """A ``set`` key the plugin itself rejects (the case fails, as in the plugin)."""


_TOKEN = re.compile(
    r"""(?P<dot>\.)?(?P<key>[^.\[\]\s*]+)
      | \.?(?P<star>\*)
      | \[(?P<index>-?\d+)\]
      | \[\*\]
      | \[(?P<quote>["'])(?P<qkey>.*?)(?P=quote)\]
      | \[\?\(@\.(?P<fkey>[^\s=!]+)\s*(?P<op>==|!=)\s*(?P<fvalue>"[^"]*"|'[^']*'|[-\w.]+)\)\]""",
    re.VERBOSE,
)


def find(document: Any, path: str) -> list[Any]:
    """Every value ``path`` reaches in ``document``; an empty list when it reaches none (as the plugin)."""
    if path == "":
        return [document]
    if ".." in path or path.startswith("$"):
        raise PathSyntaxRefused(f"path syntax {path!r} (recursive descent or root anchors)")
    matches = [document]
    position = 0
    while position < len(path):
        token = _TOKEN.match(path, position)
        if token is None or (position > 0 and token["key"] is not None and token["dot"] is None):
            raise PathSyntaxRefused(f"path syntax {path[position:]!r} in {path!r}")
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
    elif token["fkey"] is not None:
        if isinstance(value, list):
            wanted = load(token["fvalue"])
            for item in value:
                found = find(item, token["fkey"])
                hit = bool(found) and _filter_equal(found[0], wanted)
                if hit == (token["op"] == "=="):
                    yield item
    elif isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


def _filter_equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, int | float) and isinstance(wanted, int | float):
        return not isinstance(actual, bool) and not isinstance(wanted, bool) and actual == wanted
    return go_equal(actual, wanted)


# --- set keys ---------------------------------------------------------------------------------------------


def build_set_value(path: str, value: Any) -> dict[str, Any]:
    """``a.b[1].c`` → ``{"a": {"b": [None, {"c": value}]}}``, with the plugin's escaping ``a.[x.y]``."""
    if path == "":
        raise SetPathError("set path is empty")
    cursors = _parse_set_path(path)
    root: dict[str, Any] = {}
    current: Any = root
    for depth, cursor in enumerate(cursors):
        if depth == len(cursors) - 1:
            following: Any = value
        elif isinstance(cursors[depth + 1], int):
            following = [None] * (int(cursors[depth + 1]) + 1)
        else:
            following = {}
        if isinstance(cursor, str):
            if not isinstance(current, dict):
                raise SetPathError(f"set path {path!r}: a key follows an index")
            current[cursor] = following
        else:
            if not isinstance(current, list):
                raise SetPathError(f"set path {path!r}: an index follows a key")
            current[cursor] = following
        current = following
    return root


def _parse_set_path(path: str) -> list[str | int]:
    cursors: list[str | int] = []
    stops = set(".[],{}=")
    position = 0
    state = "key"
    escaped = ""
    while True:
        start = position
        while position < len(path) and path[position] not in stops:
            position += 1
        word = path[start:position]
        if position == len(path):
            if state == "key" and word:
                cursors.append(word)
                return cursors
            if state == "denotation" and not word:
                return cursors
            raise SetPathError(f"set path {path!r}: unexpected end")
        last = path[position]
        position += 1
        if last in ",{}=":
            raise SetPathError(f"set path {path!r}: invalid token {last}")
        if state == "index":
            if last != "]" or not re.fullmatch(r"[-+]?\d+", word):
                raise SetPathError(f"set path {path!r}: bad index {word!r}")
            cursors.append(int(word))
            state = "denotation"
        elif state == "denotation":
            if last == ".":
                state = "key"
            elif last == "[":
                state = "index"
            else:
                raise SetPathError(f"set path {path!r}: invalid denotation {last}")
        elif state == "key":
            if last == ".":
                cursors.append(word)
            elif last == "[" and not word:
                escaped, state = "", "escaping"
            elif last == "[":
                cursors.append(word)
                state = "index"
            else:
                raise SetPathError(f"set path {path!r}: invalid key {last}")
        elif last == ".":
            escaped += word + "."
        elif last == "]":
            cursors.append(escaped + word)
            state = "denotation"
        else:
            raise SetPathError(f"set path {path!r}: invalid escaping {last}")
