"""Repository-wide test policy: under ``PERDURE_TEST_REQUIRE=all`` (set by ``.ci/run``)
a test that skips fails instead, with its reason, so a machine without PostgreSQL,
espeak-ng, the speaker model or a browser can never pass CI by skipping their tests.
Developers without them still get skips, reported in the summary (``-ra``)."""

from __future__ import annotations

import os
import signal
from collections.abc import Generator
from typing import Any

import pytest

REQUIRE_ALL = os.environ.get("PERDURE_TEST_REQUIRE", "").strip().lower() == "all"


def pytest_configure(config: pytest.Config) -> None:
    # `make test &` from a non-interactive shell starts with SIGINT ignored, and child
    # processes would inherit that: tests that Ctrl-C a CLI would wait on it in vain.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"PERDURE_TEST_REQUIRE=all, and this test would skip: {reason}"
