"""AWS durable-execution conformance requirements, run against ``perdure serve`` with
TypeScript handlers.

The twin of ``test_conformance.py``: the same requirements and AWS's validator, but
the handlers are TypeScript on AWS's JavaScript SDK (``@aws/durable-execution-sdk-js``)
in ``ts/src/``, mapped to requirement ids by ``ts/template.yaml``. perdure bundles
them with esbuild (one bundle: every function has the same build metadata) and runs
them under AWS's Node runtime interface client. One test per requirement id, on
SQLite and on PostgreSQL (see conftest.py); ``PERDURE_CONFORMANCE_TS_URL`` points
the run at a server already serving ``ts/template.yaml``.

The requirements that assert CloudWatch log lines (``harness.LOG_CHECKED``) are
validated whole here too: the handlers log through the SDK's context logger.
"""

from __future__ import annotations

import json
import subprocess

import harness
import pytest

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(1800)]

TEMPLATE = harness.TS_TEMPLATE
URL_ENV = "PERDURE_CONFORMANCE_TS_URL"

ALL_IDS = sorted(
    {rid for _, rid in harness.template_requirements(TEMPLATE)},
    key=harness.requirement_sort_key,
)
REPO_ROOT = harness.HERE.parents[1]


@pytest.mark.parametrize("requirement_id", ALL_IDS)
def test_requirement(requirement_id: str, conformance_results: dict[str, harness.Result]) -> None:
    result = conformance_results[requirement_id]
    if not result.passed:
        pytest.fail(harness.describe_failure(result), pytrace=False)


def test_handlers_type_check() -> None:
    """``tsc`` (strict, tests/conformance/ts/tsconfig.json) accepts every handler."""
    from perdure.deploy import find_node

    tsc = REPO_ROOT / "node_modules" / "typescript" / "bin" / "tsc"
    assert tsc.exists(), f"{tsc} is missing: run `npm ci` at the repository root"
    done = subprocess.run(
        [str(find_node(None).node), str(tsc), "-p", str(TEMPLATE.parent), "--noEmit"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_function_shares_one_build() -> None:
    """Every function has the same esbuild metadata and names an export of handlers.ts."""
    resources = harness.load_template(TEMPLATE)["Resources"]
    metadata = {json.dumps(r.get("Metadata"), sort_keys=True) for r in resources.values()}
    assert len(metadata) == 1, metadata
    build = json.loads(metadata.pop())
    assert build["BuildMethod"] == "esbuild"
    assert build["BuildProperties"]["EntryPoints"] == ["handlers.ts"]
    for logical_id, resource in resources.items():
        handler = resource["Properties"]["Handler"]
        assert handler.startswith("handlers."), (logical_id, handler)


def test_template_maps_what_the_python_template_maps() -> None:
    """The TypeScript handlers cover the same requirements as the Python ones."""
    python_ids = {rid for _, rid in harness.template_requirements(harness.DEFAULT_TEMPLATE)}
    missing = sorted(python_ids - set(ALL_IDS), key=harness.requirement_sort_key)
    assert not missing, f"requirements without a TypeScript handler in ts/template.yaml: {missing}"
    unknown = sorted(set(ALL_IDS) - set(harness.requirement_files()), key=harness.requirement_sort_key)
    assert not unknown, f"ts/template.yaml maps unknown requirement ids: {unknown}"

