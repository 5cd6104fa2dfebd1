"""The databases the tests run on: a SQLite file, and a fresh schema in PostgreSQL.

PostgreSQL tests use ``$PERDURE_TEST_PG`` (default: the ``test`` database of the local
server). Each test gets its own schema, selected through the URL's ``search_path``, so
tests share one server without seeing each other's rows, and dropping the schema
cleans up. They are skipped only where PostgreSQL is not installed at all; a server
that is installed but down is an error (``make test`` starts it).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

PG_URL = os.environ.get("PERDURE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_installed() -> bool:
    if os.environ.get("PERDURE_TEST_PG"):
        return True
    return bool(shutil.which("pg_ctlcluster") or shutil.which("pg_ctl") or Path("/usr/lib/postgresql").is_dir())


def require_postgres() -> None:
    if not postgres_installed():
        pytest.skip("PostgreSQL is not installed (set PERDURE_TEST_PG=postgresql://... to use a server)")
    try:
        import psycopg
    except ImportError:
        pytest.fail("PostgreSQL is installed but psycopg is not: run scripts/setup.sh")
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc) or "PERDURE_TEST_PG" in os.environ:
            pytest.fail(f"PostgreSQL is installed but {PG_URL} is unreachable ({exc}); `make test` starts it")
        # A fresh server: make the test database.
        with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE test")


def schema_url(schema: str) -> str:
    separator = "&" if "?" in PG_URL else "?"
    # application_name lets the clean-up find connections a killed process left behind.
    return f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}&application_name={schema}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose tables live in a new, empty schema (dropped afterwards)."""
    require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            # Connections a test left open (its processes may be gone) would block the drop.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (schema,),
            )
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
