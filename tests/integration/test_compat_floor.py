"""The compatibility floor and the latest release: every redis_* name, type and label set that
redis_exporter 1.45 exposes for a master, a replica and a Sentinel (captured), and that its
latest release emits under default flags for what each real server reports (from its source
inventory: tests/fixtures/compat_latest.json), we expose too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import FLAVORS, ROOT, wait_until
from tests.promtext import index, value
from tests.topology import Topology

PASSWORD = "floor-Pw-7731"
FLOOR = json.loads((ROOT / "tests/fixtures/compat_floor.json").read_text())["nodes"]
LATEST = json.loads((ROOT / "tests/fixtures/compat_latest.json").read_text())

# Deliberate differences, each documented in README.md ("Differences from redis_exporter").
NOT_EMITTED = {
    # redis_exporter zero-fills 16 databases on a Sentinel, which has no keyspace.
    "sentinel": {"redis_db_keys", "redis_db_keys_expiring"},
}
TYPE_AS_AT_HEAD = {
    # A gauge in 1.45 but monotonic; redis_exporter HEAD (v1.88) made it a counter, and so do we.
    "redis_expired_time_cap_reached_total": "counter",
}
LABELS_DROPPED = {
    # We are not written in Go; `python_version` takes its place.
    "redis_exporter_build_info": {"golang_version"},
}


@pytest.fixture(scope="module", params=FLAVORS)
def topology(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    topo = Topology(
        request.param,
        tmp_path_factory.mktemp(f"floor-{request.param}"),
        password=PASSWORD,
        extra_config={
            "appendonly": "yes",
            "maxmemory": "64mb",
            "maxmemory-policy": "allkeys-lru",
            "enable-debug-command": "local",
        },
    )
    with topo.start():
        master = topo.groups["mymaster"].master
        client = redis.Redis(port=master.port, password=PASSWORD)
        # The reference's workload: keys with and without TTL in two databases, a Celery
        # list, slow commands and error replies.
        for db in (0, 1):
            client.execute_command("SELECT", db)
            pipe = client.pipeline(transaction=False)
            for i in range(200):
                pipe.set(f"k{i}", i, ex=3600 if i % 3 == 0 else None)
            pipe.execute()
        client.execute_command("SELECT", 0)
        client.rpush("celery", *range(100))
        client.config_set("slowlog-log-slower-than", 5000)
        client.execute_command("DEBUG", "SLEEP", "0.01")
        with pytest.raises(redis.ResponseError):
            client.execute_command("LPUSH", "k1", "x")  # WRONGTYPE
        client.close()
        yield topo


def _version(text: object) -> tuple[int, ...]:
    return tuple(int(p) for p in str(text).split(".")[:2] if p.isdigit())


def latest_expected(kind: str, info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What redis_exporter's latest release emits for a node of `kind` whose `INFO ALL` is
    `info` (redis-py's parse): every mapped field the node reports, and each other series
    whose condition holds."""
    holds = {
        "always": True,
        "redis7": _version(info.get("redis_version", "")) >= (7,),
        "valkey81": _version(info.get("valkey_version", "")) >= (8, 1),
        "io_threads": "used_active_time_io_thread_1" in info,
        "valkey": "valkey_version" in info,
    }
    out: dict[str, dict[str, Any]] = {
        name: {"type": mtype, "labels": []}
        for field, (name, mtype) in LATEST["info_fields"].items()
        if field in info
    }
    for name, spec in LATEST["nodes"][kind].items():
        if holds[spec["when"]]:
            out[name] = dict(spec)
    if kind != "sentinel":
        for name, spec in LATEST["valkey"].items():
            if holds[spec["when"]] and name in out:
                out[name] = {**out[name], "labels": [*out[name]["labels"], *spec["labels"]]}
    return out


def _check(text: str, kind: str, expected: dict[str, dict[str, Any]]) -> tuple[list[str], int, int]:
    exposed = index(text)
    problems = []
    matched = 0
    for name, spec in expected.items():
        if name in NOT_EMITTED.get(kind, set()):
            continue
        if name not in exposed:
            problems.append(f"{kind}: missing {name}")
            continue
        mtype, labels = exposed[name]
        want = set(spec["labels"]) - LABELS_DROPPED.get(name, set())
        if mtype != TYPE_AS_AT_HEAD.get(name, spec["type"]):
            problems.append(f"{kind}: {name} has type {mtype}, reference {spec['type']}")
        elif not want <= labels:
            problems.append(f"{kind}: {name} lacks labels {sorted(want - labels)}")
        else:
            matched += 1
    return problems, matched, len(expected)


def _node_text(text: str, instance: str) -> str:
    """Only the lines of one node (and the exporter-wide ones)."""
    keep = []
    for line in text.splitlines():
        if line.startswith("#") or 'instance="' not in line or f'instance="{instance}"' in line:
            keep.append(line)
    return "\n".join(keep) + "\n"


def test_every_reference_series_is_exposed_for_master_replica_and_sentinel(
    topology: Topology, run_exporter: Any
) -> None:
    """Both the 1.45 floor and the latest release, from one exporter run; the scores are
    printed (`pytest -s`) for the release notes."""
    group = topology.groups["mymaster"]
    nodes = {
        "master": group.master.address,
        "replica": group.replicas[0].address,
        "sentinel": topology.sentinels[0].address,
    }
    # The Sentinel has no password and the data nodes do, so credentials go per target.
    config = Path(topology.base_dir) / "floor.yaml"
    config.write_text(
        "targets:\n"
        f"  - addr: redis://{nodes['master']}\n    password: {PASSWORD}\n"
        f"  - addr: redis://{nodes['replica']}\n    password: {PASSWORD}\n"
        f"  - addr: redis://{nodes['sentinel']}\n"
    )
    exporter = run_exporter(
        "--config-file", str(config), "--poll-interval", "1", "--poll-timeout", "0.8"
    )

    def all_up() -> str | None:
        text = exporter.metrics()
        ups = [value(text, "redis_up", instance=a) for a in nodes.values()]
        return text if ups == [1.0, 1.0, 1.0] else None

    text = wait_until(all_up, 20, what="all three nodes up")
    report = []
    for reference in ("floor", "latest"):
        scores = []
        for kind, instance in nodes.items():
            if reference == "floor":
                expected = FLOOR[kind]
            else:
                host, port = instance.rsplit(":", 1)
                password = None if kind == "sentinel" else PASSWORD
                client = redis.Redis(host=host, port=int(port), password=password)
                info = client.info() if kind == "sentinel" else client.info("all")
                client.close()
                # Everything 1.45 emitted is still emitted under default flags.
                expected = {**FLOOR[kind], **latest_expected(kind, info)}
            problems, matched, total = _check(_node_text(text, instance), kind, expected)
            report += [f"{reference}: {p}" for p in problems]
            scores.append(f"{kind} {matched}/{total}")
        print(f"compatibility {reference} ({topology.flavor}): {', '.join(scores)}")
    assert not report, "\n".join(report)


def test_sentinel_gets_no_commands_it_does_not_understand(
    topology: Topology, run_exporter: Any
) -> None:
    sentinel = topology.sentinels[1]
    client = redis.Redis(port=sentinel.port)
    before = client.info("stats")["total_error_replies"]
    exporter = run_exporter(
        "--redis-addr", sentinel.address, "--poll-interval", "0.3", "--poll-timeout", "0.2"
    )
    wait_until(
        lambda: (
            (
                value(exporter.metrics(), "redis_exporter_scrapes_total", instance=sentinel.address)
                or 0
            )
            >= 10
        ),
        20,
        what="10 polls",
    )
    text = exporter.metrics()
    assert client.info("stats")["total_error_replies"] == before
    assert value(text, "redis_db_keys", instance=sentinel.address, db="db0") is None
    assert value(text, "redis_sentinel_masters", instance=sentinel.address) == 1
    client.close()
