"""Command line: `run` (default), `check-config` and `demo`; builds Settings and starts uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr

from exporter import __version__
from exporter.config import SOURCES, ConfigError, Settings, load_settings, split_listen_address

log = logging.getLogger("exporter")
EXIT_CONFIG = 2

_HELP = {
    "config_file": "YAML file with settings (and per-target credentials under `targets:`)",
    "redis_addr": "data node to poll: redis://, rediss://, unix:// or host:port (repeatable)",
    "redis_user": "ACL username for data nodes",
    "redis_password": "password for data nodes (visible in the process list: prefer the env var)",
    "redis_password_file": "file holding the password for data nodes",
    "sentinel_addr": "Sentinel to discover the topology from (repeatable)",
    "sentinel_master": "only follow this Sentinel group (repeatable; default: all)",
    "sentinel_user": "ACL username for Sentinels",
    "sentinel_password": "password for Sentinels (visible in the process list: prefer the env var)",
    "sentinel_password_file": "file holding the password for Sentinels",
    "listen_address": "HTTP listen address [host]:port (default :9121)",
    "poll_interval": "seconds between polls of a node (default 10)",
    "poll_timeout": "deadline of one poll in seconds, less than the interval (default 5)",
    "config_refresh_polls": "re-read CONFIG every N polls (default 6)",
    "slowlog_fetch": "SLOWLOG GET this many entries per poll (default 128)",
    "log_level": "debug, info, warning or error (default info)",
    "log_format": "text or json (default text)",
}
_REPEATED = {"redis_addr", "sentinel_addr", "sentinel_master"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redis-ha-exporter",
        description="Prometheus exporter for Redis masters, replicas and Sentinels.",
    )
    parser.add_argument("--version", action="version", version=f"redis-ha-exporter {__version__}")
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "check-config", "demo"]
    )
    for name, (flag, envs) in SOURCES.items():
        if name not in _HELP:
            continue
        env_note = f" [env {', '.join(envs)}]" if envs else ""
        parser.add_argument(
            flag,
            dest=name,
            action="append" if name in _REPEATED else "store",
            default=argparse.SUPPRESS,
            help=_HELP[name] + env_note,
        )
    parser.add_argument(
        "--demo-flavor",
        choices=["auto", "redis", "valkey"],
        default="auto",
        help="server binaries for `demo` (default: redis if installed)",
    )
    return parser


class _Redactor(logging.Filter):
    """Last line of defence: replace any configured secret that reaches a log record."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            for secret in self.secrets:
                text = text.replace(secret, "********")
            record.msg, record.args = text, ()
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": record.getMessage(),
            }
        )


def setup_logging(level: str, fmt: str, secrets: Sequence[str]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Redactor(secrets))
    handler.setFormatter(
        _JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def secrets_of(settings: Settings) -> list[str]:
    out: list[str] = []
    for creds in (settings.data_credentials(), settings.sentinel_credentials()):
        if creds.password is not None:
            out.append(creds.password.get_secret_value())
    for target in settings.data_targets() + settings.sentinel_targets():
        for secret in (target.credentials.password, target.address.password):
            if secret is not None:
                out.append(secret.get_secret_value())
    return out


def serve(settings: Settings) -> int:
    from exporter.runtime import Runtime
    from exporter.web import create_app

    host, port = split_listen_address(settings.listen_address)
    runtime = Runtime(settings)
    config = uvicorn.Config(
        create_app(runtime),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    log.info("redis-ha-exporter %s listening on http://%s:%d/", __version__, host, port)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # handler that was there before; ours turns that into a normal exit instead of death
    # by signal, so supervisors see a clean stop.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        asyncio.run(uvicorn.Server(config).serve())
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("stopped")
    return 0


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _demo(settings_flags: dict[str, Any], flavor: str) -> int:
    from exporter import localtopology

    flavors = localtopology.available_flavors()
    chosen = flavors[0] if flavor == "auto" and flavors else flavor
    if chosen not in flavors:
        print(
            f"demo: no {chosen if flavor != 'auto' else 'redis-server or valkey-server'} "
            "binary found; run `make demo` to install one",
            file=sys.stderr,
        )
        return 1
    # SIGTERM (from `timeout`, a supervisor, or make) must still stop every server we start.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    password = "demo-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="redis-ha-demo-") as tmp:
        print(
            f"demo: starting a master, 2 replicas and 3 Sentinels ({chosen}) in {tmp} ...",
            flush=True,
        )
        topo = localtopology.Topology(chosen, Path(tmp), password=password)
        with topo.start():
            sentinels = [s.address for s in topo.sentinels]
            flags = {
                "poll_interval": 2.0,
                "poll_timeout": 1.0,
                **settings_flags,
                "sentinel_addr": sentinels,
                "redis_password": SecretStr(password),
            }
            settings = load_settings(flags)
            setup_logging(settings.log_level, settings.log_format, secrets_of(settings))
            host, port = split_listen_address(settings.listen_address)
            shown = "localhost" if host in ("0.0.0.0", "::") else host
            print(f"demo: Sentinels at {', '.join(sentinels)}; the exporter only knows these.")
            print(f"demo: open http://{shown}:{port}/ and http://{shown}:{port}/metrics")
            print(
                f"demo: trigger a failover with: redis-cli -p {topo.sentinels[0].port} "
                "SENTINEL FAILOVER mymaster   (or `make failover`)"
            )
            print("demo: Ctrl-C stops the exporter and every server.", flush=True)
            marker = localtopology.demo_marker()
            marker.write_text(str(topo.sentinels[0].port))
            try:
                return serve(settings)
            finally:
                marker.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    command = args.pop("command")
    flavor = args.pop("demo_flavor")
    if "redis_password" in args or "sentinel_password" in args:
        print(
            "warning: a password given as a flag is visible to other users in the process "
            "list; use REDIS_PASSWORD / REDIS_SENTINEL_PASSWORD or a password file",
            file=sys.stderr,
        )
    if command == "demo":
        return _demo(args, flavor)
    try:
        settings = load_settings(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if command == "check-config":
        print(json.dumps(settings.masked(), indent=2, default=str))
        return 0
    setup_logging(settings.log_level, settings.log_format, secrets_of(settings))
    return serve(settings)
