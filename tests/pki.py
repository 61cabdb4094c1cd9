"""Throwaway certificates for the TLS tests: a private CA, certificates it signs for given names,
and a second CA that signed none of them."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def dns(*names: str) -> list[x509.GeneralName]:
    return [x509.DNSName(n) for n in names]


def ips(*addresses: str) -> list[x509.GeneralName]:
    return [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]


def _issue(
    directory: Path, name: str, ca: tuple[x509.Certificate, Any], sans: list[x509.GeneralName]
) -> tuple[Path, Path]:
    """A certificate for `sans` signed by `ca`, and its key."""
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca[1], hashes.SHA256())
    )
    paths = directory / f"{name}.pem", directory / f"{name}.key"
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _ca(directory: Path, name: str) -> tuple[Path, tuple[x509.Certificate, Any]]:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, (cert, key)


class Pki:
    """A private CA, a server certificate naming only `redis.internal` (no IP address, as
    with certificates that name hosts while Sentinels announce IPs), a client certificate,
    and a second CA that signed none of them."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.ca, ca = _ca(directory, "private-ca")
        self.other_ca, _ = _ca(directory, "other-ca")
        self.cert, self.key = _issue(directory, "server", ca, [x509.DNSName("redis.internal")])
        self.client_cert, self.client_key = _issue(
            directory, "client", ca, [x509.DNSName("exporter")]
        )
        self._directory, self._ca = directory, ca

    def issue(self, name: str, sans: list[x509.GeneralName]) -> tuple[Path, Path]:
        """Another certificate the private CA signs, and its key."""
        return _issue(self._directory, name, self._ca, sans)
