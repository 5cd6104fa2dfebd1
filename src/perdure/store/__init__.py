"""Storage backends behind one contract (``base.Store``)."""

from __future__ import annotations

import os
from pathlib import Path

from perdure.store.base import ExecutionRow, Store, Timer, Transaction

__all__ = ["ExecutionRow", "Store", "Timer", "Transaction", "default_db_url", "open_store"]


def default_db_url() -> str:
    """``$PERDURE_DB``, else a SQLite file in the user's data directory."""
    if url := os.environ.get("PERDURE_DB"):
        return url
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'perdure' / 'perdure.db'}"


def open_store(url: str) -> Store:
    """Open (creating and migrating) the database a URL names."""
    if url.startswith("sqlite:///"):
        from perdure.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        raise ValueError("PostgreSQL support is not available yet; use sqlite:///PATH")
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH")
