"""The database work of an execution is a constant number of statements.

Every statement the engine sends is counted (on both backends), phase by phase, while
executions run exactly as a worker runs them: start, claim, the handler's checkpoints,
the end of the invocation. Neither the number of steps before a checkpoint nor the
number of executions already in the database may change what one phase costs; a
query that grew with either (a scan, a read of all operations per step) fails here.
docs/architecture.md ("Where the time goes") explains the figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.run.worker import Worker
from perdure.store import open_store
from perdure.store.common import SqlTransaction

HANDLERS = Path(__file__).parent.parent / "handlers"
# Statements per transaction besides BEGIN and COMMIT, per backend, as measured (fewer
# on PostgreSQL, where a transaction's reads are one statement and its writes one more:
# perdure.store.postgres.PgTransaction). A checkpoint is one step's START and SUCCEED,
# batched by the SDK. No room for a loop.
BUDGETS = {
    "sqlite": {"start": 5, "claim": 3, "checkpoint": 5, "complete": 6},
    "postgres": {"start": 3, "claim": 2, "checkpoint": 2, "complete": 2},
}


class _CountingCursor:
    """A DB-API cursor that counts what goes through it (one per executemany row)."""

    def __init__(self, cursor: Any, record: list[Any]) -> None:
        self._cursor = cursor
        self._record = record  # [phase, statements]

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        self._record[1] += 1
        return self._cursor.execute(query, params)

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> Any:
        rows = list(rows)
        self._record[1] += len(rows)
        return self._cursor.executemany(query, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class Meter:
    """Counts statements per transaction, each labelled with the phase the test is in."""

    def __init__(self) -> None:
        self.phase = ""
        self.transactions: list[list[Any]] = []  # [phase, statements] per transaction

    def wrap(self, cursor: Any) -> _CountingCursor:
        record: list[Any] = [self.phase, 0]
        self.transactions.append(record)
        return _CountingCursor(cursor, record)

    def by_phase(self, phase: str) -> list[int]:
        return [n for p, n in self.transactions if p == phase]


@pytest.fixture
def meter(monkeypatch: pytest.MonkeyPatch) -> Meter:
    meter = Meter()
    original = SqlTransaction.__init__

    def counting_init(self: SqlTransaction, cursor: Any, dialect: Any) -> None:
        original(self, meter.wrap(cursor), dialect)

    monkeypatch.setattr(SqlTransaction, "__init__", counting_init)
    return meter


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    spec = FunctionSpec(name="Sequential", handler="basic.sequential", code_uri=HANDLERS, timeout_s=60)
    store = open_store(db_url)
    try:
        yield Engine(store, {spec.name: spec})
    finally:
        store.close()


def _run(engine: Engine, worker: Worker, meter: Meter, steps: int) -> None:
    spec = engine.functions["Sequential"]
    meter.phase = "start"
    row, _ = engine.start_execution(spec.name, json.dumps({"steps": steps}))
    meter.phase = "claim"
    [invocation] = engine.claim([spec.name], 1, "test")
    meter.phase = "checkpoint"
    outcome = worker._invoke(invocation, spec)
    meter.phase = "complete"
    engine.complete_invocation(invocation.arn, invocation.invocation_id, outcome, invocation=invocation)
    meter.phase = ""
    assert engine.get_execution(row.arn).result == str(sum(range(steps)))


def test_an_execution_costs_a_constant_number_of_statements(engine: Engine, meter: Meter) -> None:
    worker = Worker(engine, lambda message: None)
    _run(engine, worker, meter, 3)  # warm: handler import, first connections
    costs: dict[str, set[int]] = {}
    for steps in (3, 12, 3):  # a longer execution between two short ones
        meter.transactions.clear()
        _run(engine, worker, meter, steps)
        for phase in ("start", "claim", "complete"):
            assert len(meter.by_phase(phase)) == 1, (phase, meter.transactions)
            costs.setdefault(phase, set()).update(meter.by_phase(phase))
        checkpoints = meter.by_phase("checkpoint")
        # One transaction per step (the SDK batches a step's START with its result),
        # each costing the same whatever the step's position.
        assert len(checkpoints) == steps, checkpoints
        costs.setdefault("checkpoint", set()).update(checkpoints)
    assert all(len(counts) == 1 for counts in costs.values()), costs
    cost = {phase: counts.pop() for phase, counts in costs.items()}
    budget = BUDGETS["postgres" if engine.store.url.startswith("postgres") else "sqlite"]
    assert all(cost[phase] <= budget[phase] for phase in budget), (cost, budget)

    # A database holding many more executions costs the same per execution.
    for _ in range(30):
        _run(engine, worker, meter, 1)
    meter.transactions.clear()
    _run(engine, worker, meter, 3)
    assert {phase: set(meter.by_phase(phase)) for phase in cost} == {phase: {n} for phase, n in cost.items()}


def test_finding_ready_work_reads_only_ready_executions(tmp_path: Path) -> None:
    """The scheduler's queries walk the index of ready executions, never all of a
    function's executions (their number grows with history, up to the retention)."""
    import sqlite3

    store = open_store(f"sqlite:///{tmp_path / 'plan.db'}")
    queries: list[tuple[str, Sequence[Any]]] = []

    class Recording:
        def __init__(self, cursor: Any) -> None:
            self._cursor = cursor

        def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
            queries.append((query, params))
            return self._cursor.execute(query, params)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._cursor, name)

    with store.transaction() as tx:
        tx._cur = Recording(tx._cur)  # type: ignore[attr-defined]
        tx.ready_executions(1, ["Sequential", "Other"], 8)
        tx.next_wakeup_ms(["Sequential"])
    store.close()
    with sqlite3.connect(tmp_path / "plan.db") as conn:
        for query, params in queries:
            plan = " / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}", params))
            assert "executions_by_function" not in plan and "SCAN executions" not in plan, (query, plan)
            assert "USING INDEX executions_ready" in plan, (query, plan)
