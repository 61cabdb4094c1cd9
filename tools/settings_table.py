"""The README's parts made from declarations: the table of settings (redis_ha_exporter/config.py
and each source's), and the least-privilege ACL lines (each source's rules).

.venv/bin/python -m tools.settings_table           # print the table and the ACL lines
.venv/bin/python -m tools.settings_table --write   # replace them in README.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from redis_ha_exporter import cli, compat, sources
from redis_ha_exporter.config import OPTIONS, Settings, is_repeatable, shown_default
from redis_ha_exporter.events import EVENTS_ACL
from redis_ha_exporter.wire import CONNECTION_ACL

README = Path(__file__).resolve().parent.parent / "README.md"
HEADER = "| flag | environment | default | meaning |\n|---|---|---|---|\n"
# The header and every table row after it.
_TABLE = re.compile(re.escape(HEADER) + r"(?:\|.*\n)*")


def _flag(name: str) -> str:
    declared = OPTIONS[name]
    assert declared.flag is not None
    if Settings.model_fields[name].annotation is bool:
        negated = "--no-" + declared.flag.removeprefix("--")
        spelt = ", ".join(
            f"`{flag}[={declared.metavar}]`" for flag in (declared.flag, *declared.aliases)
        )
        return f"{spelt}, `{negated}`"
    shown = ", ".join(
        f"`{flag} {declared.metavar}`" if declared.metavar else f"`{flag}`"
        for flag in (declared.flag, *declared.aliases)
    )
    return shown + (" (repeatable)" if is_repeatable(name) else "")


def _env(name: str) -> str:
    envs = ", ".join(f"`{env}`" for env in OPTIONS[name].env)
    return envs + (" (comma-separated)" if envs and is_repeatable(name) else "")


def _default(name: str) -> str:
    shown = shown_default(name)
    if OPTIONS[name].default_text is not None or not shown:
        return shown
    return f"`{shown}`"


def render() -> str:
    rows = [
        re.sub(r"\|  (?=\|)", "| ", f"| {' | '.join(cells)} |") + "\n"
        for cells in (
            (_flag(name), _env(name), _default(name), declared.help)
            for name, declared in OPTIONS.items()
            if declared.flag is not None
        )
    ]
    return HEADER + "".join(rows)


COMPAT_HEADER = "| redis_exporter | environment | here |\n|---|---|---|\n"
_COMPAT = re.compile(re.escape(COMPAT_HEADER) + r"(?:\|.*\n)*")


def render_compat() -> str:
    """redis_exporter's flags and variables, each with what it does here."""
    actions = cli.parser()._option_string_actions
    rows = []
    for flag, env in compat.MAPPED:
        declared = OPTIONS[actions[flag].dest]
        assert declared.flag is not None
        same = " (the same name)" if declared.flag == flag else ""
        rows.append((flag, env, f"mapped: `{declared.flag}`{same}"))
    rows.append((*compat.DEBUG, "mapped: `--log-level debug` unless a level is given"))
    for foreign in compat.FOREIGN:
        rows.append((foreign.flag, foreign.env, f"{compat.verdict(foreign)}: {foreign.instead}"))
    return COMPAT_HEADER + "".join(f"| `{flag}` | `{env}` | {here} |\n" for flag, env, here in rows)


def compat_in_readme(text: str) -> str:
    match = _COMPAT.search(text)
    if match is None:
        raise LookupError(f"no table starting with {COMPAT_HEADER.splitlines()[0]!r} in the README")
    return match.group(0)


def in_readme(text: str) -> str:
    """The settings table as the README has it."""
    match = _TABLE.search(text)
    if match is None:
        raise LookupError(f"no table starting with {HEADER.splitlines()[0]!r} in the README")
    return match.group(0)


def acl_line(kind: str) -> str:
    """`ACL SETUSER exporter ...` for a data node or a Sentinel: the connection's rules, then
    every source's for that kind, in the registry's order."""
    rules = [*CONNECTION_ACL]
    for source in sources.ALL:
        if kind in source.kinds:
            rules += [rule for rule in source.acl if rule not in rules]
    if kind == "sentinel":
        rules = [r for r in EVENTS_ACL if r.startswith("&")] + rules
        rules += [r for r in EVENTS_ACL if not r.startswith("&")]
    return "ACL SETUSER exporter on >CHANGE-ME -@all " + " ".join(rules)


def valkey_acl_line() -> str:
    """`ACL SETUSER exporter ...` adding the rules for commands only Valkey has."""
    rules = [rule for source in sources.ALL for rule in source.acl_valkey]
    return "ACL SETUSER exporter " + " ".join(rules)


def keys_acl_line() -> str:
    """`ACL SETUSER exporter ...` adding what the sources that read keys need: their commands
    and read access to keys (`%R~*`; narrow it to the patterns configured)."""
    rules: list[str] = []
    for source in sources.ALL:
        rules += [rule for rule in source.acl_keys if rule not in rules]
    return "ACL SETUSER exporter %R~* " + " ".join(rules)


def keys_acl_in_readme(text: str) -> str:
    lines: list[str] = re.findall(r"^ACL SETUSER exporter %R~.*$", text, flags=re.M)
    if len(lines) != 1:
        raise LookupError("the README should have one ACL line for the sources reading keys")
    return lines[0]


def valkey_acl_in_readme(text: str) -> str:
    lines: list[str] = re.findall(r"^ACL SETUSER exporter (?!on |%R~).*$", text, flags=re.M)
    if len(lines) != 1:
        raise LookupError("the README should have one ACL line adding Valkey's commands")
    return lines[0]


def acl_in_readme(text: str, kind: str) -> str:
    """The README's ACL line for `kind` (the Sentinel one subscribes, the data one does not)."""
    lines: list[str] = re.findall(r"^ACL SETUSER exporter on .*$", text, flags=re.M)
    found = [line for line in lines if ("+subscribe" in line) == (kind == "sentinel")]
    if len(found) != 1:
        raise LookupError(f"the README should have one ACL line for {kind} nodes")
    return found[0]


def rewrite(text: str) -> str:
    text = text.replace(in_readme(text), render())
    text = text.replace(compat_in_readme(text), render_compat())
    for kind in ("data", "sentinel"):
        text = text.replace(acl_in_readme(text, kind), acl_line(kind))
    text = text.replace(keys_acl_in_readme(text), keys_acl_line())
    return text.replace(valkey_acl_in_readme(text), valkey_acl_line())


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        README.write_text(rewrite(README.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    parts = (render(), render_compat(), acl_line("data"), acl_line("sentinel"))
    sys.stdout.write("\n".join(parts) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
