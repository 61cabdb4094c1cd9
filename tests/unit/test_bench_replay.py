"""The benchmark's replay server (bench/replay.py): captured replies per command on many ports,
each port its own node, and the INFO arrival times that poll-start lateness is computed from."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bench.lateness import node_lateness
from bench.replay import Replayer, Stats, node_run_id, serve
from bench.resp import Key, frame_end

INFO = b"# Server\r\nredis_version:7.0.15\r\nrun_id:" + b"a" * 40 + b"\r\ntcp_port:6379\r\n"
CAPTURED: dict[Key, bytes] = {
    (b"INFO", b"SERVER"): b"$%d\r\n%s\r\n" % (len(INFO), INFO),
    (b"SLOWLOG", b"LEN"): b":3\r\n",
    (b"CONFIG", b"GET", b"MAXMEMORY"): b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
}


async def _session(nodes: int) -> tuple[Stats, list[int], list[list[object]]]:
    replayer = Replayer(CAPTURED)
    ports: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(replayer, nodes, ports))
    seen: list[list[object]] = []
    try:
        for port in await ports:
            client = Redis(port=port, password="secret", client_name="bench", protocol=2)
            try:
                info = await client.info("server")
                async with client.pipeline(transaction=False) as pipe:
                    pipe.execute_command("SLOWLOG", "LEN")
                    pipe.execute_command("config", "get", "maxmemory")
                    pipe.execute_command("FLUSHALL")
                    replies = await pipe.execute(raise_on_error=False)
                seen.append([info["run_id"], info["tcp_port"], *replies])
            finally:
                await client.aclose()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return replayer.stats, await ports, seen


def test_each_port_answers_the_captured_replies_as_its_own_node() -> None:
    stats, ports, seen = asyncio.run(_session(3))
    assert len(set(ports)) == 3
    for port, (run_id, tcp_port, slowlog_len, config, flushall) in zip(ports, seen, strict=True):
        assert (run_id, tcp_port) == (node_run_id(port), port)
        assert slowlog_len == 3
        assert config == [b"maxmemory", b"0"]  # normalized: the command's case does not matter
        assert isinstance(flushall, ResponseError)
        assert "unknown command" in str(flushall)
    # AUTH and CLIENT SETNAME were answered generically; only FLUSHALL was unknown.
    assert stats.unknown == {"FLUSHALL": 3}
    assert {p: len(t) for p, t in stats.arrivals.items()} == dict.fromkeys(ports, 1)
    assert stats.connections == dict.fromkeys(ports, 1)


def test_frame_end_finds_whole_replies_only() -> None:
    reply = b"*3\r\n$3\r\nfoo\r\n*2\r\n:1\r\n*0\r\n%1\r\n+k\r\n_\r\n+OK\r\n"
    whole = len(reply) - len(b"+OK\r\n")
    assert frame_end(reply) == whole
    assert frame_end(reply, whole) == len(reply)
    assert all(frame_end(reply[:cut]) is None for cut in range(whole))


def test_lateness_is_measured_against_the_nodes_grid() -> None:
    # First poll off-grid, then ticks at 100 + 10k; tick 2 is 0.5 s late, tick 4 skipped.
    times = [93.0, 93.001, 100.0, 110.0, 120.5, 130.0, 150.0]
    grid, gaps = node_lateness(times, 10.0, 0.0, 1000.0)
    assert grid == pytest.approx([0.0, 0.0, 0.5, 0.0, 0.0])
    assert gaps == pytest.approx([0.0, 0.5, 0.0, 10.0])
