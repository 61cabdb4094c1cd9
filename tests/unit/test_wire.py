"""redis_ha_exporter.wire: the TLS contexts polls are made with."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from redis_ha_exporter.config import TlsOptions
from redis_ha_exporter.wire import context_of, forget_contexts
from tests.pki import Pki


def test_a_context_is_made_once_per_set_of_files_whatever_the_server_name(tmp_path: Path) -> None:
    options = TlsOptions(ca_file=str(Pki(tmp_path / "pki").ca))
    first = context_of(options)
    assert context_of(replace(options, server_name="a.internal")) is first
    assert context_of(replace(options, server_name="b.internal")) is first


def test_after_a_reload_the_files_are_read_again(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    options = TlsOptions(ca_file=str(pki.ca))
    before = context_of(options)
    forget_contexts()
    after = context_of(options)
    assert after is not before
    assert after.get_ca_certs() == before.get_ca_certs()
