"""The storage contract: everything the engine needs from a database, and nothing more.

The engine owns every decision (transitions, tokens, event numbering); a store only
keeps rows and answers queries inside a transaction. Both backends run the same SQL
(``perdure.store.sql`` and the migrations in ``perdure/store/migrations``); a backend
only connects, opens transactions, classifies errors and, where the database can,
wakes other processes.

Several processes may share one database (PostgreSQL): rows are claimed with locks
that skip what another transaction holds, an execution's timers and operations are
only changed while its row is locked, and a running invocation holds a lease that its
runtime renews.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar

from perdure.store.log_rows import LogRow, LogStream, NewLogRecord
from perdure.store.version_rows import VersionTransaction

EXECUTION_COLUMNS = (
    "arn",
    "function_name",
    "name",
    "status",
    "input",
    "result",
    "error",
    "start_ms",
    "end_ms",
    "timeout_s",
    "retention_days",
    "next_event_id",
    "op_seq",
    "op_pos",
    "token_seq",
    "token",
    "invocation_id",
    "invocation_start_ms",
    "invocation_deadline_ms",
    "owner",
    "seen_seq",
    "ready_ms",
    "failures",
    "last_client_token",
    "last_token",
    "last_response",
    "closing",
    "parent_arn",
    "parent_op",
    "plain",
    "lease_expires_ms",
    "pause",
    "version",
)


@dataclass
class ExecutionRow:
    """One durable execution. ``closing`` holds a terminal outcome that a checkpoint
    recorded (EXECUTION SUCCEED/FAIL) and that becomes final when the invocation ends.
    An execution started by a chained invoke names its caller in ``parent_arn`` and
    ``parent_op``; a plain (non-durable) target runs as a one-invocation ``plain`` row."""

    arn: str
    function_name: str
    name: str
    status: str
    input: str | None
    result: str | None
    error: str | None
    start_ms: int
    end_ms: int | None
    timeout_s: int | None
    retention_days: int
    next_event_id: int = 1
    op_seq: int = 0
    op_pos: int = 0
    token_seq: int = 0
    token: str | None = None
    invocation_id: str | None = None
    invocation_start_ms: int | None = None
    invocation_deadline_ms: int | None = None
    owner: str | None = None
    seen_seq: int = 0
    ready_ms: int | None = None
    failures: int = 0
    last_client_token: str | None = None
    last_token: str | None = None
    last_response: str | None = None
    closing: str | None = None
    parent_arn: str | None = None  # set on the execution a chained invoke started
    parent_op: str | None = None
    plain: int = 0  # 1: a non-durable function run once for a chained invoke
    lease_expires_ms: int | None = None  # the running invocation's owner must renew by then
    pause: str | None = None  # JSON: the pause request, while PAUSING or PAUSED
    version: int | None = None  # the function version it runs on (None: unpublished code)

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in EXECUTION_COLUMNS)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ExecutionRow:
        return cls(*row)


assert tuple(f.name for f in fields(ExecutionRow)) == EXECUTION_COLUMNS


@dataclass(frozen=True)
class Timer:
    arn: str
    op_id: str
    kind: str
    due_ms: int


class Transaction(VersionTransaction, Protocol):
    """Reads and writes inside one database transaction (function versions and
    aliases: ``perdure.store.version_rows``)."""

    def get_execution(self, arn: str, *, lock: bool = True) -> ExecutionRow | None:
        """The execution, locked for update until the transaction ends (unless ``lock``
        is False: a read that neither waits for writers nor makes claims skip the row)."""

    def get_execution_and_operations(
        self, arn: str, ids: Sequence[str]
    ) -> tuple[ExecutionRow | None, dict[str, dict[str, Any]]]:
        """``get_execution`` (locked) and ``get_operations`` at once: a checkpoint's reads,
        one statement where the backend allows."""

    def get_execution_and_open_operations(self, arn: str) -> tuple[ExecutionRow | None, list[dict[str, Any]]]:
        """``get_execution`` (locked) and ``open_operations`` at once: what ending an
        invocation reads, one statement where the backend allows."""

    def find_execution(self, function_name: str, name: str) -> ExecutionRow | None:
        """The execution started under this function and execution name, if any."""

    def insert_execution(self, row: ExecutionRow) -> bool:
        """Insert; False when (function_name, name) is already taken."""

    def update_execution(self, arn: str, changes: dict[str, Any]) -> None:
        """Set the given columns of one execution."""

    def delete_execution(self, arn: str) -> None:
        """Remove an execution with its operations, events, timers and callbacks."""

    def delete_executions(self, arns: Sequence[str], *, locked: bool = False) -> None:
        """``delete_execution`` for many at once, with one statement per table;
        ``locked``: this transaction already holds their rows (``expired_executions``)."""

    def list_executions(
        self,
        function_name: str,
        statuses: Sequence[str],
        started_after_ms: int | None,
        started_before_ms: int | None,
        name: str | None,
        after_key: tuple[int, str] | None,
        limit: int,
        reverse: bool,
    ) -> list[ExecutionRow]:
        """Executions of a function in start order (keyset-paginated by (start_ms, arn))."""

    def search_executions(
        self,
        functions: Sequence[str] | None,
        statuses: Sequence[str],
        started_after_ms: int | None,
        started_before_ms: int | None,
        text: str | None,
        after_key: tuple[int, str] | None,
        limit: int,
    ) -> list[ExecutionRow]:
        """Executions of any (or the given) functions, newest first (keyset-paginated by
        (start_ms, arn) descending), whose name or ARN contains ``text`` (SQL LIKE: ASCII case is ignored on SQLite
        only)."""

    def count_executions(self) -> list[tuple[str, str, int]]:
        """(function_name, status, count) for every function and status with executions."""

    def expired_executions(self, now_ms: int, limit: int) -> list[str]:
        """ARNs of closed executions whose retention period has passed."""

    def get_operations(self, arn: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored operations with these ids (wire-shaped dicts)."""

    def put_operation(self, arn: str, op: dict[str, Any], pos: int, seq: int) -> None:
        """Insert or replace one operation; ``pos`` orders it, ``seq`` dates its last change."""

    def update_execution_and_read_operations(
        self, arn: str, changes: dict[str, Any], limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """``update_execution``, then ``operations_page(arn, 0, limit)``: what claiming an
        execution does, one statement where the backend allows."""

    def operations_page(self, arn: str, after_pos: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Operations in creation order after position ``after_pos``."""

    def operations_changed_since(self, arn: str, seq: int) -> list[dict[str, Any]]:
        """Operations changed after change number ``seq``, in creation order."""

    def open_operations(self, arn: str) -> list[dict[str, Any]]:
        """Operations that are not in a terminal status."""

    def append_events(self, arn: str, events: Sequence[dict[str, Any]]) -> None:
        """Append history events (each carries its EventId)."""

    def write_changes(
        self, arn: str, operations: Sequence[tuple[dict[str, Any], int, int]],
        events: Sequence[dict[str, Any]], changes: dict[str, Any],
    ) -> None:
        """``put_operation`` for each (op, pos, seq), ``append_events`` and
        ``update_execution`` at once: what a batch of changes to one execution writes,
        one statement where the backend allows."""

    def events_page(self, arn: str, after_id: int, limit: int, reverse: bool) -> list[dict[str, Any]]:
        """History events after (or, reversed, before) EventId ``after_id``."""

    def set_timer(self, timer: Timer) -> None:
        """Create or move a timer."""

    def delete_timers(self, arn: str, op_id: str | None = None, kind: str | None = None) -> None:
        """Delete an execution's timers, optionally only one operation's or one kind."""

    def execution_timers(self, arn: str) -> list[Timer]:
        """One execution's timers, earliest first."""

    def due_timers(self, now_ms: int, limit: int) -> list[Timer]:
        """Timers due at ``now_ms``, earliest first. Their executions are locked, and
        executions another transaction holds are skipped: each timer fires once."""

    def anything_due(self, now_ms: int) -> bool:
        """Whether some timer is due or some invocation overdue at ``now_ms`` (a read,
        without locks, that spares the scheduler a write transaction when nothing is)."""

    def next_wakeup_ms(self, functions: Sequence[str] | None) -> int | None:
        """The earliest time anything is due: a timer, an invocation's deadline or lease,
        or an execution of ``functions`` (all when None) ready to invoke."""

    def put_callback(self, callback_id: str, arn: str, op_id: str) -> None:
        """Remember which execution and operation a callback id belongs to."""

    def get_callback(self, callback_id: str) -> tuple[str, str] | None:
        """(arn, op_id) of a callback id."""

    def ready_executions(
        self, now_ms: int, functions: Sequence[str] | None, limit: int, version: int | None = -1
    ) -> list[ExecutionRow]:
        """Executions due for an invocation and not being invoked, locked for claiming;
        rows another transaction holds are skipped, so no two claims get the same one.
        ``version``: only those running on that function version (None: on none; the
        default, -1: any)."""

    def ready_functions(self, now_ms: int) -> list[str]:
        """Functions that have executions due for an invocation."""

    def expired_leases(self, now_ms: int, limit: int) -> list[ExecutionRow]:
        """Executions whose running invocation passed its deadline or lost its lease
        (locked; rows another transaction holds are skipped)."""

    def renew_leases(self, owner: str, invocation_ids: Sequence[str], until_ms: int) -> list[str]:
        """Extend to ``until_ms`` the leases ``owner`` holds on these invocations; returns
        the ids it still holds (the others ended or were taken from it)."""

    # Log records (perdure.store.log_rows): written in batches by workers, read by the API.

    def append_logs(
        self, arn: str, function_name: str, records: Sequence[NewLogRecord], limit: int, marker: NewLogRecord
    ) -> tuple[int, int]:
        """Number and store records after the execution's last, at most ``limit`` in all
        (``marker`` once in place of the rest); returns (written, dropped)."""

    def execution_logs(self, arn: str, after_seq: int, limit: int) -> list[LogRow]:
        """An execution's records in order, after number ``after_seq``."""

    def function_logs(
        self,
        function_name: str,
        start_ms: int,
        end_ms: int,
        arns: Sequence[str] | None,
        after: tuple[int, str, int] | None,
        limit: int,
    ) -> list[LogRow]:
        """A function's records in a time range, by (ts_ms, arn, seq) after ``after``."""

    def log_streams(self, function_name: str) -> list[LogStream]:
        """Executions of a function that logged, with their first and last record times."""

    def log_functions(self) -> dict[str, int]:
        """Functions with stored records, and how many."""

    def ready_depth(self, now_ms: int) -> dict[str, int]:
        """Executions due for an invocation and not being invoked, by function (metrics)."""


class Store(Protocol):
    """A database holding executions. Thread-safe; each thread gets its own connection."""

    url: str

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A transaction, committed on success and rolled back on an exception. Raises
        ``TransientStoreError`` when the database was lost or the transaction lost a
        deadlock: the caller may try again later."""

    def read(self) -> AbstractContextManager[Transaction]:
        """A transaction that only reads: on SQLite all its statements see one snapshot;
        on PostgreSQL (READ COMMITTED, as its write transactions) each sees what was
        committed when it began. It does not wait for, or hold up, writers: on SQLite it
        takes no write lock, which most of the API's and the scheduler's transactions
        would otherwise queue for. Writing in it is an error."""

    def notify(self, kind: str, arn: str) -> None:
        """Tell other processes that an execution became ``ready`` or ``closed``
        (no-op where the database cannot wake other processes)."""

    def listen(self, callback: Callable[[str, str], None]) -> bool:
        """Call ``callback(kind, arn)`` from a background thread for each ``notify`` made
        by another process; ``callback("listening", "")`` each time notifications start
        arriving (some may have been missed before) and ``callback("lost", "")`` when
        they stop (the connection broke). False where the database cannot: the caller
        polls."""

    def maintain(self) -> None:
        """Periodic housekeeping off the hot path (called about once a second)."""

    def close(self) -> None:
        """Close this process's connections."""


class StoreError(RuntimeError):
    """The database cannot be used as it is."""


class SchemaError(StoreError):
    """The database's schema is newer than this perdure's."""


class TransientStoreError(StoreError):
    """The transaction did not happen (or, lost at commit, may have): the connection to
    the database was lost or the transaction was chosen to break a deadlock. Retry later."""


class StoreUnavailable(TransientStoreError):
    """The database cannot be reached."""


_Item = TypeVar("_Item")


def iter_chunks(items: Sequence[_Item], size: int) -> Iterator[Sequence[_Item]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
