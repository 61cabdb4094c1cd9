"""redis_ha_exporter.landing: the status page as first served, complete without JavaScript; escaped;
compact at 100 nodes in 10 groups."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

from redis_ha_exporter.landing import FAILOVER_SETTLE_SECONDS, render_landing
from redis_ha_exporter.snapshot import Failover, GroupState, NodeSnapshot
from redis_ha_exporter.sources.info import InfoRecord
from redis_ha_exporter.store import Store
from tests.unit import captured
from tests.unit.sentinels import sentinel, view

NOW = 1_800_000_000.0
HOSTILE = '<img src=x onerror="alert(1)">&'
VOID = {"meta", "rect", "line", "br", "img", "input", "link"}


def data(
    instance: str,
    group: str,
    role: str,
    *,
    up: bool = True,
    error: str = "",
    maxmemory: int = 64 << 20,
    replication: dict[str, str] | None = None,
) -> NodeSnapshot:
    """A data node whose last good poll had memory, clients, ops/s and replication figures."""
    info = {
        "clients": {"connected_clients": "7"},
        "memory": {
            "used_memory": str(24 << 20),
            "maxmemory": str(maxmemory),
            "total_system_memory": str(16 << 30),
        },
        "stats": {"instantaneous_ops_per_sec": "1234"},
        "replication": {"role": role, **(replication or {})},
    }
    return NodeSnapshot(
        instance,
        "data",
        groups=(group,),
        up=up,
        error=error,
        polled_at=NOW - 1.25,
        last_success_at=NOW - 1.25,
        polls=5,
        role=role,
        records={InfoRecord: InfoRecord.of(info)},
    )


def big_store(groups: int = 10, replicas: int = 6, sentinels: int = 3) -> Store:
    """groups * (1 master + replicas + sentinels) nodes (100 by default), with one of each
    trouble: a down replica, a lagging link, split brain, no master, a dissenting Sentinel,
    no maxmemory, and a failover history that grows with the group number."""
    store = Store(1.0)
    states = {}
    for g in range(groups):
        name = f"cache-{g:02d}"
        master = f"10.0.{g}.1:6379"
        reps = [f"10.0.{g}.{i + 2}:6379" for i in range(replicas)]
        sents = [f"10.0.{g}.{i + 20}:26379" for i in range(sentinels)]
        lines = {
            f"slave{i}": f"ip=10.0.{g}.{i + 2},port=6379,state=online,offset={offset},lag=0"
            for i in range(replicas)
            for offset in [10**6 - i * 4096]
        }
        store.put(
            data(
                master,
                name,
                "master",
                up=g != 7,
                error="Timeout connecting" if g == 7 else "",
                maxmemory=0 if g == 4 else 64 << 20,
                replication={"master_repl_offset": str(10**6), **lines},
            )
        )
        for i, rep in enumerate(reps):
            down = g == 3 and i == 0
            store.put(
                data(
                    rep,
                    name,
                    "master" if g == 5 and i == 0 else "slave",
                    up=not down,
                    error=HOSTILE if down else "",
                    replication={
                        "master_host": f"10.0.{g}.1",
                        "master_port": "6379",
                        "master_link_status": "down" if g == 2 and i == 1 else "up",
                    },
                )
            )
        for i, address in enumerate(sents):
            named = reps[0] if g == 6 and i == 2 else master
            others = [s for s in sents if s != address]
            snap = sentinel(address, view(name, named, reps, others))
            store.put(replace(snap, polled_at=NOW - 0.5, last_success_at=NOW - 0.5))
        history = tuple(
            Failover(NOW - 3600 * (g - k), reps[k % replicas], master, k + 1) for k in range(g)
        )
        states[name] = GroupState(
            name, failovers=g, config_epoch=g, master_address=master, history=history
        )
    store.set_groups(states)
    return store


def lost_master_store() -> Store:
    """A group whose master is gone from the store (the Sentinels still name it), beside a
    static target that was never polled."""
    store = Store(1.0)
    replicas = ["10.1.0.2:6379", "10.1.0.3:6379"]
    for address in replicas:
        store.put(data(address, "lost", "slave", replication={"master_link_status": "down"}))
    store.put(sentinel("10.1.0.20:26379", view("lost", "10.1.0.1:6379", replicas, ())))
    store.put(NodeSnapshot("10.1.0.9:6379", "unknown"))
    store.set_groups({"lost": GroupState("lost", master_address="10.1.0.1:6379")})
    return store


class Tags(HTMLParser):
    """Counts start tags by name and class, and checks every non-void element is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.count: dict[str, int] = {}
        self.errors: list[str] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.count[tag] = self.count.get(tag, 0) + 1
        for cls in (dict(attrs).get("class") or "").split():
            self.count[f"{tag}.{cls}"] = self.count.get(f"{tag}.{cls}", 0) + 1
        if tag == "script":
            self.scripts.append(dict(attrs))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.count[tag] = self.count.get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:]}")
        else:
            self.open.pop()


def parsed(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    tags.close()
    assert tags.errors == [] and tags.open == []
    return tags


def test_hundred_nodes_in_ten_groups_stay_compact() -> None:
    page = render_landing(big_store(), NOW)
    tags = parsed(page)
    assert tags.count["article"] == 10
    assert tags.count["svg"] == 10
    assert tags.count["tr"] == 101  # header + one row per node
    assert tags.count["g.node"] == 100
    assert tags.count["div.bar"] == 70  # every data node; Sentinels have none
    assert tags.count["li"] == sum(range(10))  # one timeline entry per failover
    assert len(page) < 160_000, len(page)
    # Each diagram is as tall as its longest column (6 replicas; 5 beside 2 masters in the
    # split brain), not the whole page.
    heights = [int(h) for h in re.findall(r'<svg class="topo" viewBox="0 0 730 (\d+)"', page)]
    assert heights == [6 * 40 + 8] * 5 + [5 * 40 + 8] + [6 * 40 + 8] * 4


def test_page_is_complete_without_javascript() -> None:
    page = render_landing(big_store(), NOW)
    group = page.split('data-group="cache-02"', 1)[1].split("</article>", 1)[0]
    assert 'Master: <span class="master"><code>10.0.2.1:6379</code></span>' in group
    assert "failovers seen: 2" in group
    assert "up · 0 B · 0s" in group  # the first replica is level with the master
    assert "down · 4.0 KiB · 0s" in group  # the second lags 4096 bytes, its link down
    assert "up · 8.0 KiB · 0s" in group
    assert '<g class="edge bad">' in group
    assert "master · 1234 ops/s · 7 clients" in group
    assert (
        '<li><time>2027-01-15 07:00:00 UTC</time> <code class="from">10.0.2.3:6379</code> → '
        '<code class="to">10.0.2.1:6379</code>'
    ) in group


def test_trouble_is_visible() -> None:
    page = render_landing(big_store(), NOW)
    groups = dict(re.findall(r'data-group="([\w-]+)"(.*?)</article>', page, flags=re.S))
    assert 'class="node data replica down"' in groups["cache-03"]
    assert '<span class="bad">split brain</span>' in groups["cache-05"]
    assert 'Master: <span class="master"><span class="bad">none</span>' in groups["cache-07"]
    # The master the Sentinels name stays in the master column, drawn down.
    assert (
        'class="node data master down"><title>10.0.7.1:6379 — down: Timeout connecting'
        in (groups["cache-07"])
    )
    assert 'class="node sentinel odd"' in groups["cache-06"]
    assert '<span class="bad">disagree</span>' in groups["cache-06"]
    assert "no failover seen since the exporter started" in groups["cache-00"]
    rows = page.split("<tbody>", 1)[1]
    no_limit = rows.split("<td>10.0.4.1:6379</td>", 1)[1].split("</tr>", 1)[0]
    assert '<div class="bar nolimit"><i class="" style="width:0.1%"></i></div>' in no_limit
    assert "24.0 MiB of 16.0 GiB system · no limit" in no_limit
    limited = rows.split("<td>10.0.0.1:6379</td>", 1)[1].split("</tr>", 1)[0]
    assert 'style="width:37.5%"' in limited and "24.0 MiB / 64.0 MiB" in limited
    assert "1.2s ago" in limited or "1.3s ago" in limited


def test_no_master_at_all_leaves_a_placeholder_and_no_edges() -> None:
    page = render_landing(lost_master_store(), NOW)
    tags = parsed(page)
    assert 'class="node data master down"><title>Sentinels name 10.1.0.1:6379</title>' in page
    assert ">no master</text>" in page
    assert "g.edge" not in tags.count and "g.names" not in tags.count
    assert tags.count["g.node"] == 4  # placeholder, 2 replicas, 1 Sentinel
    assert "not yet polled" in page


def test_untrusted_text_is_escaped() -> None:
    store = big_store(groups=4)
    evil = '"><script>alert(2)</script>'
    store.put(replace(data("10.9.9.9:6379", evil, "slave"), up=False, error=HOSTILE))
    store.set_groups({**store.groups, evil: GroupState(evil, master_address=evil)})
    page = render_landing(store, NOW)
    parsed(page)
    assert HOSTILE not in page and evil not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in page
    assert "&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert page.count("<script>") == 1


def test_script_is_inline_and_polls_the_api() -> None:
    page = render_landing(big_store(groups=1), NOW)
    tags = parsed(page)
    assert tags.scripts == [{}]  # one inline script, no src
    assert 'fetch("api/topology.html"' in page  # the server's render of the live part
    assert "setTimeout(refresh,EVERY*1000)" in page and "EVERY=2;" in page
    script = page.split("<script>", 1)[1]
    assert "<td" not in script and "<svg" not in script  # no second renderer
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no external assets


def test_static_targets_only_show_the_node_table() -> None:
    store = Store(1.0)
    store.put(captured.snapshot("redis70", "master", groups=()))
    store.put(NodeSnapshot("10.0.0.5:6379", "unknown"))
    page = render_landing(store, captured.NOW)
    tags = parsed(page)
    assert "svg" not in tags.count and "article" not in tags.count
    assert tags.count["tr"] == 3
    assert "not yet polled" in page and "never" in page


def failing_over(seconds_ago: float) -> Store:
    """A failover from 10.2.0.1 to 10.2.0.2 `seconds_ago`; the Sentinels name the new master,
    and the old one still answers with role:master."""
    store = Store(1.0)
    old, new = "10.2.0.1:6379", "10.2.0.2:6379"
    store.put(data(old, "fo", "master"))
    store.put(data(new, "fo", "master"))
    store.put(sentinel("10.2.0.20:26379", view("fo", new, [old], ())))
    failover = Failover(NOW - seconds_ago, old, new, 2)
    store.set_groups(
        {
            "fo": GroupState(
                "fo", failovers=1, config_epoch=2, master_address=new, history=(failover,)
            )
        }
    )
    return store


def test_two_masters_just_after_a_failover_are_a_failover_in_progress_then_a_split_brain() -> None:
    soon = render_landing(failing_over(5), NOW)
    assert "failover in progress: old master not yet reconfigured" in soon
    assert "split brain" not in soon
    late = render_landing(failing_over(FAILOVER_SETTLE_SECONDS + 1), NOW)
    assert '<span class="bad">split brain</span>' in late
    assert "failover in progress" not in late


def test_the_node_table_says_replica_never_slave() -> None:
    rows = render_landing(big_store(), NOW).split("<tbody>", 1)[1]
    assert "<td>replica</td>" in rows and "slave" not in rows


def test_a_node_that_refuses_command_families_says_which() -> None:
    store = Store(1.0)
    store.put(
        replace(data("10.3.0.1:6379", "x", "master"), refused=frozenset({"config", "slowlog"}))
    )
    row = render_landing(store, NOW).split("<td>10.3.0.1:6379</td>", 1)[1].split("</tr>", 1)[0]
    assert '<small class="bad">refuses CONFIG, SLOWLOG</small>' in row
