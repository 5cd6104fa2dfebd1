"""AWS durable-execution conformance requirements, run against ``perdure serve``.

One test per requirement id. The handlers live in ``handlers/`` and are mapped to
requirement ids by ``template.yaml``; the requirements and the validator are
AWS's (package ``aws-durable-execution-conformance-tests``). All selected
requirements are validated concurrently once per session (see conftest.py).

Exclusions and partial checks:

* Requirements that also assert CloudWatch log lines (``harness.LOG_CHECKED``:
  1-7, 1-17, 1-18, 3-11, 3-17 and the plugin suite 10-1 .. 10-7) are validated
  whole: the validator reads the lines through the server's CloudWatch Logs API.
* Invoke suite (5-1 .. 5-16): run like the others (chained invoke, durable targets
  in the same template).
"""

from __future__ import annotations

import harness
import pytest

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(1800)]

ALL_IDS = sorted(
    {rid for _, rid in harness.template_requirements(harness.DEFAULT_TEMPLATE)},
    key=harness.requirement_sort_key,
)
CORE_IDS = ALL_IDS

# Suites without handlers here, and why.
EXCLUDED_SUITES: dict[str, str] = {}


@pytest.mark.parametrize("requirement_id", CORE_IDS)
def test_requirement(requirement_id: str, conformance_results: dict[str, harness.Result]) -> None:
    result = conformance_results[requirement_id]
    if not result.passed:
        pytest.fail(harness.describe_failure(result), pytrace=False)


def test_template_covers_every_requirement() -> None:
    """Every requirement of the conformance package has a handler, unless excluded."""
    available = set(harness.requirement_files())
    mapped = set(ALL_IDS)
    excluded = {rid for rid in available if harness.suite_of(rid) in EXCLUDED_SUITES}
    missing = sorted(available - mapped - excluded, key=harness.requirement_sort_key)
    assert not missing, f"requirements without a handler in template.yaml: {missing}"
    unknown = sorted(mapped - available, key=harness.requirement_sort_key)
    assert not unknown, f"template.yaml maps unknown requirement ids: {unknown}"


def test_log_checked_requirements_are_still_validated() -> None:
    """The log-asserting requirements are in the run, and still assert logs."""
    for rid in harness.LOG_CHECKED:
        assert rid in CORE_IDS, rid
        data = harness.load_requirement(harness.requirement_files()[rid])
        assert data.get("ExpectedLogs"), f"{rid} no longer asserts logs; update LOG_CHECKED"
