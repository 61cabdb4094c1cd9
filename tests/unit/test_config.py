"""redis_ha_exporter.config: precedence flag > env > YAML > default, and errors that name their
source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from redis_ha_exporter.config import (
    OPTIONS,
    ConfigError,
    Credentials,
    Settings,
    load_settings,
    value_of,
)
from redis_ha_exporter.sources.slowlog import FETCH_MAX

SECRET = "Pa55-w0rd-XYZ"


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exporter.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(flags: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(flags)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def test_defaults_poll_localhost_every_ten_seconds() -> None:
    settings = load_settings({})
    assert (settings.poll_interval, settings.poll_timeout) == (10.0, 5.0)
    assert [t.address.redacted() for t in settings.data_targets()] == ["redis://localhost:6379"]
    assert settings.sentinel_targets() == []


@pytest.mark.parametrize(
    ("flag", "env", "yaml", "expected"),
    [
        (15.0, "20", 30, 15.0),
        (None, "20", 30, 20.0),
        (None, None, 30, 30.0),
        (None, None, None, 10.0),
        (15.0, None, 30, 15.0),
    ],
)
def test_flag_beats_env_beats_yaml_beats_default(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flag: float | None,
    env: str | None,
    yaml: int | None,
    expected: float,
) -> None:
    flags: dict[str, Any] = {"poll_timeout": 1.0}
    if flag is not None:
        flags["poll_interval"] = flag
    if env is not None:
        monkeypatch.setenv("REDIS_EXPORTER_POLL_INTERVAL", env)
    if yaml is not None:
        flags["config_file"] = write_yaml(tmp_path, f"poll-interval: {yaml}\n")
    assert load_settings(flags).poll_interval == expected


def test_config_file_can_be_named_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_yaml(tmp_path, "redis_addr: [yaml-host:7000]\nlog-level: DEBUG\n")
    monkeypatch.setenv("REDIS_EXPORTER_CONFIG_FILE", str(path))
    settings = load_settings({})
    assert settings.redis_addr == ["yaml-host:7000"]
    assert settings.log_level == "debug"


def test_redis_addr_env_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_ADDR", " a.example:6379, redis://b.example:6380,,c.example ")
    settings = load_settings({})
    assert settings.redis_addr == ["a.example:6379", "redis://b.example:6380", "c.example"]
    assert [t.address.instance for t in settings.data_targets()] == [
        "a.example:6379",
        "b.example:6380",
        "c.example:6379",
    ]


def test_redis_url_is_accepted_when_redis_addr_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://url.example:6390")
    assert load_settings({}).redis_addr == ["redis://url.example:6390"]
    monkeypatch.setenv("REDIS_ADDR", "addr.example:6391")
    assert load_settings({}).redis_addr == ["addr.example:6391"]


def test_same_instance_given_twice_is_polled_once() -> None:
    settings = load_settings({"redis_addr": ["a.example:6379", "redis://a.example"]})
    assert [t.address.instance for t in settings.data_targets()] == ["a.example:6379"]


def test_unknown_scheme_names_flag_and_env_var() -> None:
    (line,) = problems({"redis_addr": [f"http://u:{SECRET}@a.example:6379"]})
    assert line.startswith("--redis-addr (REDIS_ADDR, REDIS_URL): unknown scheme 'http'")
    assert SECRET not in line


def test_bad_port_names_flag_and_env_var_without_the_password() -> None:
    (line,) = problems({"sentinel_addr": [f"redis://:{SECRET}@s.example:99999"]})
    assert line.startswith("--sentinel-addr (REDIS_SENTINEL_ADDR): bad port")
    assert SECRET not in line


def test_bad_port_from_environment_is_reported_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_ADDR", "good.example:6379,bad.example:70000")
    (line,) = problems({})
    assert line.startswith("--redis-addr (REDIS_ADDR, REDIS_URL): bad port in 'bad.example:70000'")


@pytest.mark.parametrize(("timeout", "interval"), [(5.0, 5.0), (9.0, 3.0)])
def test_poll_timeout_must_be_below_interval(timeout: float, interval: float) -> None:
    (line,) = problems({"poll_timeout": timeout, "poll_interval": interval})
    assert line == (
        f"--poll-timeout (REDIS_EXPORTER_POLL_TIMEOUT): {timeout:g}s must be less than "
        f"--poll-interval (REDIS_EXPORTER_POLL_INTERVAL) ({interval:g}s)"
    )


def test_unreadable_password_file_names_flag_env_var_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "password"
    (line,) = problems({"redis_password_file": missing})
    assert line.startswith(
        "--redis-password-file (REDIS_EXPORTER_REDIS_PASSWORD_FILE): cannot read password"
    )
    assert str(missing) in line


def test_two_problems_give_two_lines(tmp_path: Path) -> None:
    lines = problems(
        {"redis_addr": ["ftp://a.example"], "sentinel_password_file": tmp_path / "missing"}
    )
    assert len(lines) == 2
    assert lines[0].startswith("--redis-addr (REDIS_ADDR, REDIS_URL): unknown scheme 'ftp'")
    assert lines[1].startswith("--sentinel-password-file (REDIS_SENTINEL_PASSWORD_FILE): ")


def test_field_problem_and_cross_check_problem_are_both_reported() -> None:
    lines = problems({"redis_addr": ["a.example:0"], "poll_timeout": 20.0, "poll_interval": 10.0})
    assert [line.split(" ", 1)[0] for line in lines] == ["--redis-addr", "--poll-timeout"]


def test_two_bad_addresses_in_one_flag_give_two_lines() -> None:
    lines = problems({"redis_addr": ["ftp://a.example", "b.example:0"]})
    assert len(lines) == 2


def test_invalid_number_in_environment_names_flag_and_env_var(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_EXPORTER_POLL_INTERVAL", "ten")
    (line,) = problems({})
    assert line.startswith("--poll-interval (REDIS_EXPORTER_POLL_INTERVAL): ")


def test_unknown_yaml_key_is_reported_by_name(tmp_path: Path) -> None:
    (line,) = problems({"config_file": write_yaml(tmp_path, "pol-interval: 3\n")})
    assert line == "config file key 'pol_interval': unknown setting"


def test_unreadable_config_file_names_flag_and_env_var(tmp_path: Path) -> None:
    (line,) = problems({"config_file": tmp_path / "absent.yaml"})
    assert line.startswith("--config-file (REDIS_EXPORTER_CONFIG_FILE): cannot read")


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    (line,) = problems({"config_file": write_yaml(tmp_path, "a: 1\nb: [unclosed\n")})
    assert "is not valid YAML at line" in line


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\n\n"])
def test_password_file_trailing_newline_is_stripped(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "pw"
    path.write_text(f" {SECRET} {ending}", encoding="utf-8", newline="")
    settings = load_settings({"redis_password_file": path, "sentinel_password_file": path})
    for creds in (settings.data_credentials(), settings.sentinel_credentials()):
        assert creds.password is not None
        # Only the line ending goes: spaces may be part of a password.
        assert creds.password.get_secret_value() == f" {SECRET} "


def test_password_and_password_file_together_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(SECRET, encoding="utf-8")
    (line,) = problems({"redis_password": "other", "redis_password_file": path})
    assert "--redis-password (REDIS_PASSWORD)" in line
    assert "--redis-password-file (REDIS_EXPORTER_REDIS_PASSWORD_FILE)" in line
    assert SECRET not in line


def test_yaml_targets_carry_their_own_credentials(tmp_path: Path) -> None:
    pw_file = tmp_path / "b.pw"
    pw_file.write_text("from-file\n", encoding="utf-8")
    config = write_yaml(
        tmp_path,
        f"""
redis-password: default-pw
targets:
  - addr: a.example:6379
    user: alice
    password: alice-pw
  - addr: redis://b.example:6380
    password_file: {pw_file}
  - addr: c.example:6381
  - addr: redis://dave:url-pw@d.example:6382
""",
    )
    targets = {
        t.address.instance: t.credentials
        for t in load_settings({"config_file": config}).data_targets()
    }

    def pw(instance: str) -> str | None:
        secret = targets[instance].password
        return secret.get_secret_value() if secret else None

    assert list(targets) == ["a.example:6379", "b.example:6380", "c.example:6381", "d.example:6382"]
    assert (targets["a.example:6379"].username, pw("a.example:6379")) == ("alice", "alice-pw")
    assert pw("b.example:6380") == "from-file"
    assert (targets["c.example:6381"].username, pw("c.example:6381")) == (None, "default-pw")
    assert (targets["d.example:6382"].username, pw("d.example:6382")) == ("dave", "url-pw")


def test_yaml_scrape_patterns_carry_their_own_credentials_and_plain_ones_none(
    tmp_path: Path,
) -> None:
    pw_file = tmp_path / "scrape.pw"
    pw_file.write_text("pattern-pw\n", encoding="utf-8")
    config = write_yaml(
        tmp_path,
        f"""
redis-password: default-pw
scrape_allow:
  - "10.0.0.0/8:6379"
  - pattern: "redis-*.svc:*"
    user: monitor
    password_file: {pw_file}
""",
    )
    settings = load_settings({"config_file": config})
    plain, own = settings.scrape_rules()
    assert (str(plain.pattern), plain.credentials) == ("10.0.0.0/8:6379", Credentials())
    assert str(own.pattern) == "redis-*.svc:*" and own.credentials.username == "monitor"
    assert own.credentials.password is not None
    assert own.credentials.password.get_secret_value() == "pattern-pw"
    assert "pattern-pw" in settings.secrets()
    assert "pattern-pw" not in json.dumps(settings.masked())
    # From a flag or the environment a pattern is plain.
    (rule,) = load_settings({"scrape_allow": ["127.0.0.1:*"]}).scrape_rules()
    assert rule.credentials == Credentials()


def test_a_bad_yaml_scrape_pattern_is_reported_by_its_place(tmp_path: Path) -> None:
    config = write_yaml(
        tmp_path,
        f"scrape_allow:\n  - pattern: '10.0.0.0/99'\n    password: {SECRET}\n  - '[::1'\n",
    )
    lines = problems({"config_file": config})
    assert len(lines) == 2, lines
    assert lines[0].startswith("--scrape-allow (REDIS_EXPORTER_SCRAPE_ALLOW) [0.pattern]: ")
    assert "10.0.0.0/99" in lines[0]
    assert lines[1].startswith("--scrape-allow (REDIS_EXPORTER_SCRAPE_ALLOW) [1.pattern]: ")
    assert not any(SECRET in line for line in lines)


def test_yaml_target_with_unreadable_password_file_is_reported(tmp_path: Path) -> None:
    config = write_yaml(
        tmp_path, f"targets:\n  - addr: a.example\n    password_file: {tmp_path / 'gone'}\n"
    )
    (line,) = problems({"config_file": config})
    assert line.startswith("config file targets[0.password_file]: cannot read password file")


def test_yaml_target_with_two_passwords_is_rejected(tmp_path: Path) -> None:
    pw_file = tmp_path / "pw"
    pw_file.write_text("other", encoding="utf-8")
    config = write_yaml(
        tmp_path,
        f"targets:\n  - addr: a.example\n    password: {SECRET}\n    password_file: {pw_file}\n",
    )
    (line,) = problems({"config_file": config})
    assert "password or password_file" in line
    assert SECRET not in line


def test_masked_holds_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = [f"{SECRET}-{i}" for i in range(5)]
    pw_file = tmp_path / "pw"
    pw_file.write_text(secrets[4], encoding="utf-8")
    config = write_yaml(
        tmp_path,
        f"targets:\n  - addr: redis://t:{secrets[2]}@t.example\n    password: {secrets[3]}\n",
    )
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", secrets[1])
    settings = load_settings(
        {
            "config_file": config,
            "redis_addr": [f"redis://app:{secrets[0]}@a.example:6379"],
            "sentinel_addr": [f"redis://:{secrets[0]}@s.example:26379"],
            "redis_password_file": pw_file,
        }
    )
    text = json.dumps(settings.masked())
    for secret in secrets:
        assert secret not in text
    masked = settings.masked()
    assert masked["sentinel_password"] == "********"
    assert masked["redis_addr"] == ["redis://app:********@a.example:6379"]
    assert masked["targets"][0]["password"] == "********"
    assert "redis://t:********@t.example:6379" in masked["resolved_data_targets"]


def test_settings_reject_unknown_flag_names() -> None:
    (line,) = problems({"poll_intervall": 3})
    assert line == "config file key 'poll_intervall': unknown setting"
    assert isinstance(load_settings({}), Settings)


def test_password_files_are_read_once_at_load(tmp_path: Path) -> None:
    data, sentinel, target = (tmp_path / name for name in ("data", "sentinel", "target"))
    for path in (data, sentinel, target):
        path.write_text(f"{path.name}-{SECRET}\n", encoding="utf-8")
    config = write_yaml(tmp_path, f"targets:\n  - addr: t.example\n    password_file: {target}\n")
    settings = load_settings(
        {
            "config_file": config,
            "redis_addr": ["a.example"],
            "sentinel_addr": ["s.example"],
            "redis_password_file": data,
            "sentinel_password_file": sentinel,
        }
    )

    def seen() -> list[str | None]:
        creds = [settings.data_credentials(), settings.sentinel_credentials()]
        creds += [t.credentials for t in settings.data_targets() + settings.sentinel_targets()]
        return [c.password.get_secret_value() if c.password else None for c in creds]

    before = seen()
    assert before == [
        f"data-{SECRET}",
        f"sentinel-{SECRET}",
        f"data-{SECRET}",
        f"target-{SECRET}",
        f"sentinel-{SECRET}",
    ]
    for path in (data, sentinel, target):
        path.write_text("changed\n", encoding="utf-8")
    assert seen() == before
    for path in (data, sentinel, target):
        path.unlink()
    assert seen() == before
    assert SECRET not in repr(settings)


def test_password_file_path_is_shown_by_check_config_but_not_its_contents(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(SECRET, encoding="utf-8")
    masked = load_settings({"redis_password_file": path}).masked()
    assert masked["redis_password_file"] == str(path)
    assert masked["effective_redis_password"] == "********"
    assert SECRET not in json.dumps(masked)


@pytest.mark.parametrize(
    ("source", "given"),
    [("flag", ["s.example", "t.example:1"]), ("env", "s.example,t.example:1"), ("yaml", None)],
)
def test_sentinel_address_without_a_port_means_26379(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, given: Any
) -> None:
    flags: dict[str, Any] = {}
    if source == "flag":
        flags["sentinel_addr"] = given
    elif source == "env":
        monkeypatch.setenv("REDIS_SENTINEL_ADDR", given)
    else:
        flags["config_file"] = write_yaml(tmp_path, "sentinel_addr: [s.example, t.example:1]\n")
    settings = load_settings(flags)
    expected = ["s.example:26379", "t.example:1"]
    assert [t.address.instance for t in settings.sentinel_targets()] == expected
    assert settings.masked()["sentinel_addr"] == [f"redis://{i}" for i in expected]
    assert settings.masked()["resolved_sentinel_targets"] == [f"redis://{i}" for i in expected]


def test_data_address_without_a_port_still_means_6379() -> None:
    settings = load_settings({"redis_addr": ["d.example"], "sentinel_addr": ["s.example"]})
    assert [t.address.instance for t in settings.data_targets()] == ["d.example:6379"]


def test_new_settings_have_their_defaults() -> None:
    settings = load_settings({})
    assert settings.set_client_name is True
    assert value_of(settings, FETCH_MAX) == 1024


@pytest.mark.parametrize(
    ("text", "expected"), [("false", False), ("0", False), ("no", False), ("true", True)]
)
def test_set_client_name_from_environment(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: bool
) -> None:
    monkeypatch.setenv("REDIS_EXPORTER_SET_CLIENT_NAME", text)
    assert load_settings({}).set_client_name is expected
    assert load_settings({"set_client_name": "true"}).set_client_name is True


def test_set_client_name_rejects_other_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_EXPORTER_SET_CLIENT_NAME", "maybe")
    (line,) = problems({})
    assert line.startswith("--set-client-name (REDIS_EXPORTER_SET_CLIENT_NAME): ")


def test_slowlog_fetch_max_from_env_and_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_yaml(tmp_path, "slowlog-fetch-max: 5000\n")
    assert value_of(load_settings({"config_file": config}), FETCH_MAX) == 5000
    monkeypatch.setenv("REDIS_EXPORTER_SLOWLOG_FETCH_MAX", "6000")
    assert value_of(load_settings({"config_file": config}), FETCH_MAX) == 6000
    assert value_of(load_settings({"slowlog_fetch_max": "7000"}), FETCH_MAX) == 7000


def test_slowlog_fetch_max_below_fetch_names_both_flags() -> None:
    (line,) = problems({"slowlog_fetch": 200, "slowlog_fetch_max": 100})
    assert line == (
        "--slowlog-fetch-max (REDIS_EXPORTER_SLOWLOG_FETCH_MAX): 100 must be at least "
        "--slowlog-fetch (REDIS_EXPORTER_SLOWLOG_FETCH) (200)"
    )
    assert (
        value_of(load_settings({"slowlog_fetch": 200, "slowlog_fetch_max": 200}), FETCH_MAX) == 200
    )


def test_slowlog_fetch_max_has_a_ceiling() -> None:
    (line,) = problems({"slowlog_fetch_max": 100_001})
    assert line.startswith("--slowlog-fetch-max (REDIS_EXPORTER_SLOWLOG_FETCH_MAX): ")
    assert value_of(load_settings({"slowlog_fetch_max": 100_000}), FETCH_MAX) == 100_000


def test_every_setting_is_declared_with_a_flag_env_and_help() -> None:
    assert list(OPTIONS) == list(Settings.model_fields)
    flags = [o.flag for o in OPTIONS.values() if o.flag is not None]
    envs = [env for o in OPTIONS.values() for env in o.env]
    assert len(flags) == len(set(flags)) and len(envs) == len(set(envs))
    for name, declared in OPTIONS.items():
        assert declared.help, name
        if name != "targets":
            assert declared.flag == "--" + name.replace("_", "-"), name
            assert declared.env, name
        if declared.flag is not None:
            # --help and the README show `--flag[=BOOL]` or `--flag VALUE`, never `[=None]`
            boolean = Settings.model_fields[name].annotation is bool
            assert declared.metavar == "BOOL" if boolean else declared.metavar, name


def test_tls_files_that_cannot_be_used_name_their_flag(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    found = problems(
        {
            "tls_ca_cert_file": str(tmp_path / "missing.pem"),
            "sentinel_tls_client_key_file": str(garbage),
            "tls_client_cert_file": str(garbage),
        }
    )
    assert len(found) == 3, found
    assert found[0].startswith("--tls-ca-cert-file (REDIS_EXPORTER_TLS_CA_CERT_FILE): ")
    assert "cannot read" in found[0] and "missing.pem" in found[0]
    assert found[1].startswith("--skip-tls-verification")
    assert "the TLS files cannot be used (--tls-client-cert-file" in found[1]
    assert found[2].startswith("--sentinel-skip-tls-verification")
    assert "--sentinel-tls-client-key-file" in found[2]
    assert "without --sentinel-tls-client-cert-file" in found[2]


def test_tls_options_default_to_the_system_store_and_verification() -> None:
    settings = load_settings({"tls_server_name": "redis.internal"})
    assert settings.data_tls().server_name == "redis.internal"
    assert settings.data_tls().verify and settings.sentinel_tls().verify
    assert settings.sentinel_tls().server_name is None
    assert settings.data_tls().context().verify_mode.name == "CERT_REQUIRED"


def test_discovery_allows_private_networks_and_names_by_default_and_only_the_list_when_given() -> (
    None
):
    default = load_settings({"sentinel_addr": ["sentinel-1:26379"]}).discovery_allows()
    for host in ("redis-master", "redis-0.redis.ns.svc.cluster.local", "10.1.2.3", "[::1]"):
        assert default(host.strip("[]"), 6379), host
    for host in ("203.0.113.5", "evil.example.com", "::ffff:203.0.113.5"):
        assert not default(host, 6379), host
    by_ip = load_settings({"sentinel_addr": ["198.51.100.7:26379"]}).discovery_allows()
    assert by_ip("198.51.100.99", 6379) and not by_ip("198.51.101.1", 6379)
    by_name = load_settings({"sentinel_addr": ["s-0.redis.example.org:26379"]}).discovery_allows()
    assert by_name("r-1.redis.example.org", 6379) and not by_name("r-1.other.org", 6379)
    given = load_settings(
        {"sentinel_addr": ["sentinel-1:26379"], "discovery_allow": ["10.0.0.0/8:6379"]}
    ).discovery_allows()
    assert given("10.9.9.9", 6379) and not given("10.9.9.9", 7000)
    assert not given("redis-master", 6379)
