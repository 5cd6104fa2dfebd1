"""The console's read-only views on each backend (SQLite and PostgreSQL): search across
functions with LIKE's wildcards taken literally, counts by status, operations in order."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.errors import InvalidParameterValue, ResourceNotFound
from perdure.ops import inspection
from perdure.ops.inspection import ExecutionQuery
from perdure.store import open_store


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    specs = {n: FunctionSpec(name=n, handler="x.y") for n in ("A", "B")}
    engine = Engine(open_store(db_url), specs)
    yield engine
    engine.store.close()


def _names(rows: list[object]) -> list[str]:
    return [r.name for r in rows]  # type: ignore[attr-defined]


def test_search_counts_and_pages(engine: Engine) -> None:
    arns = {}
    for name, fn in [("order-1", "A"), ("order-2", "A"), ("order_3", "B"), ("100%-real", "B"), ("other", "A")]:
        arns[name] = engine.start_execution(fn, "{}", name)[0].arn
        if name == "other":
            engine.stop_execution(arns[name], None)
        time.sleep(0.003)  # distinct start times: newest first is then the order above, reversed
    everything, marker = inspection.search_executions(engine, ExecutionQuery())
    assert marker is None and sorted(_names(everything)) == sorted(arns)
    assert _names(everything) == list(reversed(list(arns)))  # newest first
    assert sorted(_names(inspection.search_executions(engine, ExecutionQuery(text="order"))[0])) == ["order-1", "order-2", "order_3"]
    # "_" and "%" are literal, not LIKE wildcards.
    assert _names(inspection.search_executions(engine, ExecutionQuery(text="r_3"))[0]) == ["order_3"]
    assert _names(inspection.search_executions(engine, ExecutionQuery(text="0%"))[0]) == ["100%-real"]
    by_arn = inspection.search_executions(engine, ExecutionQuery(text=arns["order-2"]))[0]
    assert _names(by_arn) == ["order-2"]
    only_b = inspection.search_executions(engine, ExecutionQuery(functions=["B"]))[0]
    assert sorted(_names(only_b)) == ["100%-real", "order_3"]
    stopped = inspection.search_executions(engine, ExecutionQuery(statuses=["STOPPED"]))[0]
    assert _names(stopped) == ["other"]
    # Two pages of two, then one.
    seen: list[str] = []
    marker = None
    for _ in range(3):
        page, marker = inspection.search_executions(engine, ExecutionQuery(), marker, limit=2)
        seen += _names(page)
    assert marker is None and seen == _names(everything)
    assert inspection.execution_counts(engine) == {"A": {"RUNNING": 2, "STOPPED": 1}, "B": {"RUNNING": 2}}
    with pytest.raises(InvalidParameterValue):
        inspection.search_executions(engine, ExecutionQuery(), "not-a-marker")
    with pytest.raises(InvalidParameterValue):
        inspection.search_executions(engine, ExecutionQuery(), limit=0)


def test_operations_in_creation_order(engine: Engine) -> None:
    arn = engine.start_execution("A", "{}", "ops")[0].arn
    ops = inspection.operations(engine, arn)
    assert [op["Type"] for op in ops] == ["EXECUTION"]
    assert [e["EventType"] for e in inspection.all_events(engine, arn)] == ["ExecutionStarted"]
    with pytest.raises(ResourceNotFound):
        inspection.operations(engine, arn + "x")
