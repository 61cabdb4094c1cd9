"""How INFO's templates are made, by running `info.templated` on probe copies of a reply (each
number replaced by a unique one) and mapping the probes in its lines back to the reply's
tokens; and kept, one per shape, shared by the nodes whose replies have it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from redis_ha_exporter.metrics.model import LAYOUTS_KEPT, FamilyBuilder, Packed
from redis_ha_exporter.sources.info import NUMBER, parse_info, templated
from redis_ha_exporter.sources.info_template import DELIMITERS, Cut, InfoTemplate, cut

_BREAKS = DELIMITERS.rstrip(":,=")  # the line breaks
_PIECES = re.compile(f"([{DELIMITERS}])")
_DIGITS = re.compile(r"[0-9]+")
_LEADING_DIGITS = re.compile(r"([0-9]+)(.*)")
_FIXED, _NUMBER, _FREE = 0, 1, 2
# Probes are 12-digit numbers, none of them a digit run of the reply itself.
_PROBE_BASE = 900_000_000_000


class _Reads(Mapping[str, str]):
    """One section of a reply, noting each value read as (section, key)."""

    __slots__ = ("_fields", "_name", "_read")

    def __init__(self, name: str, fields: Mapping[str, str], read: set[tuple[str, str]]) -> None:
        self._fields, self._name, self._read = fields, name, read

    def __getitem__(self, key: str) -> str:
        value = self._fields[key]
        self._read.add((self._name, key))
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def _run(text: str, read: set[tuple[str, str]] | None = None) -> FamilyBuilder:
    """`templated` on a reply, without `instance` label; `read` collects what it reads."""
    sections = parse_info(text)
    b = FamilyBuilder(None)
    if read is None:
        templated(sections, b)
    else:
        templated({name: _Reads(name, fields, read) for name, fields in sections.items()}, b)
    return b


def _values(words: list[str], seps: list[str], text: str) -> dict[tuple[str, str], range] | None:
    """The tokens of each field's value, found the way `parse_info` finds fields; None if the
    two disagree."""
    spans: dict[tuple[str, str], range] = {}
    seen: dict[str, dict[str, str]] = {}
    section, first = "", 0
    for last in range(len(words)):
        if last < len(seps) and seps[last] not in _BREAKS:
            continue
        line = "".join([words[k] + seps[k] for k in range(first, last)]) + words[last]
        stripped = line.strip()
        if stripped.startswith("#"):
            section = stripped[1:].strip().lower()
            seen.setdefault(section, {})
        elif stripped:
            key, sep, value = stripped.partition(":")
            if sep and key:
                colon = seps.index(":", first)
                spans[(section, key)] = range(colon + 1, last + 1)
                seen.setdefault(section, {})[key] = value
        first = last + 1
    return spans if seen == parse_info(text) else None


def _text(words: list[str], seps: list[str], replace: Mapping[int, str]) -> str:
    """The reply again, with some tokens replaced."""
    return "".join(
        [
            replace.get(i, word) + sep
            for i, (word, sep) in enumerate(zip(words, [*seps, ""], strict=True))
        ]
    )


def _probe_ids(in_text: set[str]) -> Iterator[str]:
    n = _PROBE_BASE
    while True:
        n += 1
        if str(n) not in in_text:
            yield str(n)


def build(text: str) -> InfoTemplate | None:
    """The template of the reply's shape, or None when it cannot have one."""
    reply = cut(text)
    pieces = _PIECES.split(text)
    words, seps = pieces[0::2], pieces[1::2]
    spans = _values(words, seps, text)
    if reply is None or spans is None:
        return None
    read: set[tuple[str, str]] = set()
    expected = _run(text, read).packed()
    kinds = [_FIXED] * len(words)
    for key, span in spans.items():
        for i in span:
            kinds[i] = (_NUMBER if NUMBER.fullmatch(words[i]) else _FIXED) if key in read else _FREE
    ids = _probe_ids(set(_DIGITS.findall(text)))
    probes = {next(ids): i for i, kind in enumerate(kinds) if kind == _NUMBER}
    for _ in range(3):
        seen: set[tuple[str, str]] = set()
        out = _run(_text(words, seps, {i: p for p, i in probes.items()}), seen)
        in_labels = {
            probes[d]
            for fam in out.families.values()
            for line in fam.lines
            for d in _DIGITS.findall(line[:-1].rpartition(" ")[0])
            if d in probes
        }
        if seen != read:
            return None
        if not in_labels:
            break
        # A number written into a label is part of the shape, as the label is.
        probes = {p: i for p, i in probes.items() if i not in in_labels}
        for i in in_labels:
            kinds[i] = _FIXED
    else:
        return None
    template = _compose(out, probes, kinds, reply)
    if template is None or template.fill(reply, None) != expected:
        return None
    zeros = _text(words, seps, {i: _DIGITS.sub("0", words[i]) for i in probes.values()})
    zero = cut(zeros)
    if zero is None or template.fill(zero, None) != _run(zeros).packed():
        return None
    return template


def _compose(
    out: FamilyBuilder, probes: Mapping[str, int], kinds: list[int], reply: Cut
) -> InfoTemplate | None:
    """The template of the probe copy's lines: each probe a `%s` of its token."""
    words = reply.tokens
    count = len(words)
    parts: list[bytes] = []
    args_at: list[int] = []
    fixed_ends: list[int] = []
    args_ends: list[int] = []
    size = 0

    def text(piece: str) -> None:
        nonlocal size
        data = piece.encode()
        size += len(data)
        parts.append(data.replace(b"%", b"%%"))

    def slot(at: int) -> None:
        parts.append(b"%s")
        args_at.append(at)

    def probed(piece: str) -> bool:
        return any(d in probes for d in _DIGITS.findall(piece))

    layout = []
    for name in sorted(out.families):
        family = out.families[name]
        layout.append((name, family.type, family.help))
        for line in family.lines:
            series, _, value = line[:-1].rpartition(" ")
            brace = series.find("{")
            if brace < 0:
                text(series)
                slot(count + 1)
                text(" ")
            else:
                text(series[: brace + 1])
                slot(count)
                text(series[brace + 1 :] + " ")
            match = _LEADING_DIGITS.fullmatch(value)
            if match is not None and match[1] in probes and not probed(match[2]):
                slot(probes[match[1]])
                text(match[2] + "\n")
            elif probed(value):
                return None  # a number the code changed: not the reply's as it is
            else:
                text(value + "\n")
        fixed_ends.append(size)
        args_ends.append(len(args_at))
    fixed_at = tuple(i for i, kind in enumerate(kinds) if kind == _FIXED)
    numbers_at = tuple(sorted(probes.values()))
    forms = b"".join([b"\n" + words[i].translate(None, b"0123456789") for i in numbers_at])
    return InfoTemplate(
        reply.delimiters,
        fixed_at,
        tuple(words[i] for i in fixed_at),
        numbers_at,
        forms + b"\n" if numbers_at else b"",
        tuple(args_at),
        b"".join(parts),
        tuple(layout),
        tuple(fixed_ends),
        tuple(args_ends),
    )


class Templates:
    """The templates of the shapes seen, each shared by the nodes whose replies have it."""

    def __init__(self) -> None:
        self._shared: dict[tuple[object, ...], InfoTemplate] = {}
        self._by_count: dict[int, list[InfoTemplate]] = {}

    def fill(
        self, text: str, instance: str | None, current: InfoTemplate | None
    ) -> tuple[Packed, InfoTemplate] | None:
        """INFO's templated lines of a reply: from `current`, the node's template, while its
        shape holds, else from another node's of that shape, else from a new one. None when
        the reply can have no template."""
        reply = cut(text)
        if reply is None:
            return None
        if current is not None:
            part = current.fill(reply, instance)
            if part is not None:
                return part, current
        for other in self._by_count.get(len(reply.tokens), ()):
            part = other.fill(reply, instance) if other is not current else None
            if part is not None:
                return part, other
        made = build(text)
        if made is None:
            return None
        if len(self._shared) > LAYOUTS_KEPT:  # bounded whatever the nodes report
            self._shared.clear()
            self._by_count.clear()
        template = self._shared.setdefault(made.key, made)
        if template is made:
            # A few per count: nodes of one version and role tend to share theirs.
            self._by_count[made.count] = [made, *self._by_count.get(made.count, ())][:4]
        part = template.fill(reply, instance)
        return (part, template) if part is not None else None
