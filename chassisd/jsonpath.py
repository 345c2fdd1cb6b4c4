"""kubectl's JSONPath templates (``-o jsonpath=...``), the subset operators use.

Owns parsing and evaluating a template such as ``{range .items[*]}{.name}{"\\t"}{.ip}{"\\n"}{end}``:
literal text, ``{.a.b}``, ``{.a[0]}``, ``{.a[*].b}``, ``{.a['key']}``, ``{@}``,
``{.a[?(@.k=="v")]}`` (``==``/``!=`` against a quoted string or a number), ``{"text"}``
(backslash escapes ``\\n``, ``\\t``), and ``{range EXPR}...{end}``. Several results of one
expression print separated by a space, as kubectl does. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chassisd.errors import ConfigError


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Expr:
    path: str


@dataclass(frozen=True)
class _Range:
    path: str
    body: tuple[_Text | _Expr | _Range, ...]


_Node = _Text | _Expr | _Range
_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_-]+)
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*(?P<star>\*)\s*\]
      | \.(?P<dotstar>\*)
      | \[\s*'(?P<key>[^']*)'\s*\]
      | \[\s*\?\(\s*@\.(?P<fkey>[A-Za-z0-9_.-]+)\s*(?P<op>==|!=)\s*
          (?P<fval>"[^"]*"|'[^']*'|-?\d+(?:\.\d+)?)\s*\)\s*\]
    """,
    re.VERBOSE,
)


def render(template: str, data: Any) -> str:
    """Evaluate ``template`` against ``data``; a malformed template or path is a
    ``ConfigError`` (a usage error, exit 2)."""
    nodes, rest = _parse(_tokens(template), template, inside_range=False)
    if rest:
        raise ConfigError(f"jsonpath {template!r}: {{end}} without {{range}}")
    return "".join(_evaluate(nodes, data, template))


def _tokens(template: str) -> Iterator[tuple[str, str]]:
    """("text", literal) and ("expr", inside braces) in order."""
    position = 0
    while position < len(template):
        start = template.find("{", position)
        if start < 0:
            yield "text", template[position:]
            return
        if start > position:
            yield "text", template[position:start]
        end = _closing_brace(template, start)
        yield "expr", template[start + 1 : end].strip()
        position = end + 1


def _closing_brace(template: str, start: int) -> int:
    quote = ""
    for index in range(start + 1, len(template)):
        char = template[index]
        if quote:
            if char == "\\":
                continue
            if char == quote and template[index - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "}":
            return index
    raise ConfigError(f"jsonpath {template!r}: unclosed '{{'")


def _parse(
    tokens: Iterator[tuple[str, str]], template: str, *, inside_range: bool
) -> tuple[tuple[_Node, ...], bool]:
    """Nodes up to the end (or up to ``{end}`` when ``inside_range``; the flag says whether
    an ``{end}`` stopped it)."""
    nodes: list[_Node] = []
    for kind, value in tokens:
        if kind == "text":
            nodes.append(_Text(value))
        elif value == "end":
            return tuple(nodes), True  # render() refuses one outside a range
        elif value.startswith("range "):
            body, ended = _parse(tokens, template, inside_range=True)
            if not ended:
                raise ConfigError(f"jsonpath {template!r}: {{range}} without {{end}}")
            nodes.append(_Range(value[len("range ") :].strip(), body))
        elif value[:1] in "\"'":
            nodes.append(_Text(_unquote(value, template)))
        else:
            nodes.append(_Expr(value))
    return tuple(nodes), False


def _unquote(value: str, template: str) -> str:
    if len(value) < 2 or value[-1] != value[0]:
        raise ConfigError(f"jsonpath {template!r}: unterminated string {value!r}")
    return value[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")


def _evaluate(nodes: tuple[_Node, ...], data: Any, template: str) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, _Text):
            yield node.text
        elif isinstance(node, _Expr):
            yield " ".join(_format(v) for v in select(node.path, data, template))
        else:
            for item in select(node.path, data, template):
                yield from _evaluate(node.body, item, template)


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def select(path: str, data: Any, template: str = "") -> list[Any]:
    """Every value ``path`` (``.a[*].b``, ``@``, ``$``) reaches in ``data``; a missing key
    reaches nothing."""
    text = path.strip()
    if text.startswith(("$", "@")):
        text = text[1:]
    values = [data]
    position = 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise ConfigError(
                f"jsonpath {template or path!r}: cannot parse {text[position:]!r} in {path!r}"
            )
        position = match.end()
        values = [v for value in values for v in _step(match, value)]
    return values


def _step(match: re.Match[str], value: Any) -> list[Any]:
    groups = match.groupdict()
    if groups["field"] is not None or groups["key"] is not None:
        key = groups["field"] if groups["field"] is not None else groups["key"]
        return [value[key]] if isinstance(value, dict) and key in value else []
    if groups["index"] is not None:
        index = int(groups["index"])
        return (
            [value[index]] if isinstance(value, list) and -len(value) <= index < len(value) else []
        )
    if groups["star"] is not None or groups["dotstar"] is not None:
        if isinstance(value, dict):
            return list(value.values())
        return list(value) if isinstance(value, list) else []
    wanted: Any = groups["fval"]
    wanted = wanted[1:-1] if wanted[0] in "\"'" else float(wanted)
    items = value if isinstance(value, list) else []
    out = []
    for item in items:
        found = select("." + groups["fkey"], item)
        held = found[0] if found else None
        if isinstance(wanted, float) and isinstance(held, int | float):
            equal = float(held) == wanted
        else:
            equal = held == wanted
        if equal == (groups["op"] == "=="):
            out.append(item)
    return out
