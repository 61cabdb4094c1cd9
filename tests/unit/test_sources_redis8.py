"""Redis 8 fields, from tests/fixtures/redis8_documented.json: written from Redis 8's
documented output, not captured (no Redis 8 binary runs here), as edits of the captured 7.0
master. INFO keysizes as histograms, the per-command slowlog counters of 8.8, and 8.10's
seventh SLOWLOG GET field."""

from __future__ import annotations

from typing import Any

import pytest

from redis_ha_exporter.sources.base import NodeView
from redis_ha_exporter.sources.info import DATA_SECTIONS, InfoRecord, commands, parse_info
from redis_ha_exporter.sources.slowlog import SlowlogRecord, parse_entries
from tests.unit.captured import (
    Exposition,
    exposition,
    info_text,
    load_json,
    snapshot,
    wire,
    with_records,
)

DOC: dict[str, Any] = load_json("redis8_documented.json")


def redis8_info() -> str:
    """The captured 7.0 master's INFO with the fixture's lines replaced and sections added."""
    lines = info_text("redis70", "master").split("\r\n")
    for i, line in enumerate(lines):
        key = line.partition(":")[0]
        if key in DOC["replace"]:
            lines[i] = f"{key}:{DOC['replace'][key]}"
    text = "\r\n".join(lines)
    stats = "".join(f"{k}:{v}\r\n" for k, v in DOC["add"]["stats"].items())
    text = text.replace("# Stats\r\n", "# Stats\r\n" + stats)
    keysizes = "".join(f"{k}:{v}\r\n" for k, v in DOC["add"]["keysizes"].items())
    return text + "# Keysizes\r\n" + keysizes + "\r\n"


def redis8(slowlog: SlowlogRecord | None = None) -> Exposition:
    text = redis8_info()
    snap = snapshot("redis70", "master")
    snap = with_records(snap, InfoRecord.of(parse_info(text), text), *filter(None, [slowlog]))
    return exposition(snap)


def test_redis_8_is_asked_for_keysizes_and_older_servers_are_not() -> None:
    assert commands(NodeView("n", "data", (8, 0, 2)), None) == [
        ("INFO", *DATA_SECTIONS, "keysizes")
    ]
    assert commands(NodeView("n", "data", (7, 0, 15)), None) == [("INFO", *DATA_SECTIONS)]
    # Valkey says redis_version 7.2.4 and has no keysizes section.
    valkey = NodeView("n", "data", (7, 2, 4), valkey=(9, 1, 2))
    assert commands(valkey, None) == [("INFO", *DATA_SECTIONS)]


def test_keysizes_bins_become_cumulative_buckets_of_whole_sizes() -> None:
    exp = redis8()
    strings = {
        s.labels["le"]: s.value
        for s in exp.series
        if s.name == "redis_db_keysizes_string_bytes_bucket" and s.labels["db"] == "db0"
    }
    # 0=1,1=19,2=655,4=3,1K=2,2M=1: [bin, 2 * bin) is le = 2 * bin - 1.
    assert strings == {
        "0": 1,
        "1": 20,
        "3": 675,
        "7": 678,
        "2047": 680,
        str(4 * 1024 * 1024 - 1): 681,
        "+Inf": 681,
    }
    assert exp.value("redis_db_keysizes_string_bytes_count", db="db0") == 681
    assert exp.types["redis_db_keysizes_string_bytes"] == "histogram"
    assert exp.value("redis_db_keysizes_items_bucket", db="db0", type="list", le="1") == 5
    assert exp.value("redis_db_keysizes_items_bucket", db="db0", type="list", le="15") == 6
    assert exp.value("redis_db_keysizes_items_count", db="db1", type="hash") == 4
    assert exp.value("redis_db_keysizes_items_count", db="db1", type="zset") == 2
    assert exp.types["redis_db_keysizes_items"] == "histogram"


def test_a_malformed_keysizes_line_is_dropped_alone() -> None:
    text = redis8_info().replace("1=5,8=1", "1=5,eight=1")
    record = InfoRecord.of(parse_info(text), text)
    assert ("db0", "lists_items") not in record.keysizes
    assert ("db0", "strings_sizes") in record.keysizes


def test_servers_without_keysizes_have_no_histograms() -> None:
    exp = exposition(snapshot("redis70", "master"))
    assert not [s for s in exp.series if s.name.startswith("redis_db_keysizes")]


def test_redis_8_8_slowlog_counters_come_from_commandstats() -> None:
    # A tally of our own that disagrees: the server's exact counters win.
    tally = SlowlogRecord(length=2, last_id=12, gap_known=True, entries={"get": 9}, missed=4)
    exp = redis8(tally)
    assert exp.value("redis_slowlog_entries_total", cmd="debug") == 1
    assert exp.value("redis_slowlog_entries_total", cmd="set") == 3
    assert exp.value("redis_slowlog_entries_total", cmd="get") is None
    assert exp.value("redis_slowlog_duration_seconds_total", cmd="debug") == pytest.approx(0.02)
    assert exp.value("redis_slowlog_entries_missed_total") == 0
    assert exp.types["redis_slowlog_entries_total"] == "counter"
    assert exp.value("redis_slowlog_length") == 2  # still SLOWLOG LEN's


def test_redis_8_8_slowlog_totals_of_info_stats() -> None:
    exp = redis8()
    assert exp.value("redis_slowlog_commands_total") == 4
    assert exp.types["redis_slowlog_commands_total"] == "counter"
    assert exp.value("redis_slowlog_commands_time_ms_total") == 22
    assert exp.value("redis_slowlog_commands_time_ms_max") == 20


def test_without_the_server_counters_the_tally_is_exported() -> None:
    tally = SlowlogRecord(length=2, last_id=12, gap_known=True, entries={"get": 9}, missed=4)
    exp = exposition(with_records(snapshot("redis70", "master"), tally))
    assert exp.value("redis_slowlog_entries_total", cmd="get") == 9
    assert exp.value("redis_slowlog_entries_missed_total") == 4


def test_redis_8_10_slowlog_entries_with_a_seventh_field_parse() -> None:
    entries = parse_entries(wire(DOC["slowlog_get"]))
    assert [(e.id, e.duration_us, e.command) for e in entries] == [
        (12, 20119, "debug"),
        (11, 900, "set"),
    ]
