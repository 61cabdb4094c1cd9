"""`make demo`: a master with a password, two replicas and three Sentinels on loopback, and the
exporter watching them knowing only the Sentinels.

Each demo leaves a marker, keyed by the exporter's listen port, from which `make failover
PORT=...` (tools/failover.py) finds that demo's Sentinels; two demos on two ports do not clash.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from redis_ha_exporter.cli import (
    add_setting_flags,
    bind,
    serve,
    setup_logging,
    warn_about_visible_secrets,
)
from redis_ha_exporter.config import ConfigError, load_settings, split_listen_address
from tests.topology import Flavor, Topology, available_flavors

# A demo answers at once and only on this machine (`--listen-address :9121` opens it to the
# network); a test run wants fast polls rather than Prometheus-like ones.
DEMO_DEFAULTS = {"poll_interval": 2.0, "poll_timeout": 1.0, "listen_address": "127.0.0.1:9121"}


@dataclass(frozen=True, slots=True)
class Marker:
    """What `make failover` needs to know about the demo listening on one port."""

    pid: int
    sentinels: list[int]


def marker_path(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"redis-ha-demo-{port}.json"


def write_marker(port: int, sentinel_ports: list[int]) -> Path:
    path = marker_path(port)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"pid": os.getpid(), "sentinels": sentinel_ports}))
    os.replace(tmp, path)
    return path


def read_marker(port: int) -> Marker | None:
    """The live demo of this user listening on `port`, or None."""
    path = marker_path(port)
    try:
        if path.stat().st_uid != os.getuid():
            return None  # anyone can write to the temporary directory
        data = json.loads(path.read_text())
        marker = Marker(int(data["pid"]), [int(p) for p in data["sentinels"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(marker.pid, 0)
    except ProcessLookupError:
        return None  # a demo killed with SIGKILL leaves its marker behind
    except PermissionError:
        return None
    return marker


def live_demos() -> list[int]:
    """The listen ports of this user's running demos."""
    ports = []
    for path in Path(tempfile.gettempdir()).glob("redis-ha-demo-*.json"):
        port = path.stem.removeprefix("redis-ha-demo-")
        if port.isdigit() and read_marker(int(port)) is not None:
            ports.append(int(port))
    return sorted(ports)


def remove_marker(port: int) -> None:
    """Remove the marker of `port` if it is this process's."""
    marker = read_marker(port)
    if marker is not None and marker.pid == os.getpid():
        marker_path(port).unlink(missing_ok=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='make demo ARGS="..."',
        description="Run the exporter against a local master, 2 replicas and 3 Sentinels.",
        epilog="Any exporter flag is accepted; the demo's defaults: --poll-interval 2 "
        "--poll-timeout 1 --listen-address 127.0.0.1:9121.",
    )
    parser.add_argument(
        "--flavor",
        choices=["auto", "redis", "valkey"],
        default="auto",
        help="server binaries to use (default: redis if installed, else valkey)",
    )
    add_setting_flags(parser)
    return parser


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args: dict[str, Any] = vars(_parser().parse_args(argv))
    flavor = args.pop("flavor")
    warn_about_visible_secrets(args)
    try:  # the user's flags, checked before any server starts
        listen = load_settings({**DEMO_DEFAULTS, **args}).listen_address
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 2
    port = split_listen_address(listen)[1]
    try:
        bind(listen).close()
    except OSError as exc:
        print(
            f"demo: {exc}; choose another port, e.g. "
            'make demo ARGS="--listen-address 127.0.0.1:9200"',
            file=sys.stderr,
        )
        return 1
    flavors = available_flavors()
    chosen: Flavor | None = flavors[0] if flavor == "auto" and flavors else flavor
    if chosen not in flavors or chosen is None:
        wanted = "redis-server or valkey-server" if flavor == "auto" else f"{flavor} server"
        print(f"demo: no {wanted} binary found; `make demo` installs one", file=sys.stderr)
        return 1
    # SIGTERM (from `timeout`, a supervisor, or make) must still stop every server we start.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    password = "demo-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="redis-ha-demo-") as tmp:
        print(f"demo: starting a master, 2 replicas and 3 Sentinels ({chosen}) in {tmp} ...")
        print("demo: this takes a few seconds", flush=True)
        with Topology(chosen, Path(tmp), password=password) as topo:
            sentinels = [s.address for s in topo.sentinels]
            values = {
                **DEMO_DEFAULTS,
                **args,
                "sentinel_addr": sentinels,
                "redis_password": SecretStr(password),
            }
            settings = load_settings(values)
            setup_logging(settings.log_level, settings.log_format, settings.secrets())
            failover = "make failover" + ("" if port == 9121 else f" PORT={port}")
            print(f"demo: Sentinels at {', '.join(sentinels)}; the exporter only knows these.")
            url = _url(settings.listen_address)
            print(f"demo: open {url} and {url}metrics")
            print(f"demo: trigger a failover from another terminal with: {failover}")
            hint = cli_hint(Path(tmp), password, topo.groups["mymaster"].master.port)
            if hint is not None:
                print(f"demo: make the metrics move with the master's CLI: {hint} INFO stats")
            print("demo: Ctrl-C stops the exporter and every server.", flush=True)
            write_marker(port, [s.port for s in topo.sentinels])
            try:
                return serve(settings, lambda: load_settings(values))
            finally:
                with contextlib.suppress(OSError):
                    remove_marker(port)


def cli_hint(tmp: Path, password: str, port: int) -> str | None:
    """A command that opens the master's CLI, reading the password from a file of the demo's
    own (never printed); None when there is no redis-cli or valkey-cli."""
    found = shutil.which("redis-cli") or shutil.which("valkey-cli")
    if found is None:
        return None
    secret = tmp / "password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    name = Path(found).name
    return f'REDISCLI_AUTH="$(cat {secret})" {name} -h 127.0.0.1 -p {port}'


def _url(listen_address: str) -> str:
    host, port = split_listen_address(listen_address)
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # Ctrl-C while the servers start
        raise SystemExit(130) from None
