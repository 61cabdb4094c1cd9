"""A real Prometheus (Debian's package) on loopback, scraping the exporter every second with
`honor_labels: true`, optionally with rule files loaded, queried over its HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.topology import free_port

PROMETHEUS = shutil.which("prometheus")
if PROMETHEUS is None and os.environ.get("CI"):
    raise RuntimeError("CI=true but the prometheus binary is not installed")


class Prometheus:
    def __init__(self, target: str, workdir: Path, rule_files: Sequence[Path] = ()) -> None:
        self.port = free_port()
        config = workdir / "prometheus.yml"
        rules = "".join(f"  - {path}\n" for path in rule_files)
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
            + (f"rule_files:\n{rules}" if rules else "")
            + "scrape_configs:\n"
            "  - job_name: redis\n"
            "    honor_labels: true\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.log_path = workdir / "prometheus.log"
        self.log = self.log_path.open("wb")
        assert PROMETHEUS is not None
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str, **params: str) -> Any:
        """The `data` of an API answer; an error answer raises with Prometheus' message."""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())["data"]
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]
            except (ValueError, KeyError):
                # Not an API answer: Prometheus is still starting (503 "not ready").
                raise OSError(f"Prometheus answered {exc.code}") from None
            raise PromQLError(message) from None

    def value(self, query: str) -> float | None:
        """The first sample of an instant query, or None when it returns nothing."""
        result = self.api("query", query=query)["result"]
        return float(result[0]["value"][1]) if result else None

    def scraping(self) -> bool:
        try:
            targets = self.api("targets")["activeTargets"]
        except OSError:
            return False
        return bool(targets) and all(t["health"] == "up" for t in targets)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


class PromQLError(Exception):
    """Prometheus refused a query."""
