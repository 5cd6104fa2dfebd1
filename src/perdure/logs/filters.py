"""CloudWatch Logs filter patterns, evaluated against stored records.

Two kinds, as CloudWatch has them:

* JSON patterns, ``{ $.field = "value" }``: selectors ``$.a.b``, ``$.list[0]``;
  comparisons ``=``, ``!=`` (strings, ``*`` as a wildcard; numbers) and ``<``, ``<=``,
  ``>``, ``>=`` (numbers); ``IS TRUE``, ``IS FALSE``, ``IS NULL``, ``EXISTS``,
  ``NOT EXISTS``; combined with ``&&`` and ``||`` (``&&`` binds tighter) and
  parentheses.
* Term patterns, matched against the event's message text: every term must occur
  (``"quoted phrase"`` for spaces), ``-term`` must not, and ``?a ?b`` needs any one.
  An empty pattern matches everything.

``parse`` raises ``FilterPatternError`` (a client mistake) with the position.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Matcher = Callable[[dict[str, Any], str], bool]  # (JSON fields, message text)

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})
    |(?P<str>"(?:[^"\\]|\\.)*")
    |(?P<sel>\$(?:\.[A-Za-z0-9_@\-]+|\[\d+\])*)
    |(?P<word>[^\s()&|=<>!{}"]+)
    )""",
    re.VERBOSE,
)


class FilterPatternError(ValueError):
    """The filter pattern cannot be parsed."""


@dataclass(frozen=True)
class Comparison:
    path: tuple[str | int, ...]
    op: str
    value: Any


@dataclass(frozen=True)
class Pattern:
    """A parsed pattern; ``arns`` is the set of execution ARNs it is limited to, when
    it only matches records whose ``durableExecutionArn``/``executionArn`` is one of
    them (the store can then read only those executions)."""

    match: Matcher
    arns: frozenset[str] | None = None
    is_json: bool = False


_MISSING = object()


def _select(fields: Any, path: tuple[str | int, ...]) -> Any:
    value = fields
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or key >= len(value):
                return _MISSING
            value = value[key]
        else:
            if not isinstance(value, dict) or key not in value:
                return _MISSING
            value = value[key]
    return value


def _compare(c: Comparison, fields: dict[str, Any]) -> bool:
    value = _select(fields, c.path)
    if c.op == "EXISTS":
        return value is not _MISSING
    if c.op == "NOT EXISTS":
        return value is _MISSING
    if value is _MISSING:
        return False
    if c.op == "IS":
        return value is c.value if isinstance(c.value, bool) else value is None
    if isinstance(c.value, (int, float)) and not isinstance(c.value, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                return c.op == "!="
        number = float(value)
        return bool({
            "=": number == c.value, "!=": number != c.value, "<": number < c.value,
            "<=": number <= c.value, ">": number > c.value, ">=": number >= c.value,
        }[c.op])
    text = value if isinstance(value, str) else _json_text(value)
    expected = str(c.value)
    equal = fnmatch.fnmatchcase(text, expected) if "*" in expected else text == expected
    return equal if c.op == "=" else not equal


def _json_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise FilterPatternError(f"Invalid filter pattern at character {pos + 1}: {text[pos:pos + 20]!r}")
            kind = m.lastgroup or "word"
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise FilterPatternError(f"Invalid filter pattern: unexpected end{f', expected {value!r}' if value else ''}")
        if value is not None and token[1].upper() != value:
            raise FilterPatternError(f"Invalid filter pattern at character {token[2] + 1}: expected {value!r}, found {token[1]!r}")
        self.i += 1
        return token

    # expr := conj ('||' conj)* ; conj := atom ('&&' atom)*
    def expr(self) -> tuple[Callable[[dict[str, Any]], bool], frozenset[str] | None]:
        parts = [self.conj()]
        while (t := self.peek()) is not None and t[1] == "||":
            self.take()
            parts.append(self.conj())
        if len(parts) == 1:
            return parts[0]
        fns = [p[0] for p in parts]
        arn_sets = [p[1] for p in parts]
        arns = frozenset().union(*arn_sets) if all(a is not None for a in arn_sets) else None  # type: ignore[arg-type]
        return (lambda f: any(fn(f) for fn in fns)), arns

    def conj(self) -> tuple[Callable[[dict[str, Any]], bool], frozenset[str] | None]:
        parts = [self.atom()]
        while (t := self.peek()) is not None and t[1] == "&&":
            self.take()
            parts.append(self.atom())
        if len(parts) == 1:
            return parts[0]
        fns = [p[0] for p in parts]
        known = [p[1] for p in parts if p[1] is not None]
        arns = frozenset.intersection(*known) if known else None
        return (lambda f: all(fn(f) for fn in fns)), arns

    def atom(self) -> tuple[Callable[[dict[str, Any]], bool], frozenset[str] | None]:
        token = self.take()
        if token[1] == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if token[0] != "sel":
            raise FilterPatternError(f"Invalid filter pattern at character {token[2] + 1}: expected a selector like $.field, found {token[1]!r}")
        path = _path(token[1])
        nxt = self.take()
        word = nxt[1].upper()
        if word == "IS":
            what = self.take()[1].upper()
            if what not in ("TRUE", "FALSE", "NULL"):
                raise FilterPatternError(f"Invalid filter pattern: IS must be followed by TRUE, FALSE or NULL, not {what!r}")
            comparison = Comparison(path, "IS", {"TRUE": True, "FALSE": False, "NULL": None}[what])
        elif word == "EXISTS":
            comparison = Comparison(path, "EXISTS", None)
        elif word == "NOT":
            self.take("EXISTS")
            comparison = Comparison(path, "NOT EXISTS", None)
        elif nxt[0] == "op" and nxt[1] in ("=", "!=", "<", "<=", ">", ">="):
            comparison = Comparison(path, nxt[1], self.value(nxt[1]))
        else:
            raise FilterPatternError(f"Invalid filter pattern at character {nxt[2] + 1}: expected a comparison, found {nxt[1]!r}")
        arns = None
        if comparison.op == "=" and path in (("durableExecutionArn",), ("executionArn",)) and isinstance(comparison.value, str) and "*" not in comparison.value:
            arns = frozenset({comparison.value})
        return (lambda f: _compare(comparison, f)), arns

    def value(self, op: str) -> Any:
        kind, text, pos = self.take()
        if kind == "str":
            return _unquote(text)
        if kind != "word":
            raise FilterPatternError(f"Invalid filter pattern at character {pos + 1}: expected a value, found {text!r}")
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                if op in ("<", "<=", ">", ">="):
                    raise FilterPatternError(f"Invalid filter pattern: {op} needs a number, found {text!r}") from None
                return text


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _path(selector: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for m in re.finditer(r"\.([A-Za-z0-9_@\-]+)|\[(\d+)\]", selector):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return tuple(parts)


def _terms(text: str) -> Matcher:
    tokens = re.findall(r'-?"(?:[^"\\]|\\.)*"|\S+', text)
    required: list[str] = []
    excluded: list[str] = []
    optional: list[str] = []
    for token in tokens:
        negative = token.startswith("-") and len(token) > 1
        anyof = token.startswith("?") and len(token) > 1
        term = token[1:] if negative or anyof else token
        term = _unquote(term) if term.startswith('"') and term.endswith('"') and len(term) >= 2 else term
        (excluded if negative else optional if anyof else required).append(term)

    def match(_fields: dict[str, Any], message: str) -> bool:
        if any(t not in message for t in required):
            return False
        if any(t in message for t in excluded):
            return False
        return not optional or any(t in message for t in optional)

    return match


def parse(text: str | None) -> Pattern:
    """Parse a filter pattern (None or blank matches everything)."""
    stripped = (text or "").strip()
    if not stripped:
        return Pattern(lambda _f, _m: True)
    if stripped.startswith("{"):
        if not stripped.endswith("}"):
            raise FilterPatternError("Invalid filter pattern: a JSON pattern must end with '}'")
        parser = _Parser(stripped[1:-1])
        if not parser.tokens:
            raise FilterPatternError("Invalid filter pattern: empty JSON pattern")
        fn, arns = parser.expr()
        if parser.peek() is not None:
            token = parser.take()
            raise FilterPatternError(f"Invalid filter pattern at character {token[2] + 2}: unexpected {token[1]!r}")
        return Pattern(lambda fields, _m: fn(fields), arns, is_json=True)
    return Pattern(_terms(stripped))
