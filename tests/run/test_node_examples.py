"""The TypeScript examples (``examples/typescript``) type-check, and their tests pass with
AWS's JS testing kit twice: in process with ``LocalDurableTestRunner``, then against
``perdure serve`` on the examples' template with ``CloudDurableTestRunner`` (the same
test files, ``PERDURE_URL`` set).

Node is the one perdure would use to run Node functions; the packages come from the
repository root's ``node_modules`` (``make setup`` runs ``npm ci``). A missing one fails these tests.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from perdure.deploy import NodeUnavailable, find_node
from tests.support import Serve

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "typescript"
NODE_MODULES = ROOT / "node_modules"
TEST_FILES = sorted((EXAMPLE / "test").glob("*.test.ts"))
NODE_TIMEOUT_S = 240


def node() -> Path:
    """The node perdure runs Node functions on (``PERDURE_NODE``, this environment's, PATH)."""
    try:
        return find_node().node
    except NodeUnavailable as exc:
        pytest.fail(str(exc))


def installed(package: str) -> Path:
    path = NODE_MODULES / package
    if not (path / "package.json").is_file():
        pytest.fail(f"{package} is not installed in {NODE_MODULES}: run `make setup` (npm ci)")
    return path


def run_node(args: list[str], perdure_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PERDURE_URL"}
    if perdure_url is not None:
        env["PERDURE_URL"] = perdure_url
    return subprocess.run([str(node()), *args], cwd=EXAMPLE, capture_output=True, text=True,
                          timeout=NODE_TIMEOUT_S, env=env)


def expected_tests() -> int:
    return sum(len(re.findall(r"^test\(", path.read_text(), re.MULTILINE)) for path in TEST_FILES)


def run_example_tests(server: Serve | None = None) -> None:
    """``node --test`` over the example's tests: the local runner, or the cloud runner
    against ``server``."""
    done = run_node(
        ["--disable-warning=MODULE_TYPELESS_PACKAGE_JSON", "--test", "--test-reporter=spec",
         *(str(p.relative_to(EXAMPLE)) for p in TEST_FILES)],
        server.url if server else None,
    )
    output = f"--- stdout\n{done.stdout[-8000:]}\n--- stderr\n{done.stderr[-4000:]}"
    if server is not None:
        output += f"\n--- perdure serve\n{server.log()}"
    assert done.returncode == 0, f"node --test exited {done.returncode}\n{output}"
    # Every test reported as passed: a test runner that stops early also exits 0.
    passed = re.search(r"^\u2139 pass (\d+)$", done.stdout, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) == expected_tests(), f"expected {expected_tests()} passing tests\n{output}"


def test_examples_type_check() -> None:
    tsc = installed("typescript") / "bin" / "tsc"
    done = run_node([str(tsc), "--noEmit", "-p", "."])
    assert done.returncode == 0, f"tsc failed:\n{done.stdout}{done.stderr}"


def test_examples_pass_with_the_local_runner() -> None:
    installed("@aws/durable-execution-sdk-js-testing")
    run_example_tests()


def test_examples_pass_with_the_cloud_runner_against_perdure_serve(tmp_path: Path) -> None:
    installed("@aws/durable-execution-sdk-js-testing")
    installed("@aws-sdk/client-lambda")
    # A day passes in 10 s: the follow-up's one-day wait (the local runner skips it).
    server = Serve(f"sqlite:///{tmp_path / 'perdure.db'}", tmp_path / "serve.log", "--workers", "1",
                   "--time-scale", "8640", template=EXAMPLE / "template.yaml")
    server.start()
    try:
        run_example_tests(server)
    finally:
        server.stop()
