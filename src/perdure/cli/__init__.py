"""The ``perdure`` command: run a server, and talk to a running one.

``perdure serve`` loads a SAM template and runs the server; ``perdure worker`` runs
handlers only, for a server sharing its PostgreSQL database. Every other command is a
client of a running server through boto3's ``lambda`` client (the same API AWS
serves), so anything shown here can also be scripted with boto3 or the AWS CLI
against ``--url``.

Exit codes: 0 success; 1 the service answered with an error (or the invoked function
failed); 2 bad usage, a bad template, or no server at ``--url``; 3 ``perdure replay``:
the code diverges from a recording.

The top of the stack: it may import every package, and none imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from perdure.cli import callbacks, deploy, executions, invoke, logs, node, replay, serve
from perdure.cli.options import (
    DEFAULT_URL,
    UsageError,
    client_options,
    default_db_url,
    version_text,
)
from perdure.store import StoreError

__all__ = ["DEFAULT_URL", "build_parser", "default_db_url", "main"]

# One module per command group, each registering its own sub-commands.
GROUPS = (serve, invoke, executions, callbacks, replay, deploy, logs, node)  # replay adds to executions: after it


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perdure",
        description="Self-hosted runtime for AWS Lambda durable functions.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version_text()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    client = client_options()
    for group in GROUPS:
        group.register(commands, client)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``perdure`` command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        print(f"perdure: error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:  # the database is unreachable, or newer than this perdure
        print(f"perdure: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

