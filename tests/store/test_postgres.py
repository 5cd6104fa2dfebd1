"""What is particular to PostgreSQL: start-up errors, migrations from several processes
at once, reconnecting after the server dropped every connection, LISTEN/NOTIFY."""

from __future__ import annotations

import multiprocessing
import queue
import time

import psycopg
import pytest

from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.store import StoreUnavailable, open_store, redact
from perdure.store.postgres import PostgresStore
from perdure.store.sql import SCHEMA_VERSION
from tests.backends import require_postgres

SPEC = {"Fn": FunctionSpec(name="Fn", handler="x.y", timeout_s=30)}


def test_unreachable_server_is_a_clear_error_without_the_password() -> None:
    require_postgres()
    url = "postgresql://perdure:s3cret@127.0.0.1:1/perdure"
    with pytest.raises(StoreUnavailable) as caught:
        open_store(url)
    message = str(caught.value)
    assert message.startswith("cannot connect to PostgreSQL at postgresql://perdure:***@127.0.0.1:1/perdure: ")
    assert "s3cret" not in message


def test_redact_keeps_everything_but_the_password() -> None:
    assert redact("postgresql://u:p@h:5/db?sslmode=require") == "postgresql://u:***@h:5/db?sslmode=require"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"


def _open(url: str) -> None:
    open_store(url).close()


def test_several_processes_can_migrate_one_database_at_once(pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(pg_url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SELECT value FROM perdure_meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)


def _terminate_connections(url: str) -> int:
    """What a restart of the server does to a client: every connection dropped."""
    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.execute("SHOW application_name").fetchone()
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            name,
        ).fetchall()
    return len(rows)


def test_transactions_reconnect_after_the_server_dropped_the_connections(pg_url: str) -> None:
    store = PostgresStore(pg_url, pool_max=3)
    engine = Engine(store, SPEC)
    # Fill the pool with several connections, all of which will die.
    arns = []

    def start() -> None:
        arns.append(engine.start_execution("Fn", None)[0].arn)

    import threading

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _terminate_connections(pg_url) >= 1
    assert engine.get_execution(arns[0]).status == "RUNNING"  # reconnected, not an error
    assert len(engine.claim(None, 10, "w")) == 6
    store.close()


def test_notifications_reach_other_stores_and_survive_a_lost_connection(pg_url: str) -> None:
    listener, sender = PostgresStore(pg_url), PostgresStore(pg_url)
    heard: queue.Queue[tuple[str, str]] = queue.Queue()
    assert listener.listen(lambda kind, arn: heard.put((kind, arn)))
    assert heard.get(timeout=5) == ("listening", "")
    sender.notify("ready", "arn:1")
    listener.notify("ready", "arn:own")  # a store does not hear itself
    assert heard.get(timeout=5) == ("ready", "arn:1")
    _terminate_connections(pg_url)
    assert heard.get(timeout=5) == ("lost", "")
    assert heard.get(timeout=5) == ("listening", "")
    started = time.monotonic()
    sender.notify("closed", "arn:2")
    assert heard.get(timeout=5) == ("closed", "arn:2")
    assert time.monotonic() - started < 1.0
    assert heard.empty()
    listener.close()
    sender.close()
