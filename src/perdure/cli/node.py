"""``perdure node``: the Node.js that runs Node functions, and installing AWS's runtime
interface client for it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from perdure.cli.options import fail


def register(commands: Any, _client: argparse.ArgumentParser) -> None:
    node = commands.add_parser(
        "node",
        help="the Node.js that runs Node functions",
        description="Show or set up the Node.js that runs Node functions (22 or newer).",
    )
    node.add_argument("--node", metavar="PATH", help="this node instead of the one perdure would find")
    actions = node.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    install = actions.add_parser(
        "install",
        help="install AWS's runtime interface client (aws-lambda-ric), which builds a native addon",
        description="Install aws-lambda-ric, pinned, into $PERDURE_NODE_HOME (default: share/perdure/node "
        "in this Python environment). Needs npm, a C++ compiler, make, cmake and Python; "
        "does nothing when that install is already there.",
    )
    install.set_defaults(handler=_cmd_install)
    info = actions.add_parser("info", help="which node perdure uses, and whether the runtime client is installed")
    info.set_defaults(handler=_cmd_info)


def _cmd_install(args: argparse.Namespace) -> int:
    from perdure.deploy import NodeUnavailable, find_node, install_ric

    try:
        toolchain = find_node(args.node)
        entry = install_ric(toolchain)
    except NodeUnavailable as exc:
        fail(str(exc))
    print(f"perdure: aws-lambda-ric is installed in {entry.parent} for Node.js {toolchain.version_text} ({toolchain.node})")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from perdure.deploy import NodeUnavailable, find_node, node_home, ric_entry

    try:
        toolchain = find_node(args.node)
    except NodeUnavailable as exc:
        print(f"node: {exc}", file=sys.stderr)
        return 1
    print(f"node: {toolchain.node} ({toolchain.version_text}, from {toolchain.found_by})")
    try:
        print(f"runtime interface client: {ric_entry().parent}")
    except NodeUnavailable as exc:
        print(f"runtime interface client: {exc}", file=sys.stderr)
        print(f"(node home: {node_home()})")
        return 1
    return 0
