"""Functions (ASP.NET) route templates: ``images/{id}``, ``items/{index:int?}``, ``{*rest}``.

The host matches a request path against every HTTP trigger's template; literal segments are matched
case-insensitively and win over parameters, as ASP.NET routing orders them. Route values reach the
function as strings in ``req.route_params``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


def _is_int(v: str) -> bool:
    return re.fullmatch(r"-?\d+", v) is not None


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _is_guid(v: str) -> bool:
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


def _is_datetime(v: str) -> bool:
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


_SIMPLE: dict[str, Callable[[str], bool]] = {
    "int": _is_int,
    "long": _is_int,
    "float": _is_float,
    "double": _is_float,
    "decimal": _is_float,
    "bool": lambda v: v.lower() in ("true", "false"),
    "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "guid": _is_guid,
    "datetime": _is_datetime,
}


def _constraint(spec: str) -> Callable[[str], bool]:
    m = re.fullmatch(r"(\w+)(?:\((.*)\))?", spec, re.DOTALL)
    if not m:
        raise ValueError(f"bad route constraint {spec!r}")
    name, arg = m.group(1).lower(), m.group(2)
    if name in _SIMPLE and arg is None:
        return _SIMPLE[name]
    if name == "regex" and arg is not None:
        pattern = re.compile(arg, re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    if arg is not None:
        nums = [float(x) for x in arg.split(",")]
        if name == "minlength":
            return lambda v: len(v) >= nums[0]
        if name == "maxlength":
            return lambda v: len(v) <= nums[0]
        if name == "length":
            if len(nums) == 1:
                return lambda v: len(v) == nums[0]
            return lambda v: nums[0] <= len(v) <= nums[1]
        if name == "min":
            return lambda v: _is_float(v) and float(v) >= nums[0]
        if name == "max":
            return lambda v: _is_float(v) and float(v) <= nums[0]
        if name == "range":
            return lambda v: _is_float(v) and nums[0] <= float(v) <= nums[1]
    raise ValueError(f"unsupported route constraint {spec!r}")


@dataclass
class _Param:
    name: str
    optional: bool
    catch_all: bool
    default: str | None
    checks: list[Callable[[str], bool]] = field(default_factory=list)


@dataclass
class _Segment:
    regex: str
    params: list[_Param]
    literal: bool


def _split_constraints(body: str) -> list[str]:
    """``name:int:regex(a:b)`` → ``["name", "int", "regex(a:b)"]`` (colons in parentheses stay)."""
    parts, current, depth = [], "", 0
    for ch in body:
        if ch == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        current += ch
    parts.append(current)
    return parts


def _parse_param(body: str) -> _Param:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default: str | None = None
    if "=" in body:
        body, default = body.split("=", 1)
    optional = body.endswith("?")
    body = body.rstrip("?")
    name, *constraints = _split_constraints(body)
    return _Param(
        name=name.strip(),
        optional=optional or default is not None,
        catch_all=catch_all,
        default=default,
        checks=[_constraint(c) for c in constraints],
    )


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split a segment into literals and ``{parameter}`` bodies; ``{{``/``}}`` escape braces."""
    tokens: list[tuple[str, str]] = []
    literal = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i : i + 2] == ch * 2:
            literal += ch
            i += 2
        elif ch == "{":
            body = ""
            i += 1
            while i < len(text):
                if text[i] in "{}" and text[i : i + 2] == text[i] * 2:
                    body += text[i]
                    i += 2
                elif text[i] == "}":
                    break
                else:
                    body += text[i]
                    i += 1
            else:
                raise ValueError(f"unclosed parameter in route segment {text!r}")
            if literal:
                tokens.append(("literal", literal))
                literal = ""
            tokens.append(("param", body))
            i += 1
        elif ch == "}":
            raise ValueError(f"unmatched '}}' in route segment {text!r}")
        else:
            literal += ch
            i += 1
    if literal:
        tokens.append(("literal", literal))
    return tokens


class RouteTemplate:
    """One compiled route template."""

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self.params: list[_Param] = []
        segments = [self._segment(s) for s in self.template.split("/")] if self.template else []
        pattern = ""
        for i, seg in enumerate(segments):
            sep = "/" if i else ""
            whole_optional = (
                not seg.literal
                and len(seg.params) == 1
                and (seg.params[0].optional or seg.params[0].catch_all)
            )
            if whole_optional:
                pattern += f"(?:{sep}{seg.regex})?"
            else:
                pattern += sep + seg.regex
        self._regex = re.compile(f"^{pattern}/?$", re.IGNORECASE | re.DOTALL)
        # Precedence: literal segments first, then constrained, plain, optional, catch-all.
        self.precedence = tuple(self._rank(seg) for seg in segments)

    @staticmethod
    def _rank(seg: _Segment) -> int:
        if seg.literal:
            return 0
        p = seg.params[0]
        if p.catch_all:
            return 4
        if p.optional:
            return 3
        return 1 if p.checks else 2

    def _segment(self, text: str) -> _Segment:
        params: list[_Param] = []
        regex = ""
        for kind, value in _tokens(text):
            if kind == "literal":
                regex += re.escape(value)
                continue
            p = _parse_param(value)
            params.append(p)
            regex += f"(?P<{p.name}>.*)" if p.catch_all else f"(?P<{p.name}>[^/]+)"
        self.params.extend(params)
        return _Segment(regex=regex, params=params, literal=not params)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for ``path`` (no prefix, no query), or None if it does not match."""
        m = self._regex.match(path.strip("/"))
        if not m:
            return None
        values: dict[str, str] = {}
        for p in self.params:
            value = m.group(p.name)
            if value is None or value == "":
                if p.default is not None:
                    values[p.name] = p.default
                elif not p.optional and not p.catch_all:
                    return None
                continue
            if not all(check(value) for check in p.checks):
                return None
            values[p.name] = value
        return values
