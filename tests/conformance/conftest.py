"""Fixtures for the conformance tests: one perdure server and one validation run per
test module and database.

A test module names the SAM template it checks with a module-level ``TEMPLATE``
(default ``harness.DEFAULT_TEMPLATE``, the Python handlers;
``test_conformance_ts.py`` names ``harness.TS_TEMPLATE``). Every requirement
selected from that module is validated in a single concurrent run
(``harness.run_requirements``) the first time a test asks for results; each test
then only looks up its own requirement. Environment:

* ``PERDURE_CONFORMANCE_URL``: use an already running server instead of starting one
  (it must serve the module's template); a module may name another variable with
  ``URL_ENV`` (``test_conformance_ts.py``: ``PERDURE_CONFORMANCE_TS_URL``).

Without it each module's suite runs twice: on a server with SQLite, and on one with
PostgreSQL (a fresh schema; see ``tests/backends.py``).
* ``PERDURE_CONFORMANCE_WORKERS``: validator threads (default 8).
* ``PERDURE_CONFORMANCE_OUTPUT``: keep the execution histories in this directory
  (another template's in a subdirectory named after the template's directory, ``ts/``).
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

# template -> requirement ids its module selected
_SELECTED: dict[Path, set[str]] = {}
# (template, backend) -> requirement id -> result
_RESULTS: dict[tuple[Path, str], dict[str, harness.Result]] = {}
_BACKENDS: dict[str, str] = {}  # server URL -> its database backend


def _module_template(module: object) -> Path:
    return Path(getattr(module, "TEMPLATE", harness.DEFAULT_TEMPLATE)).resolve()


def _template_label(template: Path) -> str:
    try:
        return str(template.relative_to(harness.HERE))
    except ValueError:
        return str(template)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance: AWS durable-execution conformance requirement (needs perdure serve)",
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Note which requirements each template's module runs (after ``-k`` and the like)."""
    here = Path(__file__).resolve().parent
    for item in session.items:
        if here not in Path(str(item.path)).resolve().parents:
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "requirement_id" in callspec.params:
            selected = _SELECTED.setdefault(_module_template(item.module), set())
            selected.add(str(callspec.params["requirement_id"]))


@pytest.fixture(scope="module")
def conformance_template(request: pytest.FixtureRequest) -> Path:
    """The SAM template the requesting test module checks (its ``TEMPLATE``)."""
    return _module_template(request.module)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def conformance_server(request: pytest.FixtureRequest, conformance_template: Path) -> Iterator[str]:
    url_env = str(getattr(request.module, "URL_ENV", "PERDURE_CONFORMANCE_URL"))
    url = os.environ.get(url_env, "").strip()
    if url:
        if request.param != "sqlite":
            pytest.skip(f"{url_env} names one server; its database is its own")
        if not harness.ping(url.rstrip("/")):
            pytest.fail(f"{url_env}={url} does not answer /ping")
        yield url.rstrip("/")
        return
    if importlib.util.find_spec("perdure.cli") is None:
        pytest.skip("perdure is not installed (no perdure.cli); cannot start perdure serve")
    if request.param == "sqlite":
        with harness.PerdureServer(conformance_template) as server:
            _BACKENDS[server.url] = "sqlite"
            yield server.url
        return
    from tests.backends import postgres_schema

    with postgres_schema() as db_url, harness.PerdureServer(conformance_template, db_url=db_url) as server:
        _BACKENDS[server.url] = "postgres"
        yield server.url


@pytest.fixture(scope="module")
def conformance_results(conformance_server: str, conformance_template: Path) -> dict[str, harness.Result]:
    backend = _BACKENDS.get(conformance_server, "sqlite")
    results = _RESULTS.setdefault((conformance_template, backend), {})
    if not results:
        base = os.environ.get("PERDURE_CONFORMANCE_OUTPUT")
        if base and conformance_template != harness.DEFAULT_TEMPLATE.resolve():
            output = str(Path(base) / conformance_template.parent.name)
        elif base:
            output = base
        else:
            output = tempfile.mkdtemp(prefix="perdure-conformance-histories-")
        workers = int(os.environ.get("PERDURE_CONFORMANCE_WORKERS", "8"))
        found = harness.run_requirements(
            conformance_template,
            conformance_server,
            sorted(_SELECTED.get(conformance_template, set())) or None,
            max_workers=workers,
            output_dir=output,
        )
        results.update({r.requirement_id: r for r in found})
    return results


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for (template, backend), results in _RESULTS.items():
        table = harness.summarize(list(results.values()))
        terminalreporter.section(f"conformance of {_template_label(template)} on {backend} (per suite)")
        for suite, row in sorted(table.items(), key=lambda kv: kv[0]):
            failed = ", ".join(row["failed"]) or "-"
            terminalreporter.write_line(
                f"{suite:20} {row['passed']:3}/{row['total']:<3} failed: {failed}"
            )
