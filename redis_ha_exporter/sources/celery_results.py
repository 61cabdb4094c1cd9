"""The Celery result backend: how many `celery-task-meta-*` keys it holds, and from a sample of
them their memory and how many have no TTL (a backend without `result_expires` grows forever),
on a walk of its own time budget, on masters only.

redis_celery_result_keys{instance="10.0.0.1:6379"} 1200
redis_celery_result_keys_sampled{instance="10.0.0.1:6379"} 200
redis_celery_result_keys_without_ttl{instance="10.0.0.1:6379"} 0
redis_celery_result_memory_bytes{instance="10.0.0.1:6379"} 1.8e+06

Every key SCAN returns is counted; only the first `--celery-results-sample` are read, and the
other two figures are scaled from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.replies import to_int
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import (
    DATA,
    NodeView,
    Run,
    Setting,
    Source,
    Walk,
    no_commands,
    no_parse,
)
from redis_ha_exporter.sources.celery import PREFIX
from redis_ha_exporter.sources.keys import BATCH
from redis_ha_exporter.sources.scan import KeyTask, Scan, glob_escape, scan_step

RESULTS = Setting(
    "celery_results",
    bool,
    False,
    "--celery-results",
    ("REDIS_EXPORTER_CELERY_RESULTS",),
    "count the result backend's `celery-task-meta-*` keys, and sample their memory and TTL",
    metavar="BOOL",
    example=True,
)
RESULTS_DB = Setting(
    "celery_results_db",
    int,
    0,
    "--celery-results-db",
    ("REDIS_EXPORTER_CELERY_RESULTS_DB",),
    "the database of the result backend",
    metavar="N",
    ge=0,
    le=1 << 20,
)
SAMPLE = Setting(
    "celery_results_sample",
    int,
    200,
    "--celery-results-sample",
    ("REDIS_EXPORTER_CELERY_RESULTS_SAMPLE",),
    "result keys whose TTL and MEMORY USAGE are read each poll; the rest are only counted",
    metavar="N",
    ge=1,
    le=100_000,
)
BUDGET = Setting(
    "celery_results_budget",
    float,
    1.0,
    "--celery-results-budget",
    ("REDIS_EXPORTER_CELERY_RESULTS_BUDGET",),
    "seconds counting the result keys may take per poll (after the poll, on its connection); "
    "past it the count is what was seen so far",
    metavar="SECONDS",
    ge=0.001,
    le=60,
)

RESULT_KEYS = metric(
    "celery_result_keys", "gauge", "Keys of the Celery result backend (celery-task-meta-*)."
)
RESULT_MEMORY = metric(
    "celery_result_memory_bytes",
    "gauge",
    "Estimated bytes the result keys take: their sampled mean MEMORY USAGE times their count.",
)
RESULT_NO_TTL = metric(
    "celery_result_keys_without_ttl",
    "gauge",
    "Estimated result keys without a TTL, from the sample: they are never deleted (Celery's "
    "result_expires unset or 0).",
)
RESULT_SAMPLED = metric(
    "celery_result_keys_sampled", "gauge", "Result keys whose TTL and memory were read."
)
RESULT_PATTERN = "celery-task-meta-*"


@dataclass(frozen=True, slots=True)
class CeleryResultsRecord:
    """The keys counted, those sampled, their estimated memory and keys without TTL; `why`
    says what stopped the count early (then the figures are lower bounds)."""

    keys: int
    sampled: int
    memory: float
    without_ttl: int
    why: str = ""


def start(node: NodeView, prev: CeleryResultsRecord | None) -> Scan | None:
    options = node.options
    if not RESULTS.of(options) or node.role != "master":
        return None
    return Scan(
        lambda _db, key, _named: _result_task(key),
        {},
        {RESULTS_DB.of(options): [glob_escape(PREFIX.of(options)) + RESULT_PATTERN]},
        batch=BATCH.of(options),
        cap=SAMPLE.of(options),
        count=_counted,
    )


def _result_task(key: bytes) -> KeyTask:
    ttl, used = yield [("TTL", key), ("MEMORY", "USAGE", key)]
    return (to_int(ttl), to_int(used))


def _counted(db: int, key: bytes) -> None:
    """A result key past the sample: the engine counts it, nothing is read."""


def finish(
    node: NodeView, prev: CeleryResultsRecord | None, scan: Scan, run: Run
) -> CeleryResultsRecord:
    if run.out_of_time:
        scan.stop()
    keys = sum(scan.matched.values())
    sampled = [r for _db, _key, r in scan.results if r is not None]
    ttls = [ttl for ttl, _used in sampled if ttl is not None]
    sizes = [used for _ttl, used in sampled if used is not None]
    mean = sum(sizes) / len(sizes) if sizes else 0.0
    share = sum(1 for ttl in ttls if ttl == -1) / len(ttls) if ttls else 0.0
    why = f"{run.limit} stopped it after {keys} result keys" if run.out_of_time else ""
    return CeleryResultsRecord(keys, len(sampled), mean * keys, round(share * keys), why)


def stopped(record: CeleryResultsRecord) -> str:
    return record.why


def families(snap: NodeSnapshot, record: CeleryResultsRecord, b: FamilyBuilder) -> None:
    b.add(RESULT_KEYS, record.keys)
    b.add(RESULT_SAMPLED, record.sampled)
    b.add(RESULT_MEMORY, record.memory)
    b.add(RESULT_NO_TTL, record.without_ttl)


SOURCE = Source(
    "celery-results",
    CeleryResultsRecord,
    DATA,
    no_commands,
    no_parse,
    families,
    metrics=declared(globals()),
    settings=(RESULTS, RESULTS_DB, SAMPLE, BUDGET),
    acl_keys=("+select", "+scan", "+ttl", "+memory|usage"),
    walk=Walk(BUDGET, start, scan_step, finish, stopped),
)
