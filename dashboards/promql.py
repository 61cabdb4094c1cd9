"""PromQL building blocks: the variables' selectors, rates over $__rate_interval, and the
memory and Sentinel-group expressions several panels share."""

from __future__ import annotations

# Selector fragments. A Sentinel watching several groups has master_name="a,b" on
# redis_instance_info, so a node belongs to the selected groups when any listed name matches.
JOB = 'job=~"$job"'
NODE = 'job=~"$job",instance=~"$instance"'
GROUP = 'job=~"$job",master_name=~"$master_name"'
IN_GROUPS = 'job=~"$job",master_name=~"(.*,)?($master_name)(,.*)?"'


def sel(metric: str, matchers: str = NODE, *extra: str) -> str:
    """`metric{matchers,extra...}`: by default one node series, filtered by job and instance."""
    return f"{metric}{{{','.join((matchers, *extra))}}}"


def rate(selector: str) -> str:
    return f"rate({selector}[$__rate_interval])"


def increase(selector: str) -> str:
    return f"increase({selector}[$__rate_interval])"


def memory_ratio(by: str = "") -> str:
    """Used memory over maxmemory, over the host's memory where maxmemory is 0 (no limit)."""
    ratio = (
        f"{sel('redis_memory_used_bytes')} / "
        f"({sel('redis_memory_max_bytes')} > 0 or {sel('redis_total_system_memory_bytes')})"
    )
    return f"max by ({by}) ({ratio})" if by else ratio


def with_group(selector: str) -> str:
    """Adds the node's Sentinel group (`master_name`) and keeps only nodes of selected groups."""
    return (
        f"{selector} * on(job, instance) group_left(master_name) "
        f"{sel('redis_instance_info', GROUP)}"
    )
