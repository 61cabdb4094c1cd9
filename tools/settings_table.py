"""The README's table of settings, made from their declaration in redis_ha_exporter/config.py.

.venv/bin/python -m tools.settings_table           # print the table
.venv/bin/python -m tools.settings_table --write   # replace the table in README.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from redis_ha_exporter.config import OPTIONS, Settings, is_repeatable, shown_default

README = Path(__file__).resolve().parent.parent / "README.md"
HEADER = "| flag | environment | default | meaning |\n|---|---|---|---|\n"
# The header and every table row after it.
_TABLE = re.compile(re.escape(HEADER) + r"(?:\|.*\n)*")


def _flag(name: str) -> str:
    declared = OPTIONS[name]
    assert declared.flag is not None
    if Settings.model_fields[name].annotation is bool:
        negated = "--no-" + declared.flag.removeprefix("--")
        return f"`{declared.flag}[={declared.metavar}]`, `{negated}`"
    shown = f"`{declared.flag} {declared.metavar}`" if declared.metavar else f"`{declared.flag}`"
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


def in_readme(text: str) -> str:
    """The settings table as the README has it."""
    match = _TABLE.search(text)
    if match is None:
        raise LookupError(f"no table starting with {HEADER.splitlines()[0]!r} in the README")
    return match.group(0)


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        text = README.read_text(encoding="utf-8")
        README.write_text(text.replace(in_readme(text), render()), encoding="utf-8")
        return 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
