"""The benchmark workloads written for DBOS (``bench/peers.py`` imports this in the
process that runs DBOS, after ``DBOS(config=...)``): the same shapes as
``handlers.py``, as ``@DBOS.workflow`` / ``@DBOS.step``."""

from __future__ import annotations

from dbos import DBOS


@DBOS.step()
def value(i: int) -> int:
    return i


@DBOS.workflow()
def sequential(steps: int) -> int:
    total = 0
    for i in range(steps):
        total += value(i)
    return total


@DBOS.step()
def double(i: int) -> int:
    return i * 2


@DBOS.workflow()
def map_item(i: int) -> int:
    return double(i)


@DBOS.workflow()
def map_items(items: int) -> int:
    """DBOS's fan-out idiom: a child workflow per item, started at once, then joined."""
    handles = [DBOS.start_workflow(map_item, i) for i in range(items)]
    return sum(h.get_result() for h in handles)


@DBOS.step()
def after(message: str) -> str:
    return message


@DBOS.workflow()
def await_message() -> str:
    DBOS.set_event("ready", True)
    message = DBOS.recv("callback", timeout_seconds=60)
    return after(str(message))
