"""The storage of function versions and aliases, and which execution runs on which.

``VersionTransaction`` is the part of the storage contract (``base.Transaction``)
that keeps versions: immutable rows, numbered per function, whose code is removed once
nothing needs it. ``VersionQueries`` implements it with the SQL both backends run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

ANY_VERSION = -1  # ``version`` filter of the ready queries: every version


@dataclass(frozen=True)
class VersionRow:
    function_name: str
    version: int
    code_sha256: str
    code_size: int
    config: str  # JSON: handler, environment, limits... (see perdure.deploy.snapshots)
    description: str
    created_ms: int
    removed_ms: int | None = None


@dataclass(frozen=True)
class AliasRow:
    function_name: str
    alias: str
    version: int
    description: str
    updated_ms: int


_VERSION_COLS = "function_name, version, code_sha256, code_size, config, description, created_ms, removed_ms"
_ALIAS_COLS = "function_name, alias, version, description, updated_ms"

GET_VERSION = f"SELECT {_VERSION_COLS} FROM function_versions WHERE function_name = ? AND version = ?"
LATEST_VERSION = (
    f"SELECT {_VERSION_COLS} FROM function_versions WHERE function_name = ? "
    "ORDER BY version DESC LIMIT 1"
)
LIST_VERSIONS = f"SELECT {_VERSION_COLS} FROM function_versions WHERE function_name = ? AND removed_ms IS NULL ORDER BY version"
VERSIONED_FUNCTIONS = "SELECT DISTINCT function_name FROM function_versions ORDER BY function_name"
INSERT_VERSION = (
    f"INSERT INTO function_versions ({_VERSION_COLS}, code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (function_name, version) DO NOTHING"
)
VERSION_CODE = "SELECT code FROM function_versions WHERE function_name = ? AND version = ?"
# Versions nothing needs any more: not the function's newest, no alias on it, and no
# execution that is not closed running on it.
REMOVABLE_VERSIONS = (
    "SELECT v.function_name, v.version FROM function_versions v "
    "WHERE v.removed_ms IS NULL "
    "AND v.version < (SELECT MAX(m.version) FROM function_versions m WHERE m.function_name = v.function_name) "
    "AND NOT EXISTS (SELECT 1 FROM function_aliases a WHERE a.function_name = v.function_name AND a.version = v.version) "
    "AND NOT EXISTS (SELECT 1 FROM executions e WHERE e.function_name = v.function_name "
    "AND e.version = v.version AND e.end_ms IS NULL) "
    "ORDER BY v.function_name, v.version LIMIT ?"
)
REMOVE_VERSION = (
    "UPDATE function_versions SET code = NULL, removed_ms = ? "
    "WHERE function_name = ? AND version = ? AND removed_ms IS NULL"
)
LIVE_CODE = "SELECT DISTINCT code_sha256 FROM function_versions WHERE removed_ms IS NULL"
GET_ALIAS = f"SELECT {_ALIAS_COLS} FROM function_aliases WHERE function_name = ? AND alias = ?"
LIST_ALIASES = f"SELECT {_ALIAS_COLS} FROM function_aliases WHERE function_name = ? ORDER BY alias"
PUT_ALIAS = (
    f"INSERT INTO function_aliases ({_ALIAS_COLS}) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (function_name, alias) DO UPDATE SET version = excluded.version, "
    "description = excluded.description, updated_ms = excluded.updated_ms"
)
READY_FUNCTION_VERSIONS = (
    "SELECT DISTINCT function_name, version FROM executions WHERE invocation_id IS NULL "
    "AND ready_ms IS NOT NULL AND ready_ms <= ? AND status = 'RUNNING'"
)


class VersionTransaction(Protocol):
    """Function versions and aliases, inside one database transaction."""

    def get_version(self, function_name: str, version: int) -> VersionRow | None:
        """One version (removed ones too: ``removed_ms`` says so)."""

    def latest_version(self, function_name: str) -> VersionRow | None:
        """The function's newest version, if it has any."""

    def list_versions(self, function_name: str) -> list[VersionRow]:
        """The versions that are not removed, oldest first."""

    def versioned_functions(self) -> list[str]:
        """Names of the functions that have versions."""

    def insert_version(self, row: VersionRow, code: str) -> bool:
        """Add a version with its code (base64 zip); False if that number is taken."""

    def version_code(self, function_name: str, version: int) -> str | None:
        """A version's code (base64 zip), None once removed."""

    def removable_versions(self, limit: int) -> list[tuple[str, int]]:
        """(function, version) of versions that are not the newest, have no alias and
        run no execution that is not closed."""

    def remove_version(self, function_name: str, version: int, now_ms: int) -> bool:
        """Drop a version's code and mark it removed; False if it already was."""

    def live_code(self) -> set[str]:
        """The code hashes of versions that are not removed."""

    def get_alias(self, function_name: str, alias: str) -> AliasRow | None:
        """One alias."""

    def list_aliases(self, function_name: str) -> list[AliasRow]:
        """A function's aliases, by name."""

    def put_alias(self, row: AliasRow) -> None:
        """Create or move an alias."""

    def ready_function_versions(self, now_ms: int) -> list[tuple[str, int | None]]:
        """(function, version) pairs that have executions due for an invocation."""


class VersionQueries:
    """``VersionTransaction`` on the shared DB-API transaction (``SqlTransaction``)."""

    def _exec(self, query: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError  # pragma: no cover - SqlTransaction provides it

    def get_version(self, function_name: str, version: int) -> VersionRow | None:
        row = self._exec(GET_VERSION, (function_name, version)).fetchone()
        return VersionRow(*row) if row else None

    def latest_version(self, function_name: str) -> VersionRow | None:
        row = self._exec(LATEST_VERSION, (function_name,)).fetchone()
        return VersionRow(*row) if row else None

    def list_versions(self, function_name: str) -> list[VersionRow]:
        return [VersionRow(*r) for r in self._exec(LIST_VERSIONS, (function_name,)).fetchall()]

    def versioned_functions(self) -> list[str]:
        return [r[0] for r in self._exec(VERSIONED_FUNCTIONS).fetchall()]

    def insert_version(self, row: VersionRow, code: str) -> bool:
        params = (
            row.function_name, row.version, row.code_sha256, row.code_size, row.config,
            row.description, row.created_ms, row.removed_ms, code,
        )
        return bool(self._exec(INSERT_VERSION, params).rowcount == 1)

    def version_code(self, function_name: str, version: int) -> str | None:
        row = self._exec(VERSION_CODE, (function_name, version)).fetchone()
        return row[0] if row else None

    def removable_versions(self, limit: int) -> list[tuple[str, int]]:
        return [(r[0], int(r[1])) for r in self._exec(REMOVABLE_VERSIONS, (limit,)).fetchall()]

    def remove_version(self, function_name: str, version: int, now_ms: int) -> bool:
        return bool(self._exec(REMOVE_VERSION, (now_ms, function_name, version)).rowcount == 1)

    def live_code(self) -> set[str]:
        return {r[0] for r in self._exec(LIVE_CODE).fetchall()}

    def get_alias(self, function_name: str, alias: str) -> AliasRow | None:
        row = self._exec(GET_ALIAS, (function_name, alias)).fetchone()
        return AliasRow(*row) if row else None

    def list_aliases(self, function_name: str) -> list[AliasRow]:
        return [AliasRow(*r) for r in self._exec(LIST_ALIASES, (function_name,)).fetchall()]

    def put_alias(self, row: AliasRow) -> None:
        self._exec(PUT_ALIAS, (row.function_name, row.alias, row.version, row.description, row.updated_ms))

    def ready_function_versions(self, now_ms: int) -> list[tuple[str, int | None]]:
        rows = self._exec(READY_FUNCTION_VERSIONS, (now_ms,)).fetchall()
        return [(r[0], None if r[1] is None else int(r[1])) for r in rows]
