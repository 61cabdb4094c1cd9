"""The benchmark's data set: about 5,000 keys of mixed types (strings, hashes, lists, sets,
sorted sets, streams; some with a TTL) in databases 0 and 1, and a full slowlog (128 entries,
as on a busy server), the same on every server."""

from __future__ import annotations

import random

import redis

KEYS = 5000
SLOWLOG_ENTRIES = 200


def load(port: int, password: str, keys: int = KEYS, seed: int = 1618) -> None:
    rng = random.Random(seed)
    for db, count in ((0, keys * 9 // 10), (1, keys - keys * 9 // 10)):
        with redis.Redis("127.0.0.1", port, db=db, password=password) as client:
            pipe = client.pipeline(transaction=False)
            for i in range(count):
                kind = rng.random()
                key = f"bench:{db}:{i}"
                if kind < 0.5:
                    pipe.set(key, rng.randbytes(rng.choice((8, 64, 512))).hex())
                elif kind < 0.65:
                    pipe.hset(key, mapping={f"f{j}": rng.randint(0, 10**6) for j in range(10)})
                elif kind < 0.8:
                    pipe.rpush(key, *(str(rng.random()) for _ in range(10)))
                elif kind < 0.88:
                    pipe.sadd(key, *(f"m{j}" for j in rng.sample(range(1000), 10)))
                elif kind < 0.96:
                    pipe.zadd(key, {f"m{j}": rng.random() for j in range(10)})
                else:
                    for j in range(5):
                        pipe.xadd(key, {"n": str(j)})
                if rng.random() < 0.1:
                    pipe.expire(key, 3600 + i)
                if i % 500 == 499:
                    pipe.execute()
            pipe.execute()
    with redis.Redis("127.0.0.1", port, password=password, decode_responses=True) as client:
        # Every command is slow for a moment: the slowlog fills with real entries.
        before = client.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
        client.config_set("slowlog-log-slower-than", 0)
        for i in range(SLOWLOG_ENTRIES):
            client.type(f"bench:0:{i}")
        client.config_set("slowlog-log-slower-than", before)
