"""Pure helpers that turn raw RESP2 replies and INFO values into Python values.

Shared by the sources' parsers and the metric builders; no I/O and no Redis client here.
"""

from __future__ import annotations

from typing import Any


def decode(value: Any) -> str:
    """Bytes as UTF-8 (bad bytes replaced), anything else as `str()`."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def flat_to_dict(reply: Any) -> dict[str, str]:
    """`[k1, v1, k2, v2, ...]` -> dict; odd trailing items are dropped."""
    if not isinstance(reply, (list, tuple)):
        return {}
    items = [decode(v) for v in reply]
    return dict(zip(items[0::2], items[1::2], strict=False))


def dict_list(reply: Any) -> list[dict[str, str]]:
    """A list of flat key/value arrays (SENTINEL MASTERS, REPLICAS, SENTINELS)."""
    if not isinstance(reply, (list, tuple)):
        return []
    return [d for d in (flat_to_dict(item) for item in reply) if d]


def to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_kv_list(value: str) -> dict[str, str]:
    """`a=1,b=2` as used by keyspace, cmdstat_, errorstat_, slaveN and masterN lines."""
    out: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip()] = val.strip()
    return out


def to_number(value: str) -> float | None:
    """redis_exporter's rules: ok/true/up -> 1, err/fail/false/down -> 0, else a float (an int
    for plain digits: exact, and printed without a float round trip)."""
    if value.isascii() and value.isdigit():  # most INFO values: no float round trip
        return int(value)
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
    """`7.0.15` -> (7, 0, 15); junk parts count as 0, an empty string gives ()."""
    if not text:
        return ()
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
