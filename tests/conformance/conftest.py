"""Fixtures for the conformance tests: one perdure server and one validation run per session.

Every requirement selected for the session is validated in a single concurrent
run (``harness.run_requirements``) the first time a test asks for results; each
test then only looks up its own requirement. Environment:

* ``PERDURE_CONFORMANCE_URL``: use an already running server instead of starting one
  (it must serve ``tests/conformance/template.yaml``).

Without it the suite runs twice: on a server with SQLite, and on one with PostgreSQL
(a fresh schema; see ``tests/backends.py``).
* ``PERDURE_CONFORMANCE_WORKERS``: validator threads (default 8).
* ``PERDURE_CONFORMANCE_OUTPUT``: keep the execution histories in this directory.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

_SELECTED: set[str] = set()
_RESULTS: dict[str, dict[str, harness.Result]] = {}  # backend -> requirement id -> result
_BACKENDS: dict[str, str] = {}  # server URL -> its database backend


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance: AWS durable-execution conformance requirement (needs perdure serve)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here not in Path(str(item.path)).resolve().parents:
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "requirement_id" in callspec.params:
            _SELECTED.add(str(callspec.params["requirement_id"]))


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def conformance_server(request: pytest.FixtureRequest) -> Iterator[str]:
    url = os.environ.get("PERDURE_CONFORMANCE_URL", "").strip()
    if url:
        if request.param != "sqlite":
            pytest.skip("PERDURE_CONFORMANCE_URL names one server; its database is its own")
        if not harness.ping(url.rstrip("/")):
            pytest.fail(f"PERDURE_CONFORMANCE_URL={url} does not answer /ping")
        yield url.rstrip("/")
        return
    if importlib.util.find_spec("perdure.cli") is None:
        pytest.skip("perdure is not installed (no perdure.cli); cannot start perdure serve")
    if request.param == "sqlite":
        with harness.PerdureServer(harness.DEFAULT_TEMPLATE) as server:
            _BACKENDS[server.url] = "sqlite"
            yield server.url
        return
    from tests.backends import postgres_schema

    with postgres_schema() as db_url, harness.PerdureServer(harness.DEFAULT_TEMPLATE, db_url=db_url) as server:
        _BACKENDS[server.url] = "postgres"
        yield server.url


@pytest.fixture(scope="session")
def conformance_results(conformance_server: str) -> dict[str, harness.Result]:
    results = _RESULTS.setdefault(_BACKENDS.get(conformance_server, "sqlite"), {})
    if not results:
        output = os.environ.get("PERDURE_CONFORMANCE_OUTPUT") or tempfile.mkdtemp(
            prefix="perdure-conformance-histories-"
        )
        workers = int(os.environ.get("PERDURE_CONFORMANCE_WORKERS", "8"))
        found = harness.run_requirements(
            harness.DEFAULT_TEMPLATE,
            conformance_server,
            sorted(_SELECTED) or None,
            max_workers=workers,
            output_dir=output,
        )
        results.update({r.requirement_id: r for r in found})
    return results


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for backend, results in _RESULTS.items():
        table = harness.summarize(list(results.values()))
        terminalreporter.section(f"conformance on {backend} (per suite)")
        for suite, row in sorted(table.items(), key=lambda kv: kv[0]):
            failed = ", ".join(row["failed"]) or "-"
            terminalreporter.write_line(
                f"{suite:20} {row['passed']:3}/{row['total']:<3} failed: {failed}"
            )
