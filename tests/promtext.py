"""Helpers to read Prometheus text exposition in tests, by the names as exposed.

prometheus_client's parser validates the syntax, but it renames counters that lack a
`_total` suffix; the compatibility contract is about the exposed names, so we index by the
`# TYPE` lines and the raw sample names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

_SUFFIXES = ("_sum", "_count", "_bucket")


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    value: float


_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


_ESCAPE = re.compile(r"\\(.)")
_ESCAPED = {"n": "\n", '"': '"', "\\": "\\"}


def _unescape(value: str) -> str:
    # One pass: `\\n` is a backslash and an `n`, not a backslash and a line break.
    return _ESCAPE.sub(lambda m: _ESCAPED.get(m.group(1), m.group(0)), value)


def parse_series(text: str) -> list[Series]:
    """Every sample as exposed; the text is also validated by prometheus_client's parser."""
    list(text_string_to_metric_families(text))
    out = []
    for line in text.split("\n"):  # the format's only line break; splitlines() has more
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, _, rest = line.partition("{")
            body, _, tail = rest.rpartition("}")
            labels = {k: _unescape(v) for k, v in _LABEL.findall(body)}
        else:
            name, _, tail = line.partition(" ")
            labels = {}
        out.append(Series(name, labels, float(tail.split()[0])))
    return out


def index(text: str) -> dict[str, tuple[str, set[str]]]:
    """TYPE-line name -> (type, label names seen on its samples, quantile/le excluded)."""
    types: dict[str, str] = {}
    for line in text.split("\n"):  # the format's only line break; splitlines() has more
        if line.startswith("# TYPE "):
            _, _, name, mtype = line.split(" ", 3)
            types[name] = mtype
    labels: dict[str, set[str]] = {name: set() for name in types}
    for s in parse_series(text):
        name = s.name
        if name not in types:
            for suffix in _SUFFIXES:
                if name.endswith(suffix) and name.removesuffix(suffix) in types:
                    name = name.removesuffix(suffix)
                    break
        labels.setdefault(name, set()).update(set(s.labels) - {"quantile", "le"})
    return {name: (types.get(name, "untyped"), labels[name]) for name in labels}


def values(text: str, name: str, **match: str) -> list[float]:
    return [
        s.value
        for s in parse_series(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in match.items())
    ]


def value(text: str, name: str, **match: str) -> float | None:
    found = values(text, name, **match)
    if len(found) > 1:
        raise AssertionError(f"{name}{match} matches {len(found)} series")
    return found[0] if found else None
