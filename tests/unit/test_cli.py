"""redis_ha_exporter.cli: flags made from the settings' declaration, warnings about secrets in
flags, and a taken listen port reported at once."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
from typing import Any

import pytest
import uvicorn

from redis_ha_exporter import cli
from redis_ha_exporter.cli import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    _Redactor,
    _Server,
    bind,
    main,
    parser,
    serve,
)
from redis_ha_exporter.config import OPTIONS, Settings, load_settings
from tests.conftest import ROOT

SECRET = "Pa55-w0rd-XYZ"


def flags(*argv: str) -> dict[str, Any]:
    args = vars(parser().parse_args(argv))
    args.pop("command")
    return args


def test_help_lists_every_declared_flag_with_its_environment_variables() -> None:
    text = " ".join(parser().format_help().split())
    for declared in OPTIONS.values():
        if declared.flag is None:
            continue
        assert declared.flag in text
        assert f"[env {', '.join(declared.env)}]" in text
        assert " ".join(declared.help.replace("`", "").split()) in text


def test_only_given_flags_reach_the_settings_so_the_environment_can_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert flags() == {}
    monkeypatch.setenv("REDIS_EXPORTER_POLL_INTERVAL", "20")
    assert load_settings(flags("--poll-timeout", "1")).poll_interval == 20.0
    assert load_settings(flags("--poll-interval", "15")).poll_interval == 15.0


def test_repeatable_flags_collect_every_value() -> None:
    given = flags("--redis-addr", "a:1", "--redis-addr", "b:2", "--sentinel-master", "m")
    assert given == {"redis_addr": ["a:1", "b:2"], "sentinel_master": ["m"]}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--set-client-name"], True),
        (["--set-client-name=false"], False),
        (["--set-client-name", "false"], False),
        (["--set-client-name=true"], True),
        (["--no-set-client-name"], False),
        ([], True),
    ],
)
def test_set_client_name_flag_forms(argv: list[str], expected: bool) -> None:
    assert load_settings(flags(*argv)).set_client_name is expected


def test_set_client_name_flag_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_EXPORTER_SET_CLIENT_NAME", "false")
    assert load_settings(flags()).set_client_name is False
    assert load_settings(flags("--set-client-name")).set_client_name is True


def test_check_config_prints_every_setting_of_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--slowlog-fetch-max", "2048", "--no-set-client-name"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(Settings.model_fields) <= set(shown)
    assert (shown["slowlog_fetch_max"], shown["set_client_name"]) == (2048, False)


@pytest.mark.parametrize(
    "argv",
    [
        ["--redis-password", SECRET],
        ["--sentinel-password", SECRET],
        ["--redis-addr", f"redis://:{SECRET}@a.example:6379"],
        ["--redis-addr", "b.example", "--redis-addr", f"redis://u:{SECRET}@a.example"],
        ["--sentinel-addr", f"redis://:{SECRET}@s.example"],
    ],
)
def test_a_password_in_a_flag_warns_without_showing_it(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", *argv]) == 0
    out, err = capsys.readouterr()
    (line,) = err.strip().splitlines()
    assert line.startswith(f"warning: the password given with {argv[-2]} is visible to other")
    assert SECRET not in out + err


def test_no_warning_without_a_password_in_flags(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", SECRET)
    monkeypatch.setenv("REDIS_ADDR", f"redis://:{SECRET}@a.example")
    assert main(["check-config", "--redis-addr", "b.example", "--sentinel-addr", "ftp://x"]) == (
        EXIT_CONFIG
    )
    err = capsys.readouterr().err
    assert "warning" not in err and SECRET not in err


def test_bind_names_the_address_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as info:
            bind(f"127.0.0.1:{port}")
    assert str(info.value) == f"cannot listen on 127.0.0.1:{port}: address already in use"


@pytest.mark.parametrize(("host", "bound"), [("127.0.0.1", "127.0.0.1"), ("", "0.0.0.0")])
def test_bind_returns_a_socket_bound_to_the_address(host: str, bound: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with bind(f"{host}:{port}") as sock:
        assert sock.getsockname() == (bound, port)


def test_serve_on_a_taken_port_fails_before_starting_anything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings({"listen_address": f"127.0.0.1:{port}"})
        with caplog.at_level(logging.INFO, logger="redis_ha_exporter"):
            assert serve(settings) == EXIT_FAILURE
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot listen on 127.0.0.1:{port}: address already in use"
    ]


def test_the_server_waits_for_its_exit_signal_without_ticking() -> None:
    # The main loop is one await on an event: nothing wakes it until handle_exit.
    server = _Server(uvicorn.Config(app="redis_ha_exporter.web:create_app"))

    async def run() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        loop.call_later(0.3, server.handle_exit, signal.SIGTERM, None)
        await asyncio.wait_for(server.main_loop(), 5)
        return loop.time() - started

    took = asyncio.run(run())
    assert server.should_exit
    assert 0.25 <= took < 5


def test_a_signal_during_start_up_ends_the_main_loop_at_once() -> None:
    server = _Server(uvicorn.Config(app="redis_ha_exporter.web:create_app"))
    server.handle_exit(signal.SIGTERM, None)
    asyncio.run(asyncio.wait_for(server.main_loop(), 1))


def test_the_log_masks_secrets_in_exceptions_and_tracebacks_only() -> None:
    redactor = _Redactor(["refused", "hunter2"])

    def record(msg: str, *args: object, exc: BaseException | None = None) -> str:
        exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
        rec = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, exc_info)
        assert redactor.filter(rec)
        return rec.getMessage()

    # Our words stay, even when a password is one of them.
    assert record("node %s is down: %s", "a:1", "connection refused") == (
        "node a:1 is down: connection refused"
    )
    # A server's words (an exception) are masked.
    assert record("refused %s (%.200s)", "INFO", ValueError("NOPERM hunter2 refused")) == (
        "refused INFO (NOPERM ******** ********)"
    )
    try:
        raise RuntimeError("bad hunter2")
    except RuntimeError as exc:
        text = record("failed", exc=exc)
    assert "hunter2" not in text and "RuntimeError: bad ********" in text


def _record(msg: str, **extra: str) -> logging.LogRecord:
    record = logging.LogRecord("redis_ha_exporter.poller", logging.WARNING, "", 0, msg, (), None)
    record.__dict__.update(extra)
    record.created = 1764892800.25  # 2025-12-05T00:00:00.250Z
    return record


def test_json_log_lines_have_stable_keys_and_the_node_group_and_event_when_known() -> None:
    formatter = cli.JsonFormatter()
    plain = json.loads(formatter.format(_record("started")))
    assert plain == {
        "ts": "2025-12-05T00:00:00.250Z",
        "level": "warning",
        "msg": "started",
        "logger": "redis_ha_exporter.poller",
    }
    about = json.loads(
        formatter.format(
            _record("x", event="failover", instance="10.0.0.2:6379", master_name="m\nn")
        )
    )
    assert (about["event"], about["instance"], about["master_name"]) == (
        "failover",
        "10.0.0.2:6379",
        "m\nn",
    )
    assert set(about) == {"ts", "level", "msg", "logger", *cli.LOG_FIELDS}


def test_the_readme_lists_every_log_event_the_package_emits() -> None:
    emitted = {
        match
        for path in (ROOT / "redis_ha_exporter").rglob("*.py")
        for match in re.findall(r'"event": "(\w+)"', path.read_text())
    }
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `event` |"))
    assert emitted and emitted == set(re.findall(r"`(\w+)`", row.split("|")[3]))
