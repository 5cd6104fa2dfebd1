"""Runtimes other than Python's: sandboxes (Node.js under AWS's ``aws-lambda-ric``, a
custom runtime's ``bootstrap``) that a worker process starts and hands invocations to
through the Lambda Runtime API, one invocation per process at a time; and replaying a
recording against such a function's code through the same API.

Part of ``run``: the worker uses it, and ``perdure.run`` offers ``replay_sandboxed``;
nothing outside ``run`` imports it directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure import lazy_exports

if TYPE_CHECKING:
    from perdure.run.runtimes.replay import RecordingCalls, replay_sandboxed
    from perdure.run.runtimes.runtime_api import DurableCalls, Job, RuntimeApi
    from perdure.run.runtimes.sandbox import PoolStats, Result, Sandbox, SandboxError, SandboxPool

DOORS = {
    "replay": ["RecordingCalls", "replay_sandboxed"],
    "runtime_api": ["DurableCalls", "Job", "RuntimeApi"],
    "sandbox": ["PoolStats", "Result", "Sandbox", "SandboxError", "SandboxPool"],
}
__all__ = [
    "DurableCalls", "Job", "PoolStats", "RecordingCalls", "Result", "RuntimeApi", "Sandbox", "SandboxError",
    "SandboxPool", "replay_sandboxed",
]
__getattr__ = lazy_exports(__name__, DOORS)
