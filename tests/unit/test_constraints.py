"""tools/constraints.py: pins carry the environment markers of the dependencies behind them."""

from __future__ import annotations

import sys

import pytest

from tools.constraints import Pin, closure, possible, read_pins, runtime_pins


def test_a_pin_keeps_its_marker_and_applies_only_where_it_holds() -> None:
    text = (
        "# a comment\n"
        "redis==8.2.0\n"
        'async-timeout==5.0.1; python_full_version < "3.11.3"\n'
        'uvloop==0.23.0 ; sys_platform != "win32"\n'
    )
    pins = read_pins(text)
    assert pins["redis"] == Pin("8.2.0")
    assert pins["async-timeout"] == Pin("5.0.1", 'python_full_version < "3.11.3"')
    assert pins["async-timeout"].applies() is (sys.version_info < (3, 11, 3))
    assert pins["uvloop"].applies() is (sys.platform != "win32")
    assert pins["async-timeout"].line("async-timeout") == (
        'async-timeout==5.0.1; python_full_version < "3.11.3"'
    )


def test_an_unpinned_line_is_refused() -> None:
    with pytest.raises(ValueError, match="not pinned"):
        read_pins("redis>=8\n")


def test_markers_for_pythons_we_do_not_claim_are_dropped() -> None:
    assert possible('python_full_version < "3.11.3"', ["3.11", "3.12"])
    assert not possible('python_version < "3.11"', ["3.11", "3.12", "3.13"])
    assert possible('python_version < "3.13"', ["3.13", "3.12"])


def test_redis_pulls_async_timeout_only_below_3_11_3_whatever_runs_the_tool() -> None:
    known = {"async-timeout": Pin("5.0.1", "ignored")}
    pins = closure(["redis>=8.1,<9"], known)
    assert pins["async-timeout"].marker == 'python_full_version < "3.11.3"'
    assert pins["redis"].marker == ""
    here = runtime_pins(["redis>=8.1,<9"], known)
    assert ("async-timeout" in here) is (sys.version_info < (3, 11, 3))


def test_a_dependency_needed_unconditionally_by_one_parent_has_no_marker() -> None:
    # starlette wants typing-extensions below 3.13 only; pydantic always.
    pins = closure(["starlette>=1.10,<2", "pydantic>=2.14,<3"])
    assert pins["typing-extensions"].marker == ""
