"""``perdure serve``: the HTTP API, the scheduler and the worker pool in one command
(without the pool, ``workers=0``, when ``perdure worker`` processes run the handlers)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from perdure.console import Console, with_console
from perdure.deploy import FunctionSpec, publish_all
from perdure.http.app import Gateway
from perdure.http.auth import AuthConfig, Authenticator, SigV4Middleware, store_callback_resolver
from perdure.http.connections import MAX_HEAD_BYTES, DeadlineH11Protocol
from perdure.http.lambda_api import LambdaApi
from perdure.http.request_guard import RequestGuard
from perdure.http.sync_waiters import DEFAULT_MAX_WAITING
from perdure.run import LEASE_S, PROCESSES, THREADS, Runtime, RuntimeMetrics
from perdure.run import install as install_tracing
from perdure.store import redact

log = logging.getLogger("perdure.server")

GRACEFUL_SHUTDOWN_S = 2


def run_server(
    functions: dict[str, FunctionSpec],
    db_url: str,
    host: str = "127.0.0.1",
    port: int = 9000,
    workers: int = PROCESSES,
    threads: int = THREADS,
    lease_s: float = LEASE_S,
    max_waiting_invokes: int = DEFAULT_MAX_WAITING,
    auth: AuthConfig | None = None,
    allowed_hosts: Sequence[str] = (),
    tls: tuple[str, str] | None = None,
    on_start: Callable[[Runtime], None] | None = None,
) -> None:
    """Serve until interrupted. Blocks. ``auth``: the credentials requests must be
    signed with (None: no authentication); ``allowed_hosts``: ``Host`` names served
    besides loopback ones; ``tls``: (certificate file, key file) to serve HTTPS.
    First publishes a new version of each function whose code or settings changed
    since its newest version; ``on_start`` is called with the started runtime
    (``perdure serve --watch`` starts its watcher there)."""
    logging.basicConfig(
        level=os.environ.get("PERDURE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    runtime = Runtime(db_url, functions, processes=workers, threads=threads, lease_s=lease_s)
    publish_all(runtime.store, functions, runtime.engine.clock)  # executions run on immutable snapshots
    runtime.start()
    if on_start is not None:
        on_start(runtime)
    tracing = install_tracing(runtime)  # when OTEL_EXPORTER_OTLP_ENDPOINT is set
    log.info(
        "perdure: %d function(s), %s, database %s, %s://%s:%d, %s", len(functions),
        f"{workers} worker process(es)" if workers else "no workers here", redact(db_url),
        "https" if tls else "http", host, port,
        f"{len(auth.credentials)} credential(s)" if auth else "no authentication",
    )
    ssl: dict[str, Any] = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    api = with_console(LambdaApi(runtime, max_waiting_invokes=max_waiting_invokes), Console(runtime.engine))
    try:
        uvicorn.run(
            build_app(Gateway(api, runtime, RuntimeMetrics(runtime)), runtime, auth, allowed_hosts, host), host=host, port=port,
            log_level="warning", access_log=False, timeout_keep_alive=75,
            http=DeadlineH11Protocol, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            # Callers still waiting on a synchronous invoke when asked to stop are cut off
            # after this, so SIGTERM always ends the server promptly (an idle TLS
            # connection would otherwise hold it for asyncio's 30 s TLS shutdown).
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            **ssl,
        )
    finally:
        if tracing is not None:
            tracing.close()
        runtime.stop()


def build_app(
    app: ASGIApp,
    runtime: Runtime,
    auth: AuthConfig | None,
    allowed_hosts: Sequence[str] = (),
    host: str = "",
) -> ASGIApp:
    """``app`` behind the request guard and, with ``auth``, SigV4 authentication. The
    address bound (when it names one host) is an allowed ``Host`` too."""
    if auth is not None:
        app = SigV4Middleware(app, Authenticator(auth), store_callback_resolver(runtime.engine.store))
    hosts = [*allowed_hosts, *([host] if host and host not in ("0.0.0.0", "::") else [])]
    return RequestGuard(app, hosts)
