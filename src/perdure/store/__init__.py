"""Storage backends behind one contract (``base.Store``): SQLite, embedded, for one
server; PostgreSQL for several servers and workers on several machines. The SQL both
run is in ``sql`` and ``common``; versions, log records and counts have their rows and
queries in ``version_rows``, ``log_rows`` and ``counts``.

Imports only ``perdure.errors``: it is the bottom of the stack, and every other
package may use it."""

from __future__ import annotations

from perdure.store.base import (
    ExecutionRow,
    SchemaError,
    Store,
    StoreError,
    StoreUnavailable,
    Timer,
    Transaction,
    TransientStoreError,
)
from perdure.store.log_rows import LogRow, NewLogRecord
from perdure.store.urls import default_db_url, redact
from perdure.store.version_rows import ANY_VERSION, AliasRow, VersionRow

__all__ = [
    "ANY_VERSION",
    "AliasRow",
    "ExecutionRow",
    "LogRow",
    "NewLogRecord",
    "SchemaError",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Timer",
    "Transaction",
    "TransientStoreError",
    "VersionRow",
    "default_db_url",
    "open_store",
    "redact",
]


def open_store(url: str) -> Store:
    """Open (creating and migrating) the database a URL names: ``sqlite:///PATH`` or
    ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``. Raises ``StoreError`` (with a
    message naming the database, never its password) if it cannot be used."""
    if url.startswith("sqlite:///"):
        from perdure.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from perdure.store.postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                f"PostgreSQL needs psycopg 3 and psycopg-pool ({exc.name} is missing): "
                "pip install 'perdure[postgres]'"
            ) from None
        return PostgresStore(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")
