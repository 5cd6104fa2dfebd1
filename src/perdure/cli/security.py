"""``perdure serve``'s security options: SigV4 credentials, allowed ``Host`` names, TLS,
and the refusal to serve other machines without authentication."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from perdure.cli.options import fail


def add_security_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("security (see docs/security.md)")
    group.add_argument(
        "--auth",
        metavar="FILE",
        help="TOML file of credentials; every request must then be SigV4-signed with one "
        "of them (default: $PERDURE_AUTH; none: no authentication)",
    )
    group.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to answer besides localhost/127.0.0.1/::1 (repeatable; "
        "*.example.com for a domain; also $PERDURE_ALLOWED_HOSTS, comma-separated)",
    )
    group.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback --host without --auth (anyone who reaches the port can "
        "run, stop and read every execution)",
    )
    group.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (chain)")
    group.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")


def security_settings(args: argparse.Namespace) -> dict[str, Any]:
    """run_server's auth / allowed_hosts / tls arguments, or a usage error."""
    from perdure.http import is_loopback, load_auth

    auth_path = args.auth or os.environ.get("PERDURE_AUTH", "").strip() or None
    auth = None
    if auth_path:
        try:
            auth = load_auth(auth_path)
        except ValueError as exc:
            fail(str(exc))
    if auth is None and not is_loopback(args.host) and not args.insecure_no_auth:
        fail(
            f"--host {args.host} lets other machines reach the API, and without --auth anyone "
            "who reaches the port can run, stop and read every execution: pass --auth FILE "
            "(see docs/security.md), or --insecure-no-auth if a firewall or proxy already "
            "keeps others out"
        )
    hosts = list(args.allowed_host)
    hosts += [h.strip() for h in os.environ.get("PERDURE_ALLOWED_HOSTS", "").split(",") if h.strip()]
    tls = None
    if bool(args.tls_cert) != bool(args.tls_key):
        fail("--tls-cert and --tls-key go together")
    if args.tls_cert:
        for option, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
            if not Path(path).is_file():
                fail(f"{option} {path}: no such file")
        tls = (args.tls_cert, args.tls_key)
    return {"auth": auth, "allowed_hosts": hosts, "tls": tls}
