"""redis_ha_exporter.webconfig: exporter-toolkit's web config read and checked, and basic auth
against bcrypt hashes."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import bcrypt
import pytest

from redis_ha_exporter.config import ConfigError, load_settings
from redis_ha_exporter.webconfig import BasicAuth, WebConfigError, load_web_config

HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config: {cert_file: nope.pem, key_file: nope.key}\n", "no file"),
        ("basic_auth_users: {prometheus: hunter2}\n", "basic_auth_users.prometheus: not a bcrypt"),
        ("other: 1\n", "unknown key(s) other"),
        ("tls_server_config: {client_auth_type: RequireAnyClientCert}\n", "needs both"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_a_bad_web_config_says_why_without_its_secrets(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(WebConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        load_web_config(_file(tmp_path, text))
    assert "hunter2" not in str(e.value)


def test_a_bad_web_config_is_a_config_error_naming_the_flag(tmp_path: Path) -> None:
    path = _file(tmp_path, "basic_auth_users: {u: x}\n")
    with pytest.raises(ConfigError) as info:
        load_settings({"web_config_file": str(path)})
    (line,) = info.value.problems
    assert line.startswith("--web-config-file (REDIS_EXPORTER_WEB_CONFIG_FILE): ")


def test_basic_auth_allows_the_user_with_the_password_only() -> None:
    auth = BasicAuth({"prometheus": HASH.encode()})

    def header(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    async def check() -> list[bool]:
        return [
            await auth.allows(header("prometheus", "pw")),
            await auth.allows(header("prometheus", "pw")),  # from the cache
            await auth.allows(header("prometheus", "nope")),
            await auth.allows(header("stranger", "pw")),
            await auth.allows("Bearer x"),
            await auth.allows("Basic !!!"),
        ]

    assert asyncio.run(check()) == [True, True, False, False, False, False]


def test_a_web_config_that_is_not_yaml_names_the_line_and_shows_none_of_it(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, 'basic_auth_users:\n  u: "$2b$10$abcdefghij\n')
    with pytest.raises(ConfigError) as info:
        load_settings({"web_config_file": str(path)})
    (line,) = info.value.problems
    assert line.endswith("is not valid YAML at line 3") and "$2b$" not in line
