"""Runtimes other than Python's: sandboxes (Node.js under AWS's ``aws-lambda-ric``, a
custom runtime's ``bootstrap``) that a worker process starts and hands invocations to
through the Lambda Runtime API, one invocation per process at a time.

Part of ``run``: the worker uses it; nothing outside ``run`` imports it directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure import lazy_exports

if TYPE_CHECKING:
    from perdure.run.runtimes.runtime_api import DurableCalls, Job, RuntimeApi
    from perdure.run.runtimes.sandbox import PoolStats, Result, Sandbox, SandboxError, SandboxPool

DOORS = {
    "runtime_api": ["DurableCalls", "Job", "RuntimeApi"],
    "sandbox": ["PoolStats", "Result", "Sandbox", "SandboxError", "SandboxPool"],
}
__all__ = ["DurableCalls", "Job", "PoolStats", "Result", "RuntimeApi", "Sandbox", "SandboxError", "SandboxPool"]
__getattr__ = lazy_exports(__name__, DOORS)
