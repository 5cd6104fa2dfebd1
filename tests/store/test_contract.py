"""The storage contract, on every backend: what several processes sharing one database
rely on (claims, timers, leases, migrations)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from perdure.core.engine import Engine, Outcome
from perdure.deploy.functions import FunctionSpec
from perdure.errors import InvalidParameterValue
from perdure.store import SchemaError, open_store
from perdure.store.sql import SCHEMA_VERSION

SPEC = {"Fn": FunctionSpec(name="Fn", handler="x.y", timeout_s=30, execution_timeout_s=600)}


def _engines(db_url: str, n: int) -> list[Engine]:
    """``n`` engines, each with its own store (its own connections), like ``n`` processes."""
    return [Engine(open_store(db_url), SPEC) for _ in range(n)]


def _in_threads(n: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def test_concurrent_claims_never_hand_out_one_execution_twice(db_url: str) -> None:
    engines = _engines(db_url, 4)
    arns = {engines[0].start_execution("Fn", None)[0].arn for _ in range(60)}
    claimed: list[list[str]] = [[] for _ in engines]

    def claim(i: int) -> None:
        while invocations := engines[i].claim(None, 3, f"w{i}"):
            claimed[i].extend(inv.arn for inv in invocations)

    _in_threads(len(engines), claim)
    everything = [arn for per in claimed for arn in per]
    assert sorted(everything) == sorted(arns)  # all claimed, none twice
    for engine in engines:
        engine.store.close()


def test_each_due_timer_fires_once_across_concurrent_schedulers(db_url: str) -> None:
    engines = _engines(db_url, 3)
    first = engines[0]
    arns = []
    for _ in range(20):
        row, _ = first.start_execution("Fn", None)
        [inv] = first.claim(None, 1, "w")
        wait = {"Id": "w1", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": 1}}
        first.checkpoint(row.arn, inv.token, [wait], None)
        first.complete_invocation(row.arn, inv.invocation_id, Outcome("PENDING"))
        arns.append(row.arn)
    time.sleep(1.05)
    fired = [0 for _ in engines]

    def fire(i: int) -> None:
        while n := engines[i].fire_due(limit=4):
            fired[i] += n

    _in_threads(len(engines), fire)
    assert sum(fired) == len(arns)
    for arn in arns:
        types = Counter(e["EventType"] for e in first.history(arn, None, None, False, True)[0])
        assert types["WaitSucceeded"] == 1
    assert sorted(i.arn for i in first.claim(None, 100, "w")) == sorted(arns)
    for engine in engines:
        engine.store.close()


def test_renewing_a_lease_needs_the_owner_and_a_running_invocation(db_url: str) -> None:
    engine = _engines(db_url, 1)[0]
    row, _ = engine.start_execution("Fn", None)
    [inv] = engine.claim(None, 1, "w1")
    with engine.store.transaction() as tx:
        assert tx.renew_leases("w1", [inv.invocation_id, "gone"], 123) == [inv.invocation_id]
        assert tx.renew_leases("w2", [inv.invocation_id], 456) == []
        got = tx.get_execution(row.arn)
    assert got is not None and got.lease_expires_ms == 123
    engine.complete_invocation(row.arn, inv.invocation_id, Outcome("PENDING"))
    with engine.store.transaction() as tx:
        assert tx.renew_leases("w1", [inv.invocation_id], 789) == []
    engine.store.close()


def test_store_refuses_a_schema_newer_than_the_code(db_url: str) -> None:
    open_store(db_url).close()
    store = open_store(db_url)
    with store.transaction() as tx:
        tx._exec("UPDATE perdure_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))  # type: ignore[attr-defined]
    store.close()
    with pytest.raises(SchemaError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this perdure's"):
        open_store(db_url)


def _version_1_database(db_url: str) -> None:
    """A database as the first release left it: only migration 1 applied, one execution."""
    from perdure.store.common import migrate

    if db_url.startswith("sqlite:///"):
        import sqlite3

        from perdure.store.sqlite import DIALECT

        conn: Any = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN")
    else:
        import psycopg

        from perdure.store.postgres import DIALECT  # type: ignore[assignment]

        conn = psycopg.connect(db_url)
    cur = conn.cursor()
    migrate(cur, DIALECT, "test", up_to=1)
    cur.execute(DIALECT.rewrite(
        "INSERT INTO executions (arn, function_name, name, status, input, start_ms, retention_days, "
        "next_event_id, op_seq, op_pos, token_seq, seen_seq, failures, ready_ms) "
        "VALUES ('arn:old', 'Fn', 'old', 'RUNNING', ?, 1, 7, 1, 0, 0, 0, 0, 0, 1)"
    ), ('"kept"',))
    conn.execute("COMMIT") if db_url.startswith("sqlite:///") else conn.commit()
    conn.close()


def test_a_version_1_database_is_migrated_and_keeps_its_rows(db_url: str) -> None:
    from perdure.store import sql

    _version_1_database(db_url)
    engine = Engine(open_store(db_url), SPEC)
    assert engine.get_execution("arn:old").input == '"kept"'
    with engine.store.transaction() as tx:
        assert tx._one(sql.GET_SCHEMA_VERSION)[0] == str(SCHEMA_VERSION)  # type: ignore[attr-defined]
    [inv] = engine.claim(None, 1, "w", lease_ms=1000)
    assert inv.arn == "arn:old"
    engine.store.close()


def test_an_invocation_whose_lease_runs_out_is_failed_and_run_again(db_url: str) -> None:
    engine = _engines(db_url, 1)[0]
    row, _ = engine.start_execution("Fn", None)
    [lost] = engine.claim(None, 1, "dead-worker", lease_ms=300)
    [kept_row, _] = engine.start_execution("Fn", None)
    [kept] = engine.claim(None, 1, "live-worker", lease_ms=300)
    time.sleep(0.2)
    with engine.store.transaction() as tx:
        tx.renew_leases("live-worker", [kept.invocation_id], int(time.time() * 1000) + 300)
    time.sleep(0.2)
    assert engine.fire_due() == 1  # only the invocation nobody renewed
    completed = [e for e in engine.history(row.arn, None, None, False, True)[0] if e["EventType"] == "InvocationCompleted"]
    error = completed[0]["InvocationCompletedDetails"]["Error"]["Payload"]
    assert error["ErrorType"] == "Runtime.ExitError"
    assert "dead-worker" in error["ErrorMessage"] and "stopped renewing its lease" in error["ErrorMessage"]
    # The late worker is fenced off; the execution is invoked again.
    with pytest.raises(InvalidParameterValue, match="Invalid checkpoint token"):
        engine.checkpoint(row.arn, lost.token, [{"Id": "s", "Type": "STEP", "Action": "START", "Name": "s"}], None)
    time.sleep(0.3)  # the backoff after a failed invocation
    assert [i.arn for i in engine.claim(None, 5, "w")] == [row.arn]
    engine.complete_invocation(kept_row.arn, kept.invocation_id, Outcome("SUCCEEDED", result="1"))
    assert engine.get_execution(kept_row.arn).status == "SUCCEEDED"
    engine.store.close()


def test_concurrent_retention_sweeps_delete_each_expired_execution_once(db_url: str) -> None:
    engines = _engines(db_url, 3)
    first = engines[0]
    expired, kept = [], []
    for i in range(60):
        row, _ = first.start_execution("Fn", None)
        [inv] = first.claim(None, 1, "w")
        first.complete_invocation(row.arn, inv.invocation_id, Outcome(status="SUCCEEDED", result="1"))
        (expired if i % 3 else kept).append(row.arn)
    with first.store.transaction() as tx:  # two thirds closed long ago
        for arn in expired:
            tx.update_execution(arn, {"end_ms": int(time.time() * 1000) - 30 * 86_400_000})
    deleted = [0, 0, 0]

    def sweep(i: int) -> None:
        while n := engines[i].delete_expired(limit=7):
            deleted[i] += n

    _in_threads(len(engines), sweep)
    assert sum(deleted) == len(expired)  # each deleted once, by whichever sweep held it
    for arn in expired:
        with pytest.raises(Exception, match="not found"):
            first.get_execution(arn)
    assert all(first.get_execution(arn).status == "SUCCEEDED" for arn in kept)
    for engine in engines:
        engine.store.close()


def test_a_read_transaction_sees_commits_and_refuses_writes(db_url: str) -> None:
    engine = _engines(db_url, 1)[0]
    row, _ = engine.start_execution("Fn", None)
    with engine.store.read() as tx:
        found = tx.get_execution(row.arn, lock=False)
        assert found is not None and found.status == "RUNNING"
    with pytest.raises(Exception, match=r"(?i)read.?only"), engine.store.read() as tx:
        tx.update_execution(row.arn, {"status": "FAILED"})
    from perdure.store.base import Timer

    with pytest.raises(Exception, match=r"(?i)read.?only"), engine.store.read() as tx:
        tx.set_timer(Timer(row.arn, "w", "wait", 1))  # held back on PostgreSQL: refused all the same
    with engine.store.read() as tx:
        assert "w" not in [t.op_id for t in tx.execution_timers(row.arn)]  # nothing was written
    assert engine.get_execution(row.arn).status == "RUNNING"  # nothing was written
    engine.store.close()


def test_the_scheduler_takes_no_write_transaction_when_nothing_is_due(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engines(db_url, 1)[0]
    row, _ = engine.start_execution("Fn", None)
    [inv] = engine.claim(None, 1, "w")
    wait = {"Id": "w1", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": 1}}
    engine.checkpoint(row.arn, inv.token, [wait], None)
    writes = [0]
    original = engine.store.transaction

    def counting() -> Any:
        writes[0] += 1
        return original()

    monkeypatch.setattr(engine.store, "transaction", counting)
    assert engine.fire_due() == 0  # the wait is not due for a second
    assert writes[0] == 0
    time.sleep(1.1)
    assert engine.fire_due() == 1  # now it is, and it fires
    assert writes[0] == 1
    engine.store.close()


def test_a_batch_of_changes_is_written_and_read_back_whole_on_every_backend(db_url: str) -> None:
    """``write_changes``, ``get_execution_and_operations``,
    ``get_execution_and_open_operations`` and ``update_execution_and_read_operations``
    (one statement each on PostgreSQL): operations inserted and replaced, events appended, the execution
    updated; a batch too large for one statement (10,000 events) is written all the same."""
    engine = Engine(open_store(db_url), SPEC)
    row, _ = engine.start_execution("Fn", None)
    first = {"Id": "a", "Type": "STEP", "Status": "STARTED", "Name": "a"}
    events = [{"EventId": 100 + i, "EventType": "StepStarted", "Id": "a"} for i in range(10_000)]
    with engine.store.transaction() as tx:
        tx.write_changes(row.arn, [(first, 2, 5)], events, {"op_seq": 5, "token": "t1"})
    done = {**first, "Status": "SUCCEEDED"}
    second = {"Id": "b", "Type": "STEP", "Status": "STARTED", "Name": "b"}
    with engine.store.transaction() as tx:
        tx.write_changes(row.arn, [(done, 2, 6), (second, 3, 7)], [], {"op_seq": 7})
        tx.write_changes(row.arn, [], [{"EventId": 20_000, "EventType": "StepSucceeded", "Id": "a"}], {})
    with engine.store.transaction() as tx:
        stored_row, ops = tx.get_execution_and_operations(row.arn, ["a", "b", "missing"])
        assert stored_row is not None and (stored_row.op_seq, stored_row.token) == (7, "t1")
        assert ops == {"a": done, "b": second}
        assert tx.get_execution_and_operations(row.arn, []) == (stored_row, {})
        assert tx.get_execution_and_operations("arn:none", ["a"]) == (None, {})
        ids = [e["EventId"] for e in tx.events_page(row.arn, 99, 20_000, False)]
        assert ids == [*range(100, 10_100), 20_000]
        open_ops = tx.open_operations(row.arn)
        assert [op["Status"] for op in open_ops] == ["STARTED", "STARTED"]  # EXECUTION and b
        assert tx.get_execution_and_open_operations(row.arn) == (stored_row, open_ops)
        assert tx.get_execution_and_open_operations("arn:none") == (None, [])
        page = tx.update_execution_and_read_operations(row.arn, {"token": "t2"}, 2)
        assert [(pos, op["Id"]) for pos, op in page] == [(1, open_ops[0]["Id"]), (2, "a")] and page[1][1] == done
        assert tx.get_execution(row.arn).token == "t2"  # type: ignore[union-attr]
    engine.store.close()


def test_timer_writes_are_all_there_whatever_follows_them(db_url: str) -> None:
    """On PostgreSQL timer writes wait to go with the batch's other writes: a read in the
    same transaction still sees them, a transaction that ends after them commits them,
    and a delete and a re-insert of one timer in one batch leave the new timer."""
    from perdure.store.base import Timer

    engine = Engine(open_store(db_url), SPEC)
    arn = engine.start_execution("Fn", None)[0].arn
    with engine.store.transaction() as tx:
        tx.set_timer(Timer(arn, "w1", "wait", 1000))
        assert "w1" in [t.op_id for t in tx.execution_timers(arn)]  # read after the write
        tx.set_timer(Timer(arn, "w2", "wait", 2000))  # nothing follows: committed with COMMIT
    with engine.store.read() as tx:
        assert {t.op_id for t in tx.execution_timers(arn)} >= {"w1", "w2"}
    with engine.store.transaction() as tx:
        tx.delete_timers(arn, "w1", "wait")
        tx.set_timer(Timer(arn, "w1", "wait", 3000))
        tx.set_timer(Timer(arn, "w3", "retry", 4000))
        tx.write_changes(arn, [], [], {"token": "t"})
    with engine.store.transaction() as tx:
        tx.delete_timers(arn, "w2")
        tx.write_changes(arn, [], [], {"token": "u"})
    with engine.store.read() as tx:
        timers = {(t.op_id, t.kind): t.due_ms for t in tx.execution_timers(arn) if t.kind != "execution_timeout"}
    assert timers == {("w1", "wait"): 3000, ("w3", "retry"): 4000}
    engine.store.close()
