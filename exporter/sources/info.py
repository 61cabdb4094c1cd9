"""Parsing of INFO replies into sections of raw `field -> value` strings."""

from __future__ import annotations

from collections.abc import Mapping

InfoSections = Mapping[str, Mapping[str, str]]

# Sections a data node is asked for in one INFO call (Redis >= 7 accepts several).
DATA_SECTIONS = (
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "latencystats",
    "keyspace",
    "cluster",
)


def parse_info(text: str) -> dict[str, dict[str, str]]:
    """`# Section` headers and `key:value` lines; anything else is ignored."""
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = sections.setdefault(line[1:].strip().lower(), {})
            continue
        key, sep, value = line.partition(":")
        if sep and key:
            current[key] = value
    if not sections[""]:
        del sections[""]
    return sections


def field(info: InfoSections, name: str, default: str = "") -> str:
    """A field from whichever section holds it."""
    for fields in info.values():
        if name in fields:
            return fields[name]
    return default


def parse_kv_list(value: str) -> dict[str, str]:
    """`a=1,b=2` as used by keyspace, cmdstat_, errorstat_, slaveN and masterN lines."""
    out: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip()] = val.strip()
    return out


def to_number(value: str) -> float | None:
    """redis_exporter's rules: ok/true/up -> 1, err/fail/false/down -> 0, else a float."""
    lowered = value.strip().lower()
    if lowered in ("ok", "true", "up"):
        return 1.0
    if lowered in ("err", "fail", "false", "down"):
        return 0.0
    try:
        number = float(lowered)
    except ValueError:
        return None
    return number


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
