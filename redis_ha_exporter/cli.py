"""Command line: `run` (default) and `check-config`; builds Settings and serves HTTP.

Exit status: 0 after a clean stop (SIGTERM, SIGINT), 1 when the exporter cannot start or fails,
2 for invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import datetime
import difflib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

import uvicorn
from pydantic import SecretStr

from redis_ha_exporter import __version__
from redis_ha_exporter.address import AddressError, parse_address, redact
from redis_ha_exporter.compat import (
    DEBUG,
    FOREIGN,
    foreign_problems,
    go_style,
    setting_warnings,
    unknown_variables,
)
from redis_ha_exporter.config import (
    ADDRESS_PORTS,
    OPTIONS,
    ConfigError,
    Settings,
    is_repeatable,
    load_settings,
    shown_default,
    split_listen_address,
)
from redis_ha_exporter.server import LimitedHttp, raise_open_files_limit

log = logging.getLogger("redis_ha_exporter")
EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per declared setting; only the flags given end up in the namespace."""
    for name, declared in OPTIONS.items():
        if declared.flag is None:
            continue
        default = shown_default(name)
        text = declared.help + (f" (default: {default})" if default else "")
        text = text.replace("`", "") + (f" [env {', '.join(declared.env)}]" if declared.env else "")
        common: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": text}
        if Settings.model_fields[name].annotation is bool:
            # `--flag`, `--flag=false` and `--no-flag`; pydantic parses the word.
            parser.add_argument(
                declared.flag,
                *declared.aliases,
                nargs="?",
                const="true",
                metavar=declared.metavar,
                **common,
            )
            parser.add_argument(
                "--no-" + declared.flag.removeprefix("--"),
                action="store_const",
                const="false",
                dest=name,
                default=argparse.SUPPRESS,
                help=f"the same as {declared.flag}=false",
            )
        else:
            action = "append" if is_repeatable(name) else "store"
            parser.add_argument(
                declared.flag, *declared.aliases, action=action, metavar=declared.metavar, **common
            )


def add_foreign_flags(parser: argparse.ArgumentParser) -> None:
    """redis_exporter's flags without a setting of ours: taken, and explained at start."""
    for foreign in FOREIGN:
        parser.add_argument(
            foreign.flag,
            dest=f"foreign:{foreign.flag}",
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
    parser.add_argument(
        "--debug",
        dest="foreign:--debug",
        metavar="BOOL",
        default=argparse.SUPPRESS,
        help="redis_exporter's spelling of --log-level debug",
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redis-ha-exporter",
        description="Prometheus exporter for Redis masters, replicas and Sentinels.",
        epilog="redis_exporter's flags are taken too, with one dash or two: those with a "
        "setting of ours are listed beside it; the others are explained at start (README: "
        "Coming from redis_exporter). Exit status: 0 after SIGTERM or Ctrl-C, 1 when it "
        "cannot start or fails, 2 for invalid configuration.",
        allow_abbrev=False,  # a new flag must never change what an abbreviation meant
    )
    parser.add_argument("--version", action="version", version=f"redis-ha-exporter {__version__}")
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "check-config"],
        help="run (the default) or check-config: print the settings, secrets masked, and exit",
    )
    add_setting_flags(parser)
    add_foreign_flags(parser)
    return parser


def alias_notes(argv: Sequence[str]) -> list[str]:
    """For check-config: each flag given under another spelling, with the setting it sets."""
    aliases = {
        alias: (declared.flag, name)
        for name, declared in OPTIONS.items()
        for alias in declared.aliases
        if declared.flag is not None
    }
    out = []
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if flag in aliases:
            ours, name = aliases[flag]
            out.append(f"{flag} is {ours} (setting {name})")
    return out


def _boolean_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Flags that take no value unless given one with `=`: ours and redis_exporter's."""
    ours = {
        flag
        for name, declared in OPTIONS.items()
        if declared.flag is not None and Settings.model_fields[name].annotation is bool
        for flag in (declared.flag, *declared.aliases)
    }
    return ours | {f.flag for f in FOREIGN if f.boolean} | {"--debug"}


def _unknown_flags(parser: argparse.ArgumentParser, unknown: Sequence[str]) -> list[str]:
    """One line per argument nobody takes, with the closest flag for a typo."""
    flags = [s for action in parser._actions for s in action.option_strings]
    shown = [f for f in flags if not any(f == x.flag for x in FOREIGN)]
    out = []
    for arg in unknown:
        name = arg.split("=", 1)[0]
        if not name.startswith("-"):
            out.append(f"unexpected argument {arg!r}")
            continue
        close = difflib.get_close_matches(name, shown, n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]}?" if close else ""
        out.append(f"unknown flag {name}{hint}")
    return out


def split_args(
    namespace: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings given, and redis_exporter's foreign flags given (by flag)."""
    settings = {k: v for k, v in namespace.items() if not k.startswith("foreign:")}
    foreign = {
        k.removeprefix("foreign:"): str(v) for k, v in namespace.items() if k.startswith("foreign:")
    }
    return settings, foreign


def foreign_settings(
    settings: dict[str, Any], foreign: dict[str, str]
) -> tuple[list[str], list[str]]:
    """redis_exporter's settings without one of ours: (errors, warnings); `--debug` and
    REDIS_EXPORTER_DEBUG become --log-level debug when no level is given."""
    debug = foreign.pop("--debug", None)
    if debug is None:
        debug = os.environ.get(DEBUG[1])
    if debug is not None and debug.strip().lower() in ("1", "t", "true", "yes", "on"):
        settings.setdefault("log_level", "debug")
    errors, warnings = foreign_problems(foreign)
    known = {env for declared in OPTIONS.values() for env in declared.env}
    known |= {DEBUG[1], "REDIS_HA_ALLOW_SKIPS"}
    warnings += unknown_variables(known)
    return errors, warnings


def warn_about_visible_secrets(flags: Mapping[str, Any]) -> None:
    """Warn on stderr about secrets given as flags: any user can read a process's arguments."""
    for name, given in flags.items():
        if name in ADDRESS_PORTS:
            if not any(_has_password(text) for text in given):
                continue
        elif Settings.model_fields[name].annotation != SecretStr | None:
            continue
        print(
            f"warning: the password given with {OPTIONS[name].flag} is visible to other users "
            f"in the process list; prefer {', '.join(OPTIONS[name].env)} or a password file",
            file=sys.stderr,
        )


def _has_password(text: Any) -> bool:
    try:
        return parse_address(str(text)).password is not None
    except AddressError:
        return False  # load_settings reports it


class _Redactor(logging.Filter):
    """Last line of defence for text from outside that reaches a log record: exceptions given
    as arguments and tracebacks. Our own words (the message, arguments we composed, which
    are redacted where they are made) are left as they are."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        if isinstance(record.args, tuple) and any(
            isinstance(a, BaseException) for a in record.args
        ):
            record.args = tuple(
                redact(str(a), self.secrets) if isinstance(a, BaseException) else a
                for a in record.args
            )
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            record.msg = f"{record.getMessage()}\n{redact(trace, self.secrets)}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


# What a JSON line may carry beside `ts`, `level`, `msg` and `logger`, when the line is about
# a node, a Sentinel group or a change of state (README: Logs).
LOG_FIELDS = ("instance", "master_name", "event")


class JsonFormatter(logging.Formatter):
    """One JSON object per line with stable keys: `ts` (RFC 3339, UTC, milliseconds),
    `level`, `msg`, `logger`, and `instance`, `master_name` and `event` when known."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        out: dict[str, str] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "logger": record.name,
        }
        for key in LOG_FIELDS:
            value = record.__dict__.get(key)
            if value:
                out[key] = str(value)
        return json.dumps(out)


def setup_logging(level: str, fmt: str, secrets: Sequence[str]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Redactor(secrets))
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def bind(listen_address: str) -> socket.socket:
    """A socket bound to `[host]:port`, or OSError with a message that names the address."""
    host, port = split_listen_address(listen_address)
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(f"cannot listen on {shown}: {_reason(exc)}") from None
    try:
        # As uvicorn does: a restart must not wait for the old connections' TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {shown}: {_reason(exc)}") from None
    return sock


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


class _Server(uvicorn.Server):
    """uvicorn's server without its 10 Hz main loop: it waits for the exit signal instead of
    waking every 0.1 s, so an idle exporter does not wake at all between polls. (The tick's
    other job, the Date header, is done per response by `web.create_app`.)"""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        if not self.should_exit:  # a signal may have come during start-up
            await self._exit.wait()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            # A second SIGTERM or SIGINT: the operator wants it gone, now.
            log.warning("received %s again while stopping: exiting now", signal.Signals(sig).name)
            os._exit(EXIT_FAILURE)
        log.info("received %s: stopping", signal.Signals(sig).name)
        super().handle_exit(sig, frame)
        if self._loop is not None and self._exit is not None:
            # uvicorn installs this with signal.signal: hand the wake-up to the loop.
            self._loop.call_soon_threadsafe(self._exit.set)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (every platform but Windows): the loop and
    its socket transports are in C, which saves CPU on every poll and request."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _keep_large_blocks_returnable() -> None:
    """glibc raises its mmap threshold, up to 32 MiB, each time a large block is freed, after
    which blocks of that size come from the heap and are never given back: a thousand nodes'
    /metrics body (tens of MB per render) would then stay in RSS. Pinning the threshold at
    1 MiB keeps such blocks mapped and returned (about 55 MB less RSS at 1,000 nodes)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (musl has no mallopt)
        return
    m_mmap_threshold = -3
    mallopt(m_mmap_threshold, 1 << 20)


def serve(settings: Settings, reload: Callable[[], Settings] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; the exit status for `main`. `reload` reads the
    configuration again for SIGHUP and POST /-/reload."""
    from redis_ha_exporter.runtime import Runtime

    # Bound before anything starts: a port in use must end the process at once, not after
    # pollers have started (uvicorn would then wait on them forever).
    try:
        sock = bind(settings.listen_address)
    except OSError as exc:
        log.error("%s", exc)
        return EXIT_FAILURE
    _keep_large_blocks_returnable()
    raise_open_files_limit()
    with sock:
        runtime = Runtime(settings, reload)
        config = uvicorn.Config(
            runtime.app(),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
            date_header=False,
            http=LimitedHttp,
        )
        web = runtime.web
        context = web.server_context()
        if context is not None:
            # uvicorn makes its context from file names when it loads; ours has the versions
            # and client verification of the web config.
            config.load()
            config.ssl = runtime.server_context = context
        server = _Server(config)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if context is not None else "http"
        log.info(
            "redis-ha-exporter %s listening on %s://%s:%d/%s",
            __version__,
            scheme,
            shown,
            port,
            f" (basic auth: {len(web.users)} user(s))" if web.users else "",
        )
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for
        # the handler that was there before; ours turns that into a normal exit instead of
        # death by signal, so supervisors see a clean stop.
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(server.serve(sockets=[sock]))
        except KeyboardInterrupt:
            pass
        except SystemExit:  # uvicorn's way to report a failed start-up (exit status 3)
            log.error("start-up failed")
            return EXIT_FAILURE
        finally:
            signal.signal(signal.SIGTERM, previous)
    log.info("stopped")
    return EXIT_OK


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    flags = parser()
    given = go_style(sys.argv[1:] if argv is None else argv, _boolean_flags(flags))
    known = flags._option_string_actions
    unknown = [a for a in given if a.startswith("--") and a.split("=", 1)[0] not in known]
    if unknown:  # before parsing: an unknown flag's value would be taken for the command
        for problem in _unknown_flags(flags, unknown):
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    args, foreign = split_args(vars(flags.parse_args(given)))
    command = args.pop("command")
    errors, warnings = foreign_settings(args, foreign)
    warn_about_visible_secrets(args)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    try:
        settings = load_settings(args)
    except ConfigError as exc:
        errors += exc.problems
    if errors:
        for problem in errors:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    for line in setting_warnings(settings):
        print(f"warning: {line}", file=sys.stderr)
    if command == "check-config":
        for line in alias_notes(given):
            print(f"note: {line}", file=sys.stderr)
        print(json.dumps(settings.masked(), indent=2, default=str))
        return EXIT_OK
    setup_logging(settings.log_level, settings.log_format, settings.secrets())
    return serve(settings, lambda: load_settings(args))
