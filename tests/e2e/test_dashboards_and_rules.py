"""Every dashboard panel and every rule, evaluated by a real Prometheus that scrapes the exporter
polling a real master, two replicas and three Sentinels set up as the user's guide says (a
password, AOF everysec plus RDB, maxmemory with allkeys-lru), with Celery messages and results
on the master written by the real kombu and Celery.

Every expression must evaluate without error, and every panel must return data, except the
panels `dashboards/conditional.json` names (a failover, evictions, rejected connections...).
A requested failover then shows which of those come alive.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pytest
import redis
import yaml
from celery import Celery
from kombu import Connection, Exchange, Queue

from dashboards.generate import Expression, expressions
from tests.conftest import FLAVORS, ROOT, ExporterProcess, wait_until
from tests.e2e.prometheus import PROMETHEUS, Prometheus, PromQLError
from tests.topology import Topology

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed")

PASSWORD = "e2e-Pw-2718"
RULE_FILES = sorted((ROOT / "alerts").glob("*.rules.yml"))
CONDITIONAL: dict[str, dict[str, str]] = json.loads(
    (ROOT / "dashboards/conditional.json").read_text()
)
# What Grafana would put in for its macros at a 1 s scrape interval and a 5 minute range.
MACROS = {
    "__rate_interval": "10s",
    "__interval": "2s",
    "__interval_ms": "2000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}
USER_GUIDE = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": "3600 1 300 100 60 10000",
    "maxmemory": "64mb",
    "maxmemory-policy": "allkeys-lru",
    "slowlog-log-slower-than": "0",  # every command is slow: the slowlog panels have entries
}
# The Celery row's figures: a queue with messages in kombu's priority lists too, and results in
# their own database, some of them stored without a TTL.
CELERY_PRIORITIES = [0, 0, 3, 6, 9]
CELERY_RESULTS_DB = 2
CELERY_RESULTS = 12
CELERY_RESULTS_WITHOUT_TTL = 5


def substitute(expr: str, variables: dict[str, str]) -> str:
    """`expr` with Grafana's macros and template variables replaced, in every spelling
    (`$name`, `${name}`, `${name:format}`, `[[name]]`)."""
    values = {**MACROS, **variables}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise AssertionError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    pattern = r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)"
    return re.sub(pattern, value, expr)


def has_data(result: Any) -> bool:
    if result["resultType"] in ("vector", "matrix"):
        return bool(result["result"])
    return True  # a scalar or string always has a value


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Topology, Prometheus]]:
    """The user's HA setup, the exporter, and Prometheus with our rules, up and scraping."""
    if not FLAVORS:
        pytest.skip("no server binaries")
    workdir = tmp_path_factory.mktemp("stack")
    topo = Topology(FLAVORS[0], workdir / "servers", password=PASSWORD, extra_config=USER_GUIDE)
    with topo.start():
        master = topo.groups["mymaster"].master
        exporter = ExporterProcess(
            [
                "--sentinel-addr",
                topo.sentinels[0].address,
                "--poll-interval",
                "1",
                "--poll-timeout",
                "0.5",
                "--celery-queue",
                "celery,idle",
                "--celery-results",
                "--celery-results-db",
                str(CELERY_RESULTS_DB),
                "--check-single-keys",
                "jobs",
                "--check-streams",
                "events*",
                "--key-groups",
                "key:*",
                "--key-groups-every",
                "1",
            ],
            {"REDIS_PASSWORD": PASSWORD},
            workdir,
        )
        prom = Prometheus(f"127.0.0.1:{exporter.port}", workdir, RULE_FILES)
        try:
            celery_work(master.port)
            app_keys(master.port)
            traffic(master.port)
            wait_until(prom.scraping, 60, interval=0.5, what="Prometheus scraping the exporter")
            # Enough samples for every rate window and for the group series to settle.
            wait_until(
                lambda: prom.value("count(redis_up == 1)") == 6,
                60,
                interval=0.5,
                what="all six nodes up in Prometheus",
            )
            traffic(master.port)
            time.sleep(12)  # samples for two rate windows
            traffic(master.port)
            yield topo, prom
        finally:
            prom.stop()
            exporter.stop()


def traffic(port: int) -> None:
    """Reads that hit and miss, writes with and without TTL in two databases, a BGSAVE."""
    for db in (0, 1):
        with (
            redis.Redis(port=port, password=PASSWORD, db=db) as client,
            client.pipeline(transaction=False) as pipe,
        ):
            for i in range(200):
                pipe.set(f"key:{i}", "x" * 64, ex=3600 if i % 2 else None)
                pipe.get(f"key:{i}")
                pipe.get(f"missing:{i}")
            pipe.execute()
    # One already running (an AOF rewrite, a save rule) is as good.
    with redis.Redis(port=port, password=PASSWORD) as client, suppress(redis.ResponseError):
        client.bgsave()


def app_keys(port: int) -> None:
    """The watched keys row's figures: a job list, and a stream whose group has read one
    entry of two without acknowledging it."""
    with redis.Redis(port=port, password=PASSWORD) as client:
        client.rpush("jobs", "a", "b", "c")
        client.xadd("events", {"n": 1})
        client.xadd("events", {"n": 2})
        client.xgroup_create("events", "workers", id="0")
        client.xreadgroup("workers", "w1", {"events": ">"}, count=1)


def celery_work(port: int) -> None:
    """Messages waiting in queue "celery", published by kombu, and results stored by Celery."""
    broker = f"redis://:{PASSWORD}@localhost:{port}/0"
    queue = Queue("celery", Exchange("celery", type="direct"), routing_key="celery")
    with Connection(broker) as conn:
        producer = conn.Producer()
        for n, priority in enumerate(CELERY_PRIORITIES):
            producer.publish(
                {"n": n},
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                priority=priority,
                declare=[queue],
            )
    backend = f"redis://:{PASSWORD}@localhost:{port}/{CELERY_RESULTS_DB}"
    with Celery("e2e", broker=broker, backend=backend) as app:
        for n in range(CELERY_RESULTS - CELERY_RESULTS_WITHOUT_TTL):
            app.backend.store_result(str(uuid.uuid4()), {"n": n}, "SUCCESS")
    with Celery("e2e-forever", broker=broker, backend=backend) as app:
        app.conf.result_expires = None
        for n in range(CELERY_RESULTS_WITHOUT_TTL):
            app.backend.store_result(str(uuid.uuid4()), {"n": n}, "SUCCESS")


def _variables() -> dict[str, str]:
    return {"datasource": "prometheus", "job": "redis", "instance": ".+", "master_name": "mymaster"}


def evaluate(prom: Prometheus, expr: Expression) -> Any:
    query = substitute(expr.expr, _variables())
    try:
        return prom.api("query", query=query)
    except PromQLError as exc:
        raise AssertionError(f"{expr.dashboard} / {expr.panel}: {query!r}: {exc}") from None


def test_every_panel_evaluates_and_returns_data(stack: tuple[Topology, Prometheus]) -> None:
    _, prom = stack
    empty: list[str] = []
    conditional_empty: list[str] = []
    total = 0
    for expr in expressions():
        total += 1
        if has_data(evaluate(prom, expr)):
            continue
        if expr.panel in CONDITIONAL.get(expr.dashboard, {}):
            conditional_empty.append(f"{expr.dashboard} / {expr.panel}")
        else:
            empty.append(f"{expr.dashboard} / {expr.panel}: {expr.expr}")
    print(f"{total} expressions, {total - len(empty) - len(conditional_empty)} returned data,")
    print(f"{len(conditional_empty)} conditional ones empty: {conditional_empty}")
    assert empty == []


def test_every_rule_loads_and_evaluates(stack: tuple[Topology, Prometheus]) -> None:
    _, prom = stack
    groups = prom.api("rules")["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"]}
    declared = {
        rule.get("alert") or rule.get("record")
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    }
    assert loaded == declared
    # Give every rule a few evaluations, then none may have failed.
    time.sleep(3)
    for group in prom.api("rules")["groups"]:
        for rule in group["rules"]:
            assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
            prom.api("query", query=rule["query"])
    firing = {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]}
    print(f"{len(declared)} rules; alerts pending or firing on a healthy setup: {sorted(firing)}")


def test_the_celery_row_shows_what_kombu_and_celery_wrote(
    stack: tuple[Topology, Prometheus],
) -> None:
    _, prom = stack
    assert prom.value('redis_celery_queue_length{queue="celery"}') == len(CELERY_PRIORITIES)
    assert prom.value('redis_celery_queue_length{queue="idle"}') == 0
    assert prom.value("redis_celery_unacked") == 0
    assert prom.value("redis_celery_result_keys") == CELERY_RESULTS
    assert prom.value("redis_celery_result_keys_without_ttl") == CELERY_RESULTS_WITHOUT_TTL
    assert prom.value('redis_exporter_walk_truncated{source="celery"}') == 0


def test_the_watched_keys_row_shows_the_keys_streams_and_groups(
    stack: tuple[Topology, Prometheus],
) -> None:
    topo, prom = stack
    master = topo.groups["mymaster"].master.address
    assert prom.value(f'redis_key_size{{instance="{master}",key="jobs"}}') == 3
    lag = f'redis_stream_group_lag{{instance="{master}",stream="events",group="workers"}}'
    assert prom.value(lag) == 1
    pending = lag.replace("redis_stream_group_lag", "redis_stream_group_messages_pending")
    assert prom.value(pending) == 1
    # Sampled on the replicas only (the master has them), where every key:* key is read.
    assert prom.value(f'count(redis_key_group_keys{{instance="{master}"}})') is None
    assert prom.value('min(redis_key_group_keys{group="key:*",db="db0"})') == 200
    assert prom.value("max(redis_exporter_walk_truncated)") == 0


def test_a_failover_brings_the_failover_panels_to_life(
    stack: tuple[Topology, Prometheus],
) -> None:
    topo, prom = stack
    with redis.Redis(port=topo.sentinels[0].port) as sentinel:
        sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster")
    topo.wait_for_failover_settled("mymaster")
    wait_until(
        lambda: (prom.value("sum(redis_sentinel_failovers_total)") or 0) >= 1,
        30,
        interval=0.5,
        what="the failover counted in Prometheus",
    )
    time.sleep(3)
    alive: list[str] = []
    still_empty: list[str] = []
    for expr in expressions():
        if expr.panel not in CONDITIONAL.get(expr.dashboard, {}):
            continue
        (alive if has_data(evaluate(prom, expr)) else still_empty).append(
            f"{expr.dashboard} / {expr.panel}"
        )
    print(f"after a failover, conditional panels with data: {alive}; still empty: {still_empty}")
    failover_panels = [p for p in alive + still_empty if "failover" in p.lower()]
    assert failover_panels and all(p in alive for p in failover_panels)
