"""RESP framing for the recording proxy and the replay server, and the capture file: raw reply
bytes keyed by the normalized command (its words upper-cased)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

Key = tuple[bytes, ...]

# Replies whose size is given in their header line (RESP2 `$`, RESP3 blob error and verbatim).
_BLOBS = frozenset(b"$!=")
# One line each: status, error, integer, RESP3 null, double, boolean, big number.
_LINES = frozenset(b"+-:_,#(")
# N elements follow (array, set, push); maps and attributes hold N key/value pairs.
_AGGREGATES = {ord("*"): 1, ord("~"): 1, ord(">"): 1, ord("%"): 2, ord("|"): 2}
# Commands whose arguments may hold a password: never recorded, answered generically.
SECRET_COMMANDS = frozenset({b"AUTH", b"HELLO"})


def frame_end(buf: bytes, pos: int = 0) -> int | None:
    """The offset just past the one whole RESP2/RESP3 reply starting at `pos`, or None when
    `buf` does not hold all of it yet."""
    pending = 1  # values still to read at the current depth, innermost last
    stack: list[int] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        kind = buf[pos]
        if kind in _BLOBS:
            size = int(buf[pos + 1 : eol])
            pos = eol + 2 if size < 0 else eol + 2 + size + 2
            if pos > len(buf):
                return None
        elif kind in _AGGREGATES:
            count = int(buf[pos + 1 : eol])
            pos = eol + 2
            if kind == ord("|"):
                count = 2 * count + 1  # an attribute is followed by the reply it annotates
            elif count > 0:
                count *= _AGGREGATES[kind]
            if count > 0:
                stack.append(pending - 1)
                pending = count
                continue
        elif kind in _LINES:
            pos = eol + 2
        else:
            raise ValueError(f"not a RESP reply at offset {pos}: {buf[pos : pos + 16]!r}")
        pending -= 1
        while pending == 0:
            if not stack:
                return pos
            pending = stack.pop()


def normalize(args: Sequence[bytes]) -> Key:
    return tuple(bytes(a).upper() for a in args)


def encode_command(args: Iterable[bytes | str | int]) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def error(text: str) -> bytes:
    return b"-" + text.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def save_capture(path: Path, replies: Mapping[Key, bytes], meta: Mapping[str, object]) -> None:
    entries = [
        {"args": [a.decode("latin-1") for a in key], "reply": base64.b64encode(raw).decode()}
        for key, raw in sorted(replies.items())
    ]
    path.write_text(json.dumps({"meta": dict(meta), "replies": entries}, indent=1))


def load_capture(path: Path) -> dict[Key, bytes]:
    data = json.loads(path.read_text())
    return {
        tuple(a.encode("latin-1") for a in entry["args"]): base64.b64decode(entry["reply"])
        for entry in data["replies"]
    }
