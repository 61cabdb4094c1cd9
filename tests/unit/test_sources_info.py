"""redis_ha_exporter.sources.info: INFO text -> sections of raw fields, and the number rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_ha_exporter.replies import parse_kv_list, to_number, version_tuple
from redis_ha_exporter.sources.info import DATA_SECTIONS, InfoRecord, parse_info
from tests.unit.captured import FLAVORS, ROLES, info_text, raw_fields


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("role", ROLES)
def test_parse_info_keeps_every_field_of_a_captured_reply(flavor: str, role: str) -> None:
    text = info_text(flavor, role)
    sections = parse_info(text)
    flat = {k: v for fields in sections.values() for k, v in fields.items()}
    assert flat == raw_fields(text)
    headers = [line[2:].lower() for line in text.split("\r\n") if line.startswith("# ")]
    assert list(sections) == headers


@pytest.mark.parametrize("flavor", FLAVORS)
def test_data_node_reply_holds_every_requested_section(flavor: str) -> None:
    assert set(parse_info(info_text(flavor, "master"))) == set(DATA_SECTIONS)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinel_reply_has_a_sentinel_section_and_no_keyspace(flavor: str) -> None:
    sections = parse_info(info_text(flavor, "sentinel"))
    assert "sentinel" in sections
    assert "keyspace" not in sections and "replication" not in sections
    assert sections["sentinel"]["master0"].startswith("name=mymaster,status=ok,")


def test_values_keep_colons_after_the_first() -> None:
    text = "# Server\r\nexecutable:/usr/bin/redis-server\r\nlistener0:name=tcp,bind=::1,port=1\r\n"
    assert parse_info(text)["server"]["listener0"] == "name=tcp,bind=::1,port=1"


def test_fields_before_any_header_and_junk_lines() -> None:
    assert parse_info("a:1\r\njunk\r\n:nokey\r\n\r\n# S\r\nb:2") == {
        "": {"a": "1"},
        "s": {"b": "2"},
    }


def test_field_finds_a_value_in_any_section() -> None:
    info = parse_info(info_text("redis70", "master"))
    assert InfoRecord.of(info).field("role") == "master"
    assert (
        InfoRecord.of(info).field("used_memory")
        == raw_fields(info_text("redis70", "master"))["used_memory"]
    )
    assert InfoRecord.of(info).field("no_such_field", "dflt") == "dflt"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_parse_kv_list_splits_keyspace_and_replica_lines(flavor: str) -> None:
    raw = raw_fields(info_text(flavor, "master"))
    db0 = parse_kv_list(raw["db0"])
    # Valkey 9 adds keys_with_volatile_items (keys whose hash fields expire).
    extra = {"keys_with_volatile_items"} if flavor == "valkey91" else set()
    assert set(db0) == {"keys", "expires", "avg_ttl", *extra}
    assert raw["db0"] == ",".join(f"{k}={v}" for k, v in db0.items())
    slave = parse_kv_list(raw["slave0"])
    assert (slave["ip"], slave["state"]) == ("127.0.0.1", "online")
    # Valkey 8 appends a `type=replica` field that Redis 7.0 does not have.
    assert ("type" in slave) is flavor.startswith("valkey")


def test_parse_kv_list_ignores_parts_without_equals_and_strips_spaces() -> None:
    assert parse_kv_list(" a = 1 ,junk,,b=x=y") == {"a": "1", "b": "x=y"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42.0),
        ("-1", -1.0),
        ("0.032044", 0.032044),
        ("1.10", 1.1),
        ("ok", 1.0),
        ("OK", 1.0),
        ("up", 1.0),
        ("true", 1.0),
        ("err", 0.0),
        ("fail", 0.0),
        ("false", 0.0),
        ("down", 0.0),
        (" 7 ", 7.0),
        ("", None),
        ("1.33M", None),
        ("allkeys-lru", None),
        ("no-failover", None),
    ],
)
def test_to_number_follows_redis_exporter_rules(text: str, expected: float | None) -> None:
    assert to_number(text) == expected


@pytest.mark.parametrize("flavor", FLAVORS)
def test_every_numeric_captured_field_converts_like_float(flavor: str) -> None:
    for value in raw_fields(info_text(flavor, "master")).values():
        try:
            expected: float | None = float(value)
        except ValueError:
            continue
        assert to_number(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7.0.15", (7, 0, 15)), ("7.2.4", (7, 2, 4)), ("255.255.255", (255, 255, 255)), ("", ())],
)
def test_version_tuple_keeps_digits_only(text: str, expected: tuple[int, ...]) -> None:
    assert version_tuple(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_info_never_raises_on_any_text(text: str) -> None:
    sections = parse_info(text)
    assert isinstance(sections, dict)
    for name, fields in sections.items():
        assert isinstance(name, str)
        assert all(isinstance(k, str) and k and isinstance(v, str) for k, v in fields.items())


_KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_|", min_size=1, max_size=8)
_VALUES = st.text(alphabet=st.characters(categories=["L", "N", "P", "S"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_KEYS, _VALUES), max_size=12))
def test_parse_info_keeps_the_last_value_of_each_key(pairs: list[tuple[str, str]]) -> None:
    text = "# Stats\r\n" + "\r\n".join(f"{k}:{v}" for k, v in pairs)
    assert parse_info(text).get("stats", {}) == dict(pairs)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_to_number_gives_a_number_or_none_for_any_text(text: str) -> None:
    result = to_number(text)
    assert result is None or isinstance(result, float) or type(result) is int


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0))
def test_to_number_keeps_plain_integers_exact(value: int) -> None:
    result = to_number(str(value))
    assert type(result) is int and result == value


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False))
def test_to_number_round_trips_any_float(number: float) -> None:
    assert to_number(repr(number)) == number


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_kv_list_never_raises(text: str) -> None:
    assert all(isinstance(v, str) for v in parse_kv_list(text).values())
