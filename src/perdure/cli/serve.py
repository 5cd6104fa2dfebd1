"""``perdure serve`` and ``perdure worker``: run the server, or handlers only for a fleet."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from typing import Any

from perdure.cli.options import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    add_fleet_options,
    add_template_options,
    default_db_path,
    default_db_url,
    fail,
    find_template,
    load_functions,
    port_number,
    positive_int,
)
from perdure.cli.security import add_security_options, security_settings
from perdure.core import ENV as TIME_SCALE_ENV


def register(commands: Any, client: argparse.ArgumentParser) -> None:
    # -- serve
    serve = commands.add_parser(
        "serve",
        help="run the server for the functions of a SAM template",
        description="Run the perdure server for the functions of a SAM/CloudFormation template.",
    )
    serve.add_argument(
        "-t",
        "--template",
        metavar="PATH",
        help="SAM/CloudFormation template (default: template.yaml, .yml or .json here)",
    )
    serve.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $PERDURE_DB or sqlite:///$XDG_DATA_HOME/perdure/perdure.db)",
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"port to bind (default {DEFAULT_PORT})"
    )
    sizing = serve.add_mutually_exclusive_group()
    sizing.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="handler worker processes (default: the server's)",
    )
    sizing.add_argument(
        "--no-workers",
        action="store_true",
        help="run no handlers here: `perdure worker` processes sharing the PostgreSQL "
        "database run them",
    )
    serve.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="concurrent invocations per worker process (default: the server's)",
    )
    serve.add_argument(
        "--max-waiting-invokes",
        type=positive_int,
        metavar="N",
        help="synchronous invokes that may wait for their execution at once; more get "
        "TooManyRequestsException (default 1000)",
    )
    serve.add_argument(
        "--watch",
        action="store_true",
        help="publish a new version of a function within a second of a saved change "
        "(running executions stay on their versions; needs perdure[watch])",
    )
    serve.add_argument(
        "--lazy",
        action="store_true",
        help="do not import every handler at start (a broken handler is then found by "
        "its first invocation)",
    )
    serve.add_argument(
        "--time-scale",
        type=positive_float,
        metavar="N",
        help="development only: waits, retries and callback timeouts run N times faster",
    )
    add_fleet_options(serve)
    add_template_options(serve)
    add_security_options(serve)
    serve.set_defaults(handler=_cmd_serve)

    # -- worker
    worker = commands.add_parser(
        "worker",
        help="run handlers for a server that shares a PostgreSQL database",
        description="Run the handlers of some (default: all) functions of a SAM template, "
        "taking work from the PostgreSQL database a `perdure serve` shares. Run as many "
        "as you like, on as many machines; each takes only the functions it hosts.",
    )
    worker.add_argument(
        "-t",
        "--template",
        metavar="PATH",
        help="SAM/CloudFormation template (default: template.yaml, .yml or .json here)",
    )
    worker.add_argument(
        "--db",
        metavar="URL",
        help="PostgreSQL URL, postgresql://USER:PASSWORD@HOST:PORT/DATABASE (default: $PERDURE_DB)",
    )
    worker.add_argument(
        "--functions",
        metavar="NAME,...",
        help="host only these functions of the template (default: all of them)",
    )
    worker.add_argument(
        "--concurrency",
        type=positive_int,
        metavar="N",
        help="handler worker processes (default: the server's default)",
    )
    worker.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="concurrent invocations per worker process (default: the server's default)",
    )
    worker.add_argument(
        "--metrics-port",
        metavar="[HOST:]PORT",
        help="answer GET /metrics (Prometheus) on this port (host default 127.0.0.1)",
    )
    add_fleet_options(worker)
    add_template_options(worker)
    worker.set_defaults(handler=_cmd_worker)


def _cmd_serve(args: argparse.Namespace) -> int:
    functions = load_functions(args)
    db_url = args.db or default_db_url()
    check_db_url(db_url)
    if args.no_workers:
        _require_shared_db(db_url, "serve --no-workers")
    security = security_settings(args)
    # Everything that can refuse to start does so before the database is created.
    check_port_free(args.host, args.port)
    if not args.lazy and not args.no_workers:  # without workers, nothing runs handlers here
        from perdure.run import check_handlers

        problems = check_handlers(functions)
        if problems:
            fail(
                "cannot import the handler of "
                + ("; ".join(problems) if len(problems) == 1 else "\n  " + "\n  ".join(problems))
                + "\n(fix it, or start with --lazy to find it at the first invocation)"
            )
    from perdure.run import node_summary

    summary = node_summary(functions)
    if summary and not args.no_workers:
        from perdure.run import SANDBOXES

        print(
            f"perdure: Node functions run on {summary}, up to {SANDBOXES} runtime processes per worker "
            "process (PERDURE_SANDBOXES); cold starts and memory are in /metrics",
            file=sys.stderr,
        )
    if args.time_scale and args.time_scale != 1:
        os.environ[TIME_SCALE_ENV] = repr(args.time_scale)
        print(
            f"perdure: WARNING --time-scale {args.time_scale:g}: waits, retries and callback "
            f"timeouts run {args.time_scale:g} times faster (development only)",
            file=sys.stderr,
        )
    if not args.db and not os.environ.get("PERDURE_DB", "").strip():
        default_db_path().parent.mkdir(parents=True, exist_ok=True)

    from perdure.http import run_server  # lazily: client commands never import it

    on_start = None
    if args.watch:
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            fail("perdure serve --watch needs watchfiles: pip install 'perdure[watch]'")
        from perdure.run import Watcher

        template = find_template(args.template)
        on_start = Watcher(template, lambda: load_functions(args)).start
    sizing = _given(
        workers=0 if args.no_workers else args.workers,
        threads=args.threads,
        lease_s=args.lease_seconds,
        max_waiting_invokes=args.max_waiting_invokes,
    )
    from perdure.deploy import SnapshotError

    try:
        run_server(
            functions=functions, db_url=db_url, host=args.host, port=args.port, on_start=on_start,
            **sizing, **security,
        )
    except SnapshotError as exc:  # publishing the template's functions failed
        fail(str(exc))
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    functions = load_functions(args)
    db_url = args.db or os.environ.get("PERDURE_DB", "").strip()
    if not db_url:
        fail("perdure worker needs the server's database: pass --db postgresql://... or set PERDURE_DB")
    check_db_url(db_url)
    _require_shared_db(db_url, "worker")
    hosted = None
    if args.functions:
        logical = {spec.logical_id: name for name, spec in functions.items() if spec.logical_id}
        hosted = [name.strip() for name in args.functions.split(",") if name.strip()]
        hosted = [logical.get(name, name) if name not in functions else name for name in hosted]
        unknown = [name for name in hosted if name not in functions]
        if unknown or not hosted:
            fail(
                f"--functions: {', '.join(unknown) or 'no function named'} not in the template "
                f"(it has {', '.join(sorted(functions))})"
            )

    from perdure.run import run_worker  # lazily, as serve

    sizing = _given(processes=args.concurrency, threads=args.threads, lease_s=args.lease_seconds)
    metrics = _metrics_address(args.metrics_port) if args.metrics_port else None
    run_worker(functions=functions, db_url=db_url, hosted=hosted, metrics=metrics, **sizing)
    return 0


def _metrics_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"--metrics-port must be PORT or HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def check_db_url(db_url: str) -> None:
    """A database URL perdure can open, or a one-line usage error."""
    if db_url.startswith("sqlite:///") and len(db_url) > len("sqlite:///"):
        return
    if db_url.startswith(("postgresql://", "postgres://")):
        return
    hint = f" (a file? use sqlite:///{os.path.abspath(db_url)})" if "://" not in db_url else ""
    fail(f"--db {db_url!r}: expected sqlite:///PATH or postgresql://USER@HOST/DB{hint}")


def check_port_free(host: str, port: int) -> None:
    """Fail before anything starts when the address is taken (uvicorn would only
    find out after the server had said it was serving)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"--host {host}: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(f"port {port} on {host} is already in use (another perdure serve?): pick one with --port")
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _require_shared_db(db_url: str, command: str) -> None:
    if not db_url.startswith(("postgresql://", "postgres://")):
        fail(
            f"perdure {command} shares the database with other processes, which needs "
            "PostgreSQL (--db postgresql://...); with SQLite, `perdure serve` runs the "
            "handlers itself"
        )


def _given(**options: Any) -> dict[str, Any]:
    """The options the user gave (the rest keep the server's defaults)."""
    return {key: value for key, value in options.items() if value is not None}
