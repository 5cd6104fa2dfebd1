"""``perdure serve``: the HTTP API, the scheduler and the worker pool in one command."""

from __future__ import annotations

import logging
import os

import uvicorn

from perdure.api import LambdaApi
from perdure.functions import FunctionSpec
from perdure.runtime import Runtime

log = logging.getLogger("perdure.server")


def run_server(
    functions: dict[str, FunctionSpec],
    db_url: str,
    host: str = "127.0.0.1",
    port: int = 9000,
    workers: int = 2,
    threads: int = 8,
) -> None:
    """Serve until interrupted. Blocks."""
    logging.basicConfig(
        level=os.environ.get("PERDURE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    runtime = Runtime(db_url, functions, processes=workers, threads=threads)
    runtime.start()
    log.info("perdure: %d function(s), database %s, http://%s:%d", len(functions), db_url, host, port)
    try:
        uvicorn.run(
            LambdaApi(runtime), host=host, port=port, log_level="warning",
            access_log=False, timeout_keep_alive=75,
        )
    finally:
        runtime.stop()
