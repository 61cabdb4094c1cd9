"""The "Redis node" dashboard's rows about what the application keeps in Redis: its watched
keys, streams and key groups, and its Celery queues and results (all opt-in sources, whose
panels are empty without their flags)."""

from __future__ import annotations

from dashboards.board import Board
from dashboards.panels import Q, steps, timeline_panel, timeseries_panel, values
from dashboards.promql import NODE, sel

TRUNCATED = values({0: ("complete", "green"), 1: ("truncated", "red")})


def application_rows(board: Board) -> None:
    _keys(board)
    _celery(board)


def _keys(board: Board) -> None:
    board.row("Watched keys, streams and key groups")
    board.add(
        timeseries_panel(
            "Watched key sizes",
            "Each watched key's length or size by its type (--check-keys patterns, "
            "--check-single-keys names; a missing named key reads 0).",
            "short",
            [Q(sel("redis_key_size"), "{{instance}} {{db}} {{key}}")],
        ),
        timeseries_panel(
            "Stream consumer group lag",
            "Entries of each watched stream not yet delivered to the consumer group "
            "(--check-streams), and those delivered but not acknowledged (pending).",
            "short",
            [
                Q(sel("redis_stream_group_lag"), "{{instance}} {{stream}} {{group}} lag"),
                Q(
                    sel("redis_stream_group_messages_pending"),
                    "{{instance}} {{stream}} {{group}} pending",
                ),
            ],
        ),
        timeseries_panel(
            "Key group memory",
            "Estimated memory per key pattern (--key-groups), from a sample of the keyspace: "
            "what redis-cli --memkeys answers, as a graph.",
            "bytes",
            [Q(sel("redis_key_group_memory_bytes"), "{{instance}} {{db}} {{group}}")],
            size=(8, 8),
        ),
        timeseries_panel(
            "Key group keys",
            "Estimated keys per key pattern (--key-groups); (other) holds the keys no pattern "
            "matches.",
            "short",
            [Q(sel("redis_key_group_keys"), "{{instance}} {{db}} {{group}}")],
            size=(8, 8),
        ),
        timeseries_panel(
            "Keyspace sampled for key groups",
            "Fraction of each database the last key-group sample read (1: every key): how far "
            "to trust the estimates.",
            "percentunit",
            [Q(sel("redis_key_group_sampled_ratio"), "{{instance}} {{db}}")],
            size=(8, 8),
            thresholds=steps((None, "orange"), (0.01, "green")),
        ),
        timeseries_panel(
            "Walk duration by source",
            "Seconds each walk (key checks, stream checks, Celery, key groups) took after its "
            "poll, on the poll's connection, within its own time budget.",
            "s",
            [Q(sel("redis_exporter_walk_duration_seconds", NODE), "{{instance}} {{source}}")],
            size=(12, 6),
        ),
        timeline_panel(
            "Walks truncated",
            "Whether each walk's last run stopped early (its time budget, its key cap or the "
            "next poll): its figures then cover only part of the keys. "
            "RedisExporterWalkTruncated fires after 30 minutes of this.",
            [Q(sel("redis_exporter_walk_truncated", NODE), "{{instance}} {{source}}")],
            TRUNCATED,
        ),
    )


def _celery(board: Board) -> None:
    board.row("Celery")
    walk = 'source=~"celery|celery-results"'
    board.add(
        timeseries_panel(
            "Celery queue length",
            "Messages waiting in each Celery queue, kombu's priority lists included (masters "
            "only; --celery-queue or --celery-queues-from-bindings). The dashed line is the "
            "100 of RedisCeleryQueueGrowing, which fires only while the queue also keeps growing.",
            "short",
            [Q(sel("redis_celery_queue_length"), "{{instance}} {{queue}}")],
            thresholds=steps((None, "green"), (100, "orange")),
        ),
        timeseries_panel(
            "Celery unacked messages",
            "Messages Celery workers have taken and not acknowledged yet (kombu's unacked hash): "
            "tasks running, prefetched, or held until their ETA.",
            "short",
            [Q(sel("redis_celery_unacked"), "{{instance}}")],
            size=(6, 8),
        ),
        timeseries_panel(
            "Oldest unacked Celery message",
            "Age of the oldest unacknowledged message, by the server's clock (0 when none). "
            "kombu hands it to another worker past its visibility_timeout (1 h by default); "
            "RedisCeleryUnackedTooOld fires at 30 minutes.",
            "s",
            [Q(sel("redis_celery_unacked_oldest_age_seconds"), "{{instance}}")],
            size=(6, 8),
            thresholds=steps((None, "green"), (1800, "orange"), (3600, "red")),
        ),
        timeseries_panel(
            "Celery result keys",
            "Keys of the result backend (celery-task-meta-*; --celery-results), and those "
            "without a TTL, estimated from a sample of --celery-results-sample keys: they are "
            "never deleted (result_expires None or 0).",
            "short",
            [
                Q(sel("redis_celery_result_keys"), "{{instance}} results"),
                Q(sel("redis_celery_result_keys_without_ttl"), "{{instance}} without TTL"),
            ],
        ),
        timeseries_panel(
            "Celery result memory",
            "Estimated memory of the result keys: their sampled mean MEMORY USAGE times their "
            "count.",
            "bytes",
            [Q(sel("redis_celery_result_memory_bytes"), "{{instance}}")],
        ),
        timeseries_panel(
            "Celery walk duration",
            "Seconds the Celery figures took on each poll, read after the poll on its "
            "connection, within their budgets (--celery-budget and --celery-results-budget, "
            "1 s each by default).",
            "s",
            [Q(sel("redis_exporter_walk_duration_seconds", NODE, walk), "{{instance}} {{source}}")],
            size=(12, 6),
        ),
        timeline_panel(
            "Celery walk truncated",
            "Whether the last Celery walks ran out of their budgets and stopped: their figures "
            "then cover only part of the queues or result keys.",
            [Q(sel("redis_exporter_walk_truncated", NODE, walk), "{{instance}} {{source}}")],
            TRUNCATED,
        ),
    )
