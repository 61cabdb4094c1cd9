"""redis_ha_exporter.sources.info_template and info_probe: a template filled from a reply renders
exactly what the builder renders from it, and refuses a reply of another shape."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_ha_exporter.exposition import NodeBodies, Renderer, join_packed
from redis_ha_exporter.metrics.model import FamilyBuilder, MetricDef, Packed
from redis_ha_exporter.metrics.node import node_families
from redis_ha_exporter.snapshot import InfoSections
from redis_ha_exporter.sources import ALL, info_probe
from redis_ha_exporter.sources.info import InfoRecord, parse_info, templated
from redis_ha_exporter.sources.info_names import MAPPED
from redis_ha_exporter.sources.info_probe import build
from redis_ha_exporter.sources.info_template import InfoTemplate, cut
from redis_ha_exporter.store import Store
from tests.promtext import parse_series
from tests.unit.captured import FLAVORS, ROLES, info_text, snapshot

INSTANCE = '10.0.0.1:6379 "odd"'
CAPTURED = [info_text(flavor, role) for flavor in FLAVORS for role in ROLES]
_PIECES = re.compile(r"([\n\r\x0b\x0c\x1c\x1d\x1e:,=])")
_DIGIT_RUN = re.compile(r"[0-9]+")
Sample = tuple[str, tuple[tuple[str, str], ...], str]


def built(text: str, instance: str | None = INSTANCE) -> Packed:
    """INFO's templated lines as the builder renders them from the reply."""
    b = FamilyBuilder(instance)
    templated(parse_info(text), b)
    return b.packed()


def samples(packed: Packed) -> list[Sample]:
    text = join_packed([packed], openmetrics=False).decode()
    return sorted(
        (s.name, tuple(sorted(s.labels.items())), repr(s.value)) for s in parse_series(text)
    )


def assert_renders_as_built(got: Packed | None, text: str, instance: str | None = INSTANCE) -> None:
    expected = built(text, instance)
    assert got is not None
    assert samples(got) == samples(expected)
    assert got == expected  # byte for byte, offsets and layout too


def template(text: str) -> InfoTemplate:
    made = build(text)
    assert made is not None
    return made


def fill(made: InfoTemplate, text: str, instance: str | None = INSTANCE) -> Packed | None:
    reply = cut(text)
    return made.fill(reply, instance) if reply is not None else None


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("instance", [True, False])
def test_a_captured_node_renders_the_same_from_its_template_as_from_the_builders(
    flavor: str, role: str, instance: bool
) -> None:
    snap = snapshot(flavor, role)
    packed, made = NodeBodies(ALL).packed(snap, True, None, instance=instance)
    expected = node_families(snap, ALL, include_data=True, instance=instance).packed()
    assert made is not None
    assert len(made.args_at) > 100  # most of the body came from the template
    assert packed == expected
    for openmetrics in (False, True):
        assert join_packed([packed], openmetrics) == join_packed([expected], openmetrics)


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


MASTER = info_text("redis70", "master")
REPLICA = info_text("valkey81", "replica")
SMALL = "# Stats\r\nexpired_keys:1\r\nevicted_keys:\r\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (MASTER, _edit(MASTER, "db0:", "db2:")),
        (MASTER, _edit(MASTER, "p99.9=", "p99.99=")),
        (MASTER, _edit(MASTER, "used_memory:", "used_memory2:")),
        (MASTER, _edit(MASTER, "cmdstat_get:", "cmdstat_get2:")),
        (MASTER, _edit(MASTER, "rdb_last_bgsave_status:ok", "rdb_last_bgsave_status:err")),
        (MASTER, _edit(MASTER, "used_memory:1448840", "used_memory:nan")),
        (MASTER, _edit(MASTER, "used_memory:1448840", "used_memory:")),
        (MASTER, _edit(MASTER, "used_memory:1448840", "used_memory:1.4.8")),
        (MASTER, _edit(MASTER, "used_memory:1448840", "used_memory:-7.25")),  # another form
        (MASTER, _edit(MASTER, "used_cpu_sys:0.025919", "used_cpu_sys:1.")),
        (MASTER, _edit(MASTER, "used_cpu_sys:0.025919", "used_cpu_sys:.5")),
        (MASTER, _edit(MASTER, "second_repl_offset:-1", "second_repl_offset:1-")),
        (MASTER, _edit(MASTER, "second_repl_offset:-1", "second_repl_offset:-")),
        (MASTER, _edit(MASTER, "keys=23", "keys=23,cached_keys=1")),
        (MASTER, _edit(MASTER, "role:master", "role:slave")),
        (SMALL, "# Stats\r\nexpired_keys:\r\nevicted_keys:1\r\n"),  # the digits moved
        # The same tokens, but used_memory_rss is no longer a field: its line has no key.
        (MASTER, _edit(MASTER, "1.38M\r\nused_memory_rss:", "1.38M\r:used_memory_rss:")),
        (REPLICA, _edit(REPLICA, "master_port:44739", "master_port:44730")),
        (REPLICA, _edit(REPLICA, "master_host:127.0.0.1", "master_host:127.0.0.2")),
        (REPLICA, _edit(REPLICA, "master_link_status:up", "master_link_status:down")),
    ],
)
def test_a_reply_of_another_shape_is_refused(before: str, after: str) -> None:
    assert fill(template(before), after) is None
    assert_renders_as_built(fill(template(after), after), after)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("run_id:c4928d42998a360762cdf5b3a67e49fd1b022d6c", "run_id:ffff"),
        ("used_memory_human:1.38M", "used_memory_human:999.99K"),
        ("lru_clock:736306", "lru_clock:x"),
        ("ip=127.0.0.1,port=55733", "ip=10.9.8.7,port=1"),
        ("used_memory:1448840", "used_memory:7"),
        ("used_cpu_sys:0.025919", "used_cpu_sys:123.4"),
        ("second_repl_offset:-1", "second_repl_offset:-1234567"),
        ("avg_ttl=4199490", "avg_ttl=0"),
    ],
)
def test_numbers_and_unread_values_change_without_a_new_template(old: str, new: str) -> None:
    after = _edit(MASTER, old, new)
    assert_renders_as_built(fill(template(MASTER), after), after)


def test_a_line_break_that_only_splitlines_knows_gets_no_template() -> None:
    text = _edit(MASTER, "used_memory_human:1.38M", "used_memory_human:1.38M\x85# Keyspace")
    assert cut(text) is None and build(text) is None
    snap = snapshot("redis70", "master")
    info = snap.get(InfoRecord)
    assert info is not None
    odd = replace(snap, records={**snap.records, InfoRecord: replace(info, raw=text)})
    packed, made = NodeBodies(ALL).packed(odd, True, None)
    assert made is None
    assert packed == node_families(odd, ALL, include_data=True).packed()


def test_nodes_of_one_shape_share_one_template_and_the_instance_is_filled_in() -> None:
    bodies = NodeBodies(ALL)
    snap = snapshot("valkey81", "replica")
    first, one = bodies.packed(snap, True, None)
    second, other = bodies.packed(replace(snap, instance="10.9.9.9:1"), True, None)
    assert one is other and first.layout is second.layout
    assert first.blob.replace(snap.instance.encode(), b"10.9.9.9:1") == second.blob


def test_a_renderer_replaces_a_stale_template_and_keeps_a_current_one() -> None:
    bodies = NodeBodies(ALL)
    snap = snapshot("redis70", "master")
    _, made = bodies.packed(snap, True, None)

    def polled(text: str) -> tuple[Packed, InfoTemplate | None]:
        info = InfoRecord.of(parse_info(text), text)
        later = replace(snap, records={**snap.records, InfoRecord: info})
        packed, now = bodies.packed(later, True, made)
        assert packed == node_families(later, ALL, include_data=True).packed()
        return packed, now

    assert polled(_edit(MASTER, "keyspace_hits:1", "keyspace_hits:2"))[1] is made
    packed, now = polled(_edit(MASTER, "db0:", "db2:"))
    assert now is not made and b'db="db2"' in packed.blob


def test_the_renderer_builds_a_template_once_per_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    built_for: list[str] = []

    def counted(text: str) -> InfoTemplate | None:
        built_for.append(text)
        return build(text)

    monkeypatch.setattr(info_probe, "build", counted)
    store = Store(interval=10.0)
    renderer = Renderer(store, ALL)
    snap = snapshot("redis70", "master", last_success_at=1e12)
    texts = [
        MASTER,
        _edit(MASTER, "keyspace_hits:1", "keyspace_hits:9"),
        _edit(MASTER, "db0:", "db5:"),
    ]
    for polls, text in enumerate(texts, start=4):
        info = InfoRecord.of(parse_info(text), text)
        store.put(replace(snap, polls=polls, records={**snap.records, InfoRecord: info}))
        body = asyncio.run(renderer.arender())
        assert b"redis_keyspace_hits_total" in body
    assert built_for == [texts[0], texts[2]]
    assert b'db="db5"' in body and b'db="db0"' in body  # db0 is zero-filled now


# -- the template's own checks --------------------------------------------------------------


def test_a_template_that_skips_a_fixed_token_goes_stale_and_the_comparison_sees_it() -> None:
    made = template(MASTER)
    reply = cut(MASTER)
    assert reply is not None
    key = reply.tokens.index(b"db0")
    broken = InfoTemplate(
        made.delimiters,
        tuple(i for i in made.fixed_at if i != key),
        tuple(reply.tokens[i] for i in made.fixed_at if i != key),
        *(made.numbers_at, made.forms, made.args_at, made.fmt, made.layout),
        *(made.fixed_ends, made.args_ends),
    )
    after = _edit(MASTER, "db0:", "db2:")
    wrong = fill(broken, after)
    assert wrong is not None and wrong != built(after)
    with pytest.raises(AssertionError):
        assert_renders_as_built(wrong, after)


def _patched(
    monkeypatch: pytest.MonkeyPatch, extra: Callable[[InfoSections, FamilyBuilder], None]
) -> None:
    def code(sections: InfoSections, b: FamilyBuilder) -> None:
        templated(sections, b)
        extra(sections, b)

    monkeypatch.setattr(info_probe, "templated", code)


ODD = MetricDef("redis_odd", "gauge", "odd")


def test_arithmetic_on_a_number_fails_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    _patched(monkeypatch, lambda s, b: b.add(ODD, int(s["server"]["uptime_in_seconds"]) + 1))
    assert build(MASTER) is None


def test_a_branch_on_a_number_fails_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def extra(sections: InfoSections, b: FamilyBuilder) -> None:
        if sections["server"]["uptime_in_seconds"] != "0":
            b.add(ODD, 1)

    _patched(monkeypatch, extra)
    assert build(MASTER) is None


def test_a_number_written_into_a_label_is_part_of_the_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _patched(monkeypatch, lambda s, b: b.add(ODD, 1, port=s["server"]["tcp_port"]))
    made = template(MASTER)
    assert fill(made, _edit(MASTER, "tcp_port:53709", "tcp_port:1")) is None
    after = _edit(MASTER, "keyspace_hits:1", "keyspace_hits:2")
    got = fill(made, after)
    assert got is not None and b'port="53709"' in got.blob


# -- generated replies ----------------------------------------------------------------------

_DIGITS = st.text("0123456789", min_size=1, max_size=3)
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**15).map(str),
    st.tuples(st.integers(-(10**6), 10**9), _DIGITS).map(lambda p: f"{p[0]}.{p[1]}"),
)
# Words, empties and numbers Redis never writes, where a number may be.
_ODD = ["", "ok", "err", "up", "down", "nan", "inf", "-inf", "abc", "1.2.3", "1e5", " 5", "5 "]
_WORDS = st.sampled_from([*_ODD, "1.", ".5", "-", "x7", "1_000", "slave", "master", "2.30M", "5%"])
_VALUES = st.one_of(_NUMBERS, _WORDS)
_SUBKEYS = ["calls", "usec", "usec_per_call", "rejected_calls", "failed_calls", "keys", "expires"]
_SUBKEYS += ["avg_ttl", "cached_keys", "count", "p50", "p99.9", "ip", "port", "state", "offset"]
_LISTS = st.lists(
    st.tuples(st.one_of(st.sampled_from(_SUBKEYS), _DIGITS.map("p{}".format)), _VALUES), max_size=6
).map(lambda pairs: ",".join(f"{k}={v}" for k, v in pairs))
_NAMES = st.sampled_from(["get", "set", "GET", "config|get", "x1", "ERR", "WRONGTYPE"])
_FIELDS = [*sorted(MAPPED), "role", "master_host", "master_port", "master_link_status"]
_FIELDS += ["slave_read_only", "redis_mode", "latest_fork_usec", "run_id", "cluster_x1"]
_FIELDS += ["master_link_down_since_seconds", "used_memory_human"]
_LINES = st.one_of(
    st.tuples(st.sampled_from(_FIELDS), _VALUES),
    st.tuples(st.text("abcdefgh_0123456789", min_size=1, max_size=10), _VALUES),
    st.tuples(
        st.one_of(
            _DIGITS.map("db{}".format),
            _DIGITS.map("slave{}".format),
            _NAMES.map("cmdstat_{}".format),
            _NAMES.map("errorstat_{}".format),
            _NAMES.map("latency_percentiles_usec_{}".format),
        ),
        _LISTS,
    ),
).map(lambda kv: f"{kv[0]}:{kv[1]}")
_HEADERS = st.sampled_from(["# Replication", "# Keyspace", "# Commandstats", "# Sentinel", "x"])


# Changing only numbers is the common case, the one a template must take.
_EDITS = ["add", "header", "remove", "swap", "value", "digit", "delimiter"]
_EDITS += ["number", "number", "number"]
_NUMBER_VALUE = re.compile(r"(?<=[:=])-?[0-9]+(?:\.[0-9]+)?(?=,|$)")


@st.composite
def edited(draw: st.DrawFn, text: str) -> str:
    """`text` with lines added, removed or swapped, or given other values, numbers, digits or
    delimiters."""
    lines = text.split("\r\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(_EDITS))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "add":
            lines.insert(i, draw(_LINES))
        elif op == "header":
            lines.insert(i, draw(_HEADERS))
        elif op == "remove" and len(lines) > 1:
            del lines[i]
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "value" and ":" in lines[i]:
            key = lines[i].partition(":")[0]
            lines[i] = f"{key}:{draw(_LISTS if '=' in lines[i] else _VALUES)}"
        elif op == "number" and (found := list(_NUMBER_VALUE.finditer(lines[i]))):
            number = draw(st.sampled_from(found))
            lines[i] = lines[i][: number.start()] + draw(_NUMBERS) + lines[i][number.end() :]
        elif op == "delimiter" and (marks := [k for k, c in enumerate(lines[i]) if c in ":,="]):
            at = draw(st.sampled_from(marks))
            other = draw(st.sampled_from(":,=\r\n"))
            lines[i] = lines[i][:at] + other + lines[i][at + 1 :]
        elif op == "digit" and lines[i]:
            at = draw(st.integers(0, len(lines[i])))
            cut = draw(st.integers(0, 1)) if at < len(lines[i]) else 0
            lines[i] = (
                lines[i][:at] + draw(st.sampled_from(["", *"0123456789"])) + lines[i][at + cut :]
            )
    return "\r\n".join(lines)


REPLIES = st.sampled_from(CAPTURED).flatmap(edited)


@settings(max_examples=150, deadline=None)
@given(REPLIES, st.sampled_from([INSTANCE, None]))
def test_a_template_of_any_reply_renders_what_the_builder_renders(
    text: str, instance: str | None
) -> None:
    assert_renders_as_built(fill(template(text), text, instance), text, instance)


@settings(max_examples=300, deadline=None)
@given(REPLIES.flatmap(lambda text: st.tuples(st.just(text), edited(text))))
def test_a_template_refuses_a_reply_of_another_shape_or_renders_it_right(
    replies: tuple[str, str],
) -> None:
    before, after = replies
    got = fill(template(before), after)
    if got is not None:
        assert_renders_as_built(got, after)


_FREE = st.text(
    st.characters(
        blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e:,=\x85\u2028\u2029",
        blacklist_categories=["Cs"],
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_template_takes_any_numbers_of_their_form_and_any_unread_values(
    data: st.DataObject,
) -> None:
    text = data.draw(REPLIES)
    made = template(text)
    pieces = _PIECES.split(text)
    fixed = set(made.fixed_at)
    for i in range(made.count):
        if i in made.numbers_at:  # another number of the same form
            pieces[2 * i] = _DIGIT_RUN.sub(lambda _: data.draw(_DIGITS), pieces[2 * i])
        elif i not in fixed:
            pieces[2 * i] = data.draw(_FREE)
    after = "".join(pieces)
    assert_renders_as_built(fill(made, after), after)
