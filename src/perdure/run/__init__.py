"""Running handlers: the runtime (scheduler and worker-process supervisor), worker
processes with the SDK's service client backed by the engine, stack traces, the
start-up import check, ``--watch``, ``perdure worker`` for fleets, replaying a
recording in process, the runtime's observers (metrics, traces), and sandboxes for
runtimes other than Python's (``runtimes``: Node.js, custom runtimes).

May import the packages below it (``store`` to ``ops``); the console, ``http``
and ``cli`` start and observe runtimes through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure import lazy_exports

if TYPE_CHECKING:
    from perdure.run.fleet import run_worker
    from perdure.run.metrics import RuntimeMetrics
    from perdure.run.preflight import check_handlers, node_summary, runtime_problem
    from perdure.run.replayer import format_pass, replay
    from perdure.run.runtime import LEASE_S, PROCESSES, SANDBOXES, THREADS, Runtime
    from perdure.run.tracing import install
    from perdure.run.watch import Watcher
    from perdure.run.worker import Worker, load_handler

DOORS = {
    "fleet": ["run_worker"],
    "metrics": ["RuntimeMetrics"],
    "preflight": ["check_handlers", "node_summary", "runtime_problem"],
    "replayer": ["format_pass", "replay"],
    "runtime": ["LEASE_S", "PROCESSES", "SANDBOXES", "THREADS", "Runtime"],
    "tracing": ["install"],
    "watch": ["Watcher"],
    "worker": ["Worker", "load_handler"],
}
__all__ = [
    "LEASE_S",
    "PROCESSES",
    "SANDBOXES",
    "THREADS",
    "Runtime",
    "RuntimeMetrics",
    "Watcher",
    "Worker",
    "check_handlers",
    "format_pass",
    "install",
    "load_handler",
    "node_summary",
    "replay",
    "run_worker",
    "runtime_problem",
]
__getattr__ = lazy_exports(__name__, DOORS)
