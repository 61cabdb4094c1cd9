"""`--web-config-file` in exporter-toolkit's format, against a real HTTPS client: promtool accepts
the file; without credentials, with a wrong password or an unknown user the answer is 401, with
the right ones 200; `/health` stays open; a client certificate is demanded where the file says
so."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest

from tests.conftest import ExporterProcess, wait_until
from tests.pki import Pki, dns, ips

PROMTOOL = shutil.which("promtool")
USER, PASSWORD = "prometheus", "scrape-Pw-3141"


def _write(tmp_path: Path, client_auth: str | None) -> tuple[Path, Pki]:
    pki = Pki(tmp_path / "pki")
    cert, key = pki.issue("exporter-server", dns("localhost") + ips("127.0.0.1"))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    lines = [
        "tls_server_config:",
        f"  cert_file: {cert}",
        f"  key_file: {key}",
        "  min_version: TLS12",
    ]
    if client_auth is not None:
        lines += [f"  client_ca_file: {pki.ca}", f"  client_auth_type: {client_auth}"]
    lines += ["basic_auth_users:", f"  {USER}: {hashed}"]
    path = tmp_path / "web.yml"
    path.write_text("\n".join(lines) + "\n")
    return path, pki


def _get(
    exporter: ExporterProcess,
    path: str,
    pki: Pki,
    user: str | None = None,
    password: str = "",
    cert: tuple[Path, Path] | None = None,
) -> int:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        context.load_cert_chain(*map(str, cert))
    headers = {}
    if user is not None:
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        )
    url = f"https://127.0.0.1:{exporter.port}{path}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def _start(
    run_exporter: Callable[..., ExporterProcess], config: Path, flag: str
) -> ExporterProcess:
    return run_exporter(
        "--redis-addr",
        "127.0.0.1:1",
        "--poll-interval",
        "1",
        "--poll-timeout",
        "0.5",
        flag,
        str(config),
    )


def _serving(exporter: ExporterProcess) -> bool:
    """The listener accepts (it is bound before the server starts to listen)."""
    if exporter.proc.poll() is not None:
        raise AssertionError(exporter.logs())
    try:
        socket.create_connection(("127.0.0.1", exporter.port), timeout=1).close()
    except OSError:
        return False
    return "listening on https://" in exporter.logs()


@pytest.fixture
def tls_exporter(
    monkeypatch: pytest.MonkeyPatch, run_exporter: Callable[..., ExporterProcess]
) -> Callable[[Path, str], ExporterProcess]:
    def start(config: Path, flag: str) -> ExporterProcess:
        # The harness waits on plain-HTTP /health, which a TLS port does not answer: it waits
        # for the process alone, and this for the log line.
        monkeypatch.setattr(ExporterProcess, "_healthy", lambda self: self.proc.poll() is None)
        exporter = _start(run_exporter, config, flag)
        wait_until(lambda: _serving(exporter), 20, what="the HTTPS listener")
        return exporter

    return start


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
@pytest.mark.parametrize("client_auth", [None, "RequireAndVerifyClientCert"])
def test_promtool_accepts_the_web_config(tmp_path: Path, client_auth: str | None) -> None:
    assert PROMTOOL is not None
    config, _ = _write(tmp_path, client_auth)
    done = subprocess.run(
        [PROMTOOL, "check", "web-config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_basic_auth_over_tls_lets_only_the_configured_user_in(
    tmp_path: Path, tls_exporter: Callable[[Path, str], ExporterProcess]
) -> None:
    config, pki = _write(tmp_path, None)
    exporter = tls_exporter(config, "--web.config.file")
    assert _get(exporter, "/health", pki) == 200
    for path in ("/metrics", "/", "/api/topology", "/ready", "/scrape?target=127.0.0.1:1"):
        assert _get(exporter, path, pki) == 401, path
        assert _get(exporter, path, pki, USER, "wrong") == 401, path
        assert _get(exporter, path, pki, "someone", PASSWORD) == 401, path
    assert _get(exporter, "/metrics", pki, USER, PASSWORD) == 200
    for _ in range(5):  # checked once, then from the cache
        assert _get(exporter, "/metrics", pki, USER, PASSWORD) == 200
    assert PASSWORD not in exporter.logs()


def test_a_client_certificate_is_required_where_the_file_says_so(
    tmp_path: Path, tls_exporter: Callable[[Path, str], ExporterProcess]
) -> None:
    config, pki = _write(tmp_path, "RequireAndVerifyClientCert")
    exporter = tls_exporter(config, "--web-config-file")
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        _get(exporter, "/health", pki)
    client = (pki.client_cert, pki.client_key)
    assert _get(exporter, "/health", pki, cert=client) == 200
    assert _get(exporter, "/metrics", pki, USER, PASSWORD, cert=client) == 200
