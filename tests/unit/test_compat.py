"""redis_exporter's spellings: Go-style flags, its flags and variables without a setting of
ours, unknown names with the closest known one, and its JSON password file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redis_ha_exporter import cli
from redis_ha_exporter.address import parse_address
from redis_ha_exporter.compat import (
    BY_FLAG,
    DEBUG,
    FOREIGN,
    MAPPED,
    Foreign,
    foreign_problems,
    go_style,
    unknown_variables,
)
from redis_ha_exporter.config import OPTIONS, load_settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main([*argv, "check-config"])
    out, err = capsys.readouterr()
    return code, out, err


def test_go_style_single_dash_flags_become_double_dash_ones() -> None:
    assert go_style(["-redis.addr=redis://h:1", "-h", "--poll-interval", "-5", "x"]) == [
        "--redis.addr=redis://h:1",
        "-h",
        "--poll-interval",
        "-5",
        "x",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["-redis.addr", "redis://r:6379", "-redis.user", "u", "-web.listen-address=:9999"],
        ["--redis.addr=redis://r:6379", "--redis.user=u", "--web.listen-address", ":9999"],
    ],
)
def test_redis_exporters_flags_set_our_settings(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_ADDR", raising=False)
    code, out, err = run(capsys, *argv, "-log-format=txt", "-debug")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["redis_addr"] == ["redis://r:6379"] and shown["redis_user"] == "u"
    assert shown["listen_address"] == ":9999"
    assert (shown["log_format"], shown["log_level"]) == ("text", "debug")
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: --redis.addr is --redis-addr (setting redis_addr)",
        "note: --redis.user is --redis-user (setting redis_user)",
        "note: --web.listen-address is --listen-address (setting listen_address)",
    ]


def test_an_empty_redis_addr_means_no_target_and_says_what_scrape_needs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--redis.addr=")
    assert code == 0 and json.loads(out)["redis_addr"] == []
    assert "--scrape-allow" in err
    assert load_settings({"redis_addr": [""]}).data_targets() == []


def test_no_abbreviations_and_a_typo_gets_the_closest_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "--poll-int", "3")
    assert code == 2
    assert err.strip() == "config error: unknown flag --poll-int; did you mean --poll-interval?"
    code, _, err = run(capsys, "-redis.adr=x")
    assert code == 2 and "did you mean --redis.addr?" in err


@pytest.mark.parametrize("foreign", FOREIGN, ids=lambda f: f.flag)
def test_every_foreign_flag_is_taken_and_said_once(
    foreign: Foreign, capsys: pytest.CaptureFixture[str]
) -> None:
    value = "true" if foreign.boolean else "something-else"
    code, _, err = run(capsys, f"{foreign.flag}={value}")
    lines = [line for line in err.splitlines() if foreign.flag in line]
    assert len(lines) == 1, err
    fatal = foreign.refuse is not None and foreign.refuse(value)
    assert code == (2 if fatal else 0)
    assert lines[0].startswith("config error: " if fatal else "warning: ")


def test_values_that_mean_what_we_do_anyway_say_nothing() -> None:
    flags = {"--namespace": "redis", "--web.telemetry-path": "/metrics", "--is-cluster": "false"}
    assert foreign_problems(flags, {}) == ([], [])
    errors, warnings = foreign_problems({}, {"REDIS_EXPORTER_INCL_SYSTEM_METRICS": "true"})
    assert errors == [] and len(warnings) == 1 and "always exported" in warnings[0]


def test_unknown_variables_get_the_closest_known_name() -> None:
    env = {
        "REDIS_EXPORTER_POLL_INTEVAL": "5",
        "REDIS_EXPORTER_SCRIPT": "x.lua",
        "REDIS_HA_SOMETHING": "1",
        "HOME": "/root",
    }
    lines = unknown_variables({"REDIS_EXPORTER_POLL_INTERVAL"}, env)
    assert lines == [
        "environment variable REDIS_EXPORTER_POLL_INTEVAL is not a setting and is ignored; "
        "did you mean REDIS_EXPORTER_POLL_INTERVAL?",
        "environment variable REDIS_HA_SOMETHING is not a setting and is ignored",
    ]


# redis_exporter's contrib/sample-pwd-file.json (a server without a password listed with ""),
# and the `redis://user@host:port` key its README describes for an ACL user.
SAMPLE = {
    "redis://localhost:16379": "",
    "redis://localhost:16380": "redis-password",
    "redis://exporter@localhost:16390": "exporter-password",
}


def test_the_password_map_is_matched_by_server_and_sets_the_user(tmp_path: Path) -> None:
    path = tmp_path / "pwd.json"
    path.write_text(json.dumps(SAMPLE))
    settings = load_settings({"redis_password_map": str(path)})
    found = settings.mapped_credentials
    plain = found(parse_address("rediss://localhost:16380/2"))
    assert plain is not None and plain.password is not None
    assert (plain.username, plain.password.get_secret_value()) == (None, "redis-password")
    user = found(parse_address("localhost:16390"))
    assert user is not None and user.username == "exporter"
    assert found(parse_address("localhost:16379")) is None  # "" is no password
    assert found(parse_address("127.0.0.1:16380")) is None  # names are not resolved
    assert {"redis-password", "exporter-password"} <= set(settings.secrets())
    # As in redis_exporter, a password given directly wins over the file.
    both = load_settings({"redis_password_map": str(path), "redis_password": "direct"})
    assert both.mapped_credentials(parse_address("localhost:16380")) is None


def test_a_plain_password_file_given_as_the_map_is_refused_with_the_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pw"
    path.write_text("s3cret-Value\n")
    code, _, err = run(capsys, "--redis.password-file", str(path))
    assert code == 2
    assert "--redis-password-file (REDIS_EXPORTER_REDIS_PASSWORD_FILE)" in err
    assert "s3cret" not in err


# What `prometheus-redis-exporter --help` prints in Debian's 1.45, and the flags redis_exporter's
# releases added since (the compatibility contract), each with the variable it reads.
REDIS_EXPORTER_145 = [
    "append-instance-role-label",
    "check-key-groups",
    "check-keys",
    "check-keys-batch-size",
    "check-single-keys",
    "check-single-streams",
    "check-streams",
    "config-command",
    "connection-timeout",
    "count-keys",
    "debug",
    "export-client-list",
    "export-client-port",
    "include-config-metrics",
    "include-system-metrics",
    "is-cluster",
    "is-tile38",
    "log-format",
    "max-distinct-key-groups",
    "namespace",
    "ping-on-connect",
    "redis-only-metrics",
    "redis.addr",
    "redis.password",
    "redis.password-file",
    "redis.user",
    "script",
    "set-client-name",
    "skip-tls-verification",
    "tls-ca-cert-file",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-server-ca-cert-file",
    "tls-server-cert-file",
    "tls-server-key-file",
    "tls-server-min-version",
    "web.listen-address",
    "web.telemetry-path",
]
SINCE_145 = [
    "basic-auth-hash-password",
    "basic-auth-password",
    "basic-auth-username",
    "check-search-indexes",
    "cluster-discover-hostnames",
    "disable-exporting-key-values",
    "disable-scrape-endpoint",
    "exclude-latency-histogram-metrics",
    "include-go-runtime-metrics",
    "include-metrics-for-empty-databases",
    "include-modules-metrics",
    "include-rdb-file-size-metric",
    "include-search-indexes-metrics",
    "include-sentinel-peer-info",
    "log-level",
    "lua-script-read-only",
    "redact-config-metrics",
    "skip-checkkeys-for-role-master",
    "streams-exclude-consumer-metrics",
    "tls-server-name",
]
UNPREFIXED = {"redis.addr", "redis.user", "redis.password", "redis.password-file"}


def _their_env(flag: str) -> str:
    name = flag.upper().replace(".", "_").replace("-", "_")
    if flag in UNPREFIXED:
        return name
    return "REDIS_EXPORTER_" + name.replace("INCLUDE_", "INCL_", 1).replace(
        "INCL_GO_RUNTIME", "INCLUDE_GO_RUNTIME"
    )


@pytest.mark.parametrize("flag", REDIS_EXPORTER_145 + SINCE_145)
def test_every_redis_exporter_flag_and_variable_is_read_here(flag: str) -> None:
    """Each is a setting of ours (its flag an alias, its variable read by that setting) or a
    foreign one explained at start: none falls through to 'unknown'."""
    option = "--" + flag
    env = _their_env(flag)
    taken = cli.parser()._option_string_actions
    assert option in taken, f"{option} is refused"
    mapped = dict(MAPPED)
    if option in mapped:
        assert mapped[option] == env
        assert env in OPTIONS[taken[option].dest].env
    elif option == DEBUG[0]:
        assert DEBUG[1] == env
    else:
        assert BY_FLAG[option].env == env
    assert (
        unknown_variables({e for o in OPTIONS.values() for e in o.env} | {DEBUG[1]}, {env: "1"})
        == []
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--debug", "true", "run"], ["--debug=true", "run"]),
        (["-debug", "False"], ["--debug=False"]),
        (["--debug", "run"], ["--debug=true", "run"]),
        (["--debug", "--poll-interval", "5"], ["--debug=true", "--poll-interval", "5"]),
        (["--debug"], ["--debug=true"]),
    ],
)
def test_a_boolean_flag_takes_the_next_argument_only_when_it_is_a_boolean_word(
    argv: list[str], expected: list[str]
) -> None:
    assert go_style(argv, {"--debug"}) == expected
