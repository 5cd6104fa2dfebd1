"""PostgreSQL: one database shared by any number of servers and workers on any machines.

The SQL is the SQLite backend's (``perdure.store.sql``); what is particular here is
only connecting (a pool per process, reconnecting after a restart of the server),
migrating under an advisory lock, classifying errors, and LISTEN/NOTIFY, which wakes
the runtimes of other processes when an execution becomes ready or closes.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql as pg_sql
from psycopg_pool import ConnectionPool, PoolTimeout

from perdure.store import sql
from perdure.store.base import (
    EXECUTION_COLUMNS,
    ExecutionRow,
    StoreUnavailable,
    Timer,
    Transaction,
    TransientStoreError,
)
from perdure.store.common import (
    TERMINAL_STATUSES,
    Dialect,
    SqlTransaction,
    migrate,
)
from perdure.store.urls import redact

__all__ = ["PostgresStore"]

log = logging.getLogger("perdure.store.postgres")

_T = TypeVar("_T")

CONNECT_TIMEOUT_S = 5
POOL_MAX = 8  # connections per process; a process's threads share them
POOL_WAIT_S = 15.0  # how long a transaction waits for a connection (rides out a restart)
LISTEN_CHECK_S = 5.0  # how often an idle LISTEN connection is checked
RECONNECT_MAX_DELAY_S = 2.0


@lru_cache(maxsize=2048)
def _rewrite(query: str) -> str:
    return query.replace("?", "%s")


DIALECT = Dialect(rewrite=_rewrite, skip_locked=" FOR UPDATE OF {table} SKIP LOCKED", row_lock=" FOR UPDATE")

# Errors after which the same transaction may succeed if tried again later.
_TRANSIENT = (
    psycopg.OperationalError,  # the connection broke, or the server is shutting down
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)




def _execution_with(operations: str) -> str:
    """The execution (locked) and, as one JSON array, its operations matching
    ``operations``: a transaction's reads in one statement."""
    return (
        f"SELECT {', '.join('e.' + c for c in EXECUTION_COLUMNS)}, "
        f"(SELECT json_agg(o.body::json ORDER BY o.pos) FROM operations o WHERE o.arn = e.arn AND {operations}) "
        "FROM executions e WHERE e.arn = %s FOR UPDATE OF e"
    )


_EXECUTION_AND_OPERATIONS = _execution_with("o.id = ANY(%s)")  # a checkpoint's
_EXECUTION_AND_OPEN_OPERATIONS = _execution_with("o.terminal = 0")  # an invocation's end
# Parameters per statement stay well below the protocol's 65,535; a larger batch (a
# checkpoint of hundreds of updates) is written statement by statement.
_MAX_PARAMS = 30000


class PgTransaction(SqlTransaction):
    """``SqlTransaction`` with a checkpoint's reads and writes each in one statement.

    Each statement costs PostgreSQL about as much CPU for its round trip, parsing and
    executor start-up as the work it does, and the client as much again (measured:
    docs/architecture.md, "Where the time goes"), so a checkpoint is four statements
    (BEGIN, one read, one data-modifying CTE, COMMIT) rather than eight."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        super().__init__(cursor, dialect)
        # Timer writes, whose outcome nothing reads, wait to be sent with the batch's
        # other writes (``write_changes``), or alone before any other statement and
        # before COMMIT: (query, params, is a delete).
        self._deferred: list[tuple[str, list[Any], bool]] = []

    def set_timer(self, timer: Timer) -> None:
        self._deferred.append((_rewrite(sql.SET_TIMER), [timer.arn, timer.op_id, timer.kind, timer.due_ms], False))

    def delete_timers(self, arn: str, op_id: str | None = None, kind: str | None = None) -> None:
        query, params = sql.delete_timers(arn, op_id, kind)
        self._deferred.append((_rewrite(query), params, True))

    def flush_deferred(self) -> None:
        """Send the timer writes waiting (in order, each alone)."""
        deferred, self._deferred = self._deferred, []
        for query, params, _ in deferred:
            self._cur.execute(query, params)

    def _flushed(self) -> Any:
        """The cursor, once the timer writes held back are sent (before any statement
        that is not written with them)."""
        if self._deferred:
            self.flush_deferred()
        return self._cur

    def _exec(self, query: str, params: Sequence[Any] = ()) -> Any:
        self._flushed()
        return super()._exec(query, params)

    def get_execution_and_operations(
        self, arn: str, ids: Sequence[str]
    ) -> tuple[ExecutionRow | None, dict[str, dict[str, Any]]]:
        row = self._flushed().execute(_EXECUTION_AND_OPERATIONS, (list(ids), arn)).fetchone()
        if row is None:
            return None, {}
        return ExecutionRow.from_row(row[:-1]), {op["Id"]: op for op in row[-1] or ()}

    def get_execution_and_open_operations(self, arn: str) -> tuple[ExecutionRow | None, list[dict[str, Any]]]:
        row = self._flushed().execute(_EXECUTION_AND_OPEN_OPERATIONS, (arn,)).fetchone()
        if row is None:
            return None, []
        return ExecutionRow.from_row(row[:-1]), list(row[-1] or ())

    def update_execution_and_read_operations(
        self, arn: str, changes: dict[str, Any], limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        # The UPDATE runs although nothing reads from it; the SELECT (same snapshot)
        # reads operations, which it does not touch.
        query = _rewrite(f"WITH claimed AS (UPDATE executions SET {sql.assignments(changes)} WHERE arn = ?) " + sql.OPERATIONS_PAGE)
        rows = self._flushed().execute(query, [*changes.values(), arn, arn, 0, limit]).fetchall()
        return [(pos, json.loads(body)) for pos, body in rows]

    def write_changes(
        self, arn: str, operations: Sequence[tuple[dict[str, Any], int, int]],
        events: Sequence[dict[str, Any]], changes: dict[str, Any],
    ) -> None:
        inserts = [tuple(params[:3]) for _, params, delete in self._deferred if not delete]
        if len(set(inserts)) < len(inserts) or len(inserts) not in (0, len(self._deferred)):
            # Two writes of one statement must not meet on a row (an insert with a
            # delete, or two inserts of one timer): these go one by one.
            self.flush_deferred()
        if 6 * len(operations) + 3 * len(events) + len(changes) > _MAX_PARAMS:
            super().write_changes(arn, operations, events, changes)  # flushes the deferred first
            return
        statements: list[tuple[str, list[Any]]] = [(query, params) for query, params, _ in self._deferred]
        self._deferred = []
        if operations:
            params: list[Any] = []
            for op, pos, seq in operations:
                terminal = 1 if op["Status"] in TERMINAL_STATUSES else 0
                params += [arn, op["Id"], pos, seq, terminal, json.dumps(op)]
            statements.append((_rewrite(sql.put_operations(len(operations))), params))
        if events:
            params = [value for e in events for value in (arn, e["EventId"], json.dumps(e))]
            statements.append((_rewrite(sql.append_events(len(events))), params))
        if changes:
            statements.append((_rewrite(f"UPDATE executions SET {sql.assignments(changes)} WHERE arn = ?"), [*changes.values(), arn]))
        if not statements:
            return
        # Data-modifying CTEs: every part runs, in this order's snapshot; they touch
        # different tables, so none has to see another's rows.
        # (The timer writes too: timers are only read while their execution is locked.)
        *first, (last, last_params) = statements
        query = "".join(f"{'WITH' if i == 0 else ','} w{i} AS ({q}) " for i, (q, _) in enumerate(first)) + last
        self._cur.execute(query, [p for _, ps in first for p in ps] + last_params)


class PostgresStore:
    """Implements ``perdure.store.base.Store`` on PostgreSQL (psycopg 3 and a pool)."""

    def __init__(self, url: str, *, pool_max: int = POOL_MAX) -> None:
        self.url = url
        self._where = f"PostgreSQL at {redact(url).split('?', 1)[0]}"
        self._id = uuid.uuid4().hex[:12]  # tells this store's notifications from others'
        self._closing = threading.Event()
        self._listener: threading.Thread | None = None
        schema = self._migrate()
        self._channel = f"perdure_{schema}"[:63]
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max(1, pool_max), kwargs={"autocommit": True},
            timeout=POOL_WAIT_S, reconnect_timeout=86400.0, num_workers=2,
            name="perdure", open=True,
        )

    def _migrate(self) -> str:
        """Check the server is reachable, bring the schema up to date, return its name."""
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to {self._where}: {_first_line(exc)}") from None
        with conn:
            schema = conn.execute("SELECT current_schema()").fetchone()
            if schema is None or schema[0] is None:
                raise StoreUnavailable(f"{self._where}: no schema to create tables in (check search_path)")
            with conn.transaction():
                # Several processes may start at once: one migrates, the others wait for it.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"perdure.migrate.{schema[0]}",))
                migrate(conn.cursor(), DIALECT, f"{self._where} (schema {schema[0]})")
        return str(schema[0])

    # -- transactions ----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        conn = self._begin()
        try:
            try:
                tx = PgTransaction(conn.cursor(), DIALECT)
                yield tx
                tx.flush_deferred()
            except BaseException:
                _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except psycopg.OperationalError as exc:
                raise TransientStoreError(
                    f"lost the connection to {self._where} while committing; "
                    f"the transaction may or may not have been committed: {_first_line(exc)}"
                ) from exc
        except _TRANSIENT as exc:
            raise TransientStoreError(f"{self._where}: {_first_line(exc)}") from exc
        finally:
            self._pool.putconn(conn)

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        # No BEGIN READ ONLY ... ROLLBACK around the reads: under READ COMMITTED, which
        # perdure runs at, each statement of a transaction takes its own snapshot
        # anyway, so a statement run on its own sees exactly what it would have seen
        # inside one, and a read saves two of its three round trips (most reads are one
        # statement: the scheduler's on every wake-up, the API's). ``_ReadCursor``
        # refuses anything but a plain SELECT instead.
        cursor = _ReadCursor(self)
        try:
            tx = PgTransaction(cursor, DIALECT)
            yield tx
            tx.flush_deferred()  # a timer written by mistake: refused, as any write
        except _TRANSIENT as exc:
            raise TransientStoreError(f"{self._where}: {_first_line(exc)}") from exc
        finally:
            cursor.close()

    def _begin(self) -> psycopg.Connection[Any]:
        """A pooled connection inside BEGIN."""
        conn, _ = self._connect_and(lambda conn: conn.execute("BEGIN"))
        return conn

    def _connect_and(self, first: Callable[[psycopg.Connection[Any]], _T]) -> tuple[psycopg.Connection[Any], _T]:
        """A pooled connection, and what ``first`` (its first statement) returned. A
        connection that fails there has done nothing, so after the first failure the
        pool's idle connections are checked (after a restart of the server they are all
        dead) and ``first`` is tried once more on a fresh one."""
        for attempt in (1, 2):
            try:
                conn = self._pool.getconn()
            except PoolTimeout as exc:
                raise StoreUnavailable(f"no connection to {self._where} within {POOL_WAIT_S:.0f} s") from exc
            try:
                return conn, first(conn)
            except psycopg.OperationalError as exc:
                self._pool.putconn(conn)  # broken: the pool drops it
                if attempt == 2:
                    raise StoreUnavailable(f"{self._where} is unavailable: {_first_line(exc)}") from exc
                log.warning("connection to %s lost (%s); reconnecting", self._where, _first_line(exc))
                self._pool.check()
            except BaseException:
                self._pool.putconn(conn)
                raise
        raise AssertionError("unreachable")

    # -- notifications ---------------------------------------------------------------

    def notify(self, kind: str, arn: str) -> None:
        """NOTIFY, after the change committed; a lost notification only costs latency
        (runtimes also poll), so failures are logged, not raised."""
        payload = f"{self._id} {kind} {arn}"
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    conn.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))
                return
            except psycopg.OperationalError as exc:  # a dead connection: as in _begin
                if attempt == 2:
                    log.debug("NOTIFY failed: %s", exc)
                else:
                    self._pool.check()
            except (psycopg.Error, PoolTimeout) as exc:
                log.debug("NOTIFY failed: %s", exc)
                return

    def listen(self, callback: Callable[[str, str], None]) -> bool:
        if self._listener is None:
            self._listener = threading.Thread(
                target=self._listen_loop, args=(callback,), name="perdure-listen", daemon=True
            )
            self._listener.start()
        return True

    def _listen_loop(self, callback: Callable[[str, str], None]) -> None:
        delay = 0.1
        while not self._closing.is_set():
            listening = False
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                    conn.execute(pg_sql.SQL("LISTEN {}").format(pg_sql.Identifier(self._channel)))
                    listening, delay = True, 0.1
                    callback("listening", "")
                    while not self._closing.is_set():
                        for note in conn.notifies(timeout=LISTEN_CHECK_S):
                            sender, kind, arn = note.payload.split(" ", 2)
                            if sender != self._id:
                                callback(kind, arn)
                        conn.execute("SELECT 1")  # an idle connection can die silently
            except psycopg.Error as exc:
                if self._closing.is_set():
                    return
                if listening:
                    log.warning("LISTEN connection to %s lost (%s); polling until it is back", self._where, _first_line(exc))
                    callback("lost", "")
            except Exception:
                log.exception("LISTEN loop failed")
            self._closing.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY_S)

    # -- the rest ------------------------------------------------------------------------

    def maintain(self) -> None:
        """Nothing to do: autovacuum keeps PostgreSQL's tables."""

    def close(self) -> None:
        self._closing.set()
        self._pool.close()
        if self._listener is not None:
            self._listener.join(timeout=LISTEN_CHECK_S + 1)
            self._listener = None


class _ReadCursor:
    """The cursor of ``PostgresStore.read``: plain SELECTs in autocommit, on a pooled
    connection taken at the first one (which, as BEGIN does for a transaction, is
    tried once more on a fresh connection when the first one turns out dead)."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._conn: psycopg.Connection[Any] | None = None
        self._cur: psycopg.Cursor[Any] | None = None

    def execute(self, query: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        upper = query.upper()
        if not upper.lstrip().startswith("SELECT ") or " FOR UPDATE" in upper or " FOR SHARE" in upper:
            raise pg_errors.ReadOnlySqlTransaction(f"cannot run {query.split()[0]} in a read-only transaction")
        if self._cur is not None:
            return self._cur.execute(query, params)
        self._conn, cur = self._store._connect_and(lambda conn: conn.cursor().execute(query, params))
        self._cur = cur
        return cur

    def close(self) -> None:
        if self._conn is not None:
            self._store._pool.putconn(self._conn)
            self._conn = self._cur = None

    def __getattr__(self, name: str) -> Any:  # fetchone, fetchall, rowcount...
        if self._cur is None:
            raise AttributeError(name)
        return getattr(self._cur, name)


def _rollback(conn: psycopg.Connection[Any]) -> None:
    with suppress(psycopg.Error):  # a broken connection: the pool drops it
        conn.execute("ROLLBACK")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

