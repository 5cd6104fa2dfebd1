"""``perdure worker``: a process that only runs handlers.

It shares the PostgreSQL database of a ``perdure serve`` (and of any other workers):
it claims the invocations of the functions it hosts, renews their leases while they
run, fires timers that fall due, and wakes up when another process makes work ready.
Nothing passes between it and the server except through the database.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence
from typing import Any

from perdure.deploy import FunctionSpec
from perdure.run.runtime import Runtime
from perdure.run.tracing import install as install_tracing
from perdure.store import redact

log = logging.getLogger("perdure.fleet")


def run_worker(
    functions: dict[str, FunctionSpec],
    db_url: str,
    hosted: Sequence[str] | None = None,
    metrics: tuple[str, int] | None = None,
    **sizing: Any,
) -> None:
    """Run until SIGTERM or SIGINT. ``sizing``: ``processes``, ``threads``, ``lease_s``
    (``Runtime``'s defaults where not given); ``metrics``: (host, port) to answer
    ``GET /metrics`` on. Blocks."""
    logging.basicConfig(
        level=os.environ.get("PERDURE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    runtime = Runtime(db_url, functions, hosted=hosted, **sizing)  # raises if the database cannot be used
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    runtime.start()
    tracing = install_tracing(runtime)  # when OTEL_EXPORTER_OTLP_ENDPOINT is set
    if metrics is not None:
        from perdure.run.metrics import RuntimeMetrics

        RuntimeMetrics(runtime).serve(metrics[1], metrics[0])
        log.info("perdure worker: metrics at http://%s:%d/metrics", *metrics)
    names = ", ".join(sorted(hosted if hosted is not None else functions))
    log.info("perdure worker %s: %s; database %s", runtime.owner, names, redact(db_url))
    try:
        stop.wait()
    finally:
        log.info("perdure worker %s: stopping", runtime.owner)
        if tracing is not None:
            tracing.close()
        runtime.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
