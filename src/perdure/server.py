"""``perdure serve``: the HTTP API, the scheduler and the worker pool in one command
(without the pool, ``workers=0``, when ``perdure worker`` processes run the handlers)."""

from __future__ import annotations

import logging
import os

import uvicorn

from perdure.api import LambdaApi
from perdure.functions import FunctionSpec
from perdure.runtime import LEASE_S, Runtime
from perdure.store import redact
from perdure.waiting import DEFAULT_MAX_WAITING

log = logging.getLogger("perdure.server")

GRACEFUL_SHUTDOWN_S = 2


def run_server(
    functions: dict[str, FunctionSpec],
    db_url: str,
    host: str = "127.0.0.1",
    port: int = 9000,
    workers: int = 2,
    threads: int = 8,
    lease_s: float = LEASE_S,
    max_waiting_invokes: int = DEFAULT_MAX_WAITING,
) -> None:
    """Serve until interrupted. Blocks."""
    logging.basicConfig(
        level=os.environ.get("PERDURE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    runtime = Runtime(db_url, functions, processes=workers, threads=threads, lease_s=lease_s)
    runtime.start()
    log.info(
        "perdure: %d function(s), %s, database %s, http://%s:%d", len(functions),
        f"{workers} worker process(es)" if workers else "no workers here", redact(db_url), host, port,
    )
    try:
        uvicorn.run(
            LambdaApi(runtime, max_waiting_invokes=max_waiting_invokes), host=host, port=port,
            log_level="warning", access_log=False, timeout_keep_alive=75,
            # Callers still waiting on a synchronous invoke when asked to stop are cut off
            # after this, so SIGTERM always ends the server promptly.
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
    finally:
        runtime.stop()
