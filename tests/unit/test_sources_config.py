"""redis_ha_exporter.sources.config: CONFIG GET replies and when CONFIG is read."""

from __future__ import annotations

from typing import Any

import pytest

from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import NodeView, PollOptions
from redis_ha_exporter.sources.config import (
    ALL_CONFIG,
    COMMAND,
    COMMANDLOG_PARAMS,
    CONFIG_PARAMS,
    REFRESH_POLLS,
    ConfigRecord,
    commands,
    families,
    parse,
    parse_config,
)
from tests.unit.captured import FLAVORS, load_json, wire
from tests.unit.test_exposition import text_of


@pytest.mark.parametrize("flavor", FLAVORS)
def test_captured_config_get_holds_every_requested_parameter(flavor: str) -> None:
    raw = load_json(f"config_{flavor}.json")
    config = parse_config([wire(raw)])
    # Valkey 8.1+ answers the COMMANDLOG parameters too; Redis ignores them.
    extra = set(COMMANDLOG_PARAMS) if flavor.startswith("valkey") else set()
    assert set(config) == set(CONFIG_PARAMS) | extra
    assert config == dict(zip(raw[0::2], raw[1::2], strict=True))
    assert config["maxmemory"] == str(64 * 1024 * 1024)
    assert config["maxmemory-policy"] == "allkeys-lru"


def test_parse_config_merges_one_reply_per_parameter() -> None:
    # Redis < 7 needs one CONFIG GET per parameter; an error reply contributes nothing.
    replies: list[Any] = [[b"maxmemory", b"0"], [b"databases", b"16"], Exception("ERR"), None]
    assert parse_config(replies) == {"maxmemory": "0", "databases": "16"}


def test_config_is_read_on_the_first_poll_and_every_refresh_polls() -> None:
    options = PollOptions({REFRESH_POLLS.name: 3})
    old = ConfigRecord({"maxmemory": "0"})
    modern = [("CONFIG", "GET", *CONFIG_PARAMS)]
    assert commands(NodeView("n", "data", (7, 0), 0, options), None) == modern
    assert commands(NodeView("n", "data", (7, 0), 5, options), None) == modern  # none yet
    assert commands(NodeView("n", "data", (7, 0), 4, options), old) == ()
    assert commands(NodeView("n", "data", (7, 0), 6, options), old) == modern


def test_before_redis_7_config_get_asks_one_parameter_per_command() -> None:
    planned = commands(NodeView("n", "data", (6, 2, 14)), None)
    assert planned == [("CONFIG", "GET", param) for param in CONFIG_PARAMS]


@pytest.mark.parametrize(("save", "rules"), [("3600 1 300 100 60 10000", 3), ("", 0)])
def test_save_rules_are_counted_and_zero_when_rdb_snapshots_are_off(save: str, rules: int) -> None:
    record = ConfigRecord({"save": save})
    b = FamilyBuilder("n")
    families(NodeSnapshot("n", "data"), record, b)
    assert b.families["redis_config_save_rules"].lines == [
        f'redis_config_save_rules{{instance="n"}} {rules}\n'
    ]


def test_only_valkey_8_1_and_later_is_asked_for_the_commandlog_parameters() -> None:
    def asked(node: NodeView) -> set[str | int | bytes]:
        return {word for command in commands(node, None) for word in command[2:]}

    assert not asked(NodeView("n", "data", (7, 0, 15))) & set(COMMANDLOG_PARAMS)
    assert not asked(NodeView("n", "data", (7, 2, 4), valkey=(8, 0, 2))) & set(COMMANDLOG_PARAMS)
    assert set(COMMANDLOG_PARAMS) <= asked(NodeView("n", "data", (7, 2, 4), valkey=(8, 1, 0)))


def test_a_renamed_config_command_is_sent_under_its_name_and_dash_sends_none() -> None:
    renamed = PollOptions({COMMAND.name: "CFG_9f2"})
    assert commands(NodeView("n", "data", (7, 0, 15), options=renamed), None) == [
        ("CFG_9f2", "GET", *CONFIG_PARAMS)
    ]
    old = commands(NodeView("n", "data", (6, 2, 14), options=renamed), None)
    assert {c[:2] for c in old} == {("CFG_9f2", "GET")}
    disabled = PollOptions({COMMAND.name: "-"})
    assert commands(NodeView("n", "data", (7, 0, 15), options=disabled), None) == ()


@pytest.mark.parametrize("value", ["", "CONFIG GET", "a;b", "x" * 65, "--"])
def test_a_config_command_that_is_no_command_name_is_refused(value: str) -> None:
    assert COMMAND.check is not None
    with pytest.raises(ValueError, match="not a command name"):
        COMMAND.check(value, {})


def test_include_config_metrics_reads_everything_and_drops_the_secrets_on_reading() -> None:
    options = PollOptions({ALL_CONFIG.name: True})
    for version in ((6, 2, 14), (7, 0, 15)):
        node = NodeView("n", "data", version, options=options)
        assert commands(node, None) == [("CONFIG", "GET", "*")]
    reply = [
        b"maxmemory", b"100", b"requirepass", b"pw-1", b"masterauth", b"pw-2",
        b"primaryauth", b"pw-3", b"tls-key-file-pass", b"pw-4", b"some-module-pass", b"pw-5",
        b"appendonly", b"yes", b"masteruser", b"replicator",
    ]  # fmt: skip
    node = NodeView("n", "data", (7, 0, 15), options=options)
    record = parse(node, None, [reply])
    assert record.everything
    assert record.values == {"maxmemory": "100", "appendonly": "yes", "masteruser": "replicator"}
    b = FamilyBuilder("i")
    families(NodeSnapshot("i", "data"), record, b)
    text = text_of(b)
    assert 'redis_config_key_value{instance="i",key="appendonly",value="yes"} 1' in text
    assert 'redis_config_value{instance="i",key="maxmemory"} 100' in text
    assert 'redis_config_value{instance="i",key="appendonly"' not in text
    assert "pw-" not in text


def test_a_record_read_without_the_option_renders_no_key_values() -> None:
    record = parse(NodeView("n", "data", (7, 0, 15)), None, [[b"maxmemory", b"100"]])
    b = FamilyBuilder("i")
    families(NodeSnapshot("i", "data"), record, b)
    assert "redis_config_key_value" not in text_of(b)
