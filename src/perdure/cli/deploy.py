"""``perdure deploy``, ``perdure alias``, ``perdure functions`` and ``perdure versions``:
publish a template's functions as versions, point aliases at them, list them.

``deploy`` snapshots the local files into the database a server uses (the server
runs new executions on the new versions at once; running ones stay on theirs); the
other commands are clients of a running server, through boto3's ``lambda`` client.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import TYPE_CHECKING, Any

from perdure.cli.options import (
    add_template_options,
    call_server,
    default_db_url,
    fail,
    load_functions,
)
from perdure.cli.output import Output, strip_metadata

if TYPE_CHECKING:
    from perdure.http import PerdureClient


def register(commands: Any, client: argparse.ArgumentParser) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="publish a new version of each function whose code or settings changed",
        description="Snapshot the functions of a SAM template (code, layers, handler, "
        "environment, limits) into the database as new versions, numbered per function, "
        "when they differ from the newest version, and move each AutoPublishAlias. "
        "Executions already running keep their versions.",
    )
    deploy.add_argument(
        "-t", "--template", metavar="PATH",
        help="SAM/CloudFormation template (default: template.yaml, .yml or .json here)",
    )
    deploy.add_argument(
        "--db", metavar="URL",
        help="database of the server (default: $PERDURE_DB or the server's default SQLite file)",
    )
    deploy.add_argument("--json", action="store_true", help="print the result as JSON")
    add_template_options(deploy)
    deploy.set_defaults(handler=_cmd_deploy)

    alias = commands.add_parser(
        "alias", help="point an alias (Fn:live) at a version, or list aliases"
    ).add_subparsers(dest="alias_command", metavar="ACTION", required=True)
    alias_set = alias.add_parser(
        "set", parents=[client], help="create or move an alias: perdure alias set Fn:live 3"
    )
    alias_set.add_argument("name", metavar="FUNCTION:ALIAS")
    alias_set.add_argument("version", metavar="VERSION", help="a version number, or $LATEST (the newest)")
    alias_set.add_argument("--description", metavar="TEXT")
    alias_set.set_defaults(handler=_cmd_alias_set)
    alias_list = alias.add_parser("list", parents=[client], help="a function's aliases")
    alias_list.add_argument("function", metavar="FUNCTION")
    alias_list.set_defaults(handler=_cmd_alias_list)

    functions = commands.add_parser(
        "functions", parents=[client], help="list the functions a server knows"
    )
    functions.set_defaults(handler=_cmd_functions)

    versions = commands.add_parser(
        "versions", parents=[client], help="list a function's published versions"
    )
    versions.add_argument("function", metavar="FUNCTION")
    versions.set_defaults(handler=_cmd_versions)


def _cmd_deploy(args: argparse.Namespace) -> int:
    from perdure.deploy import SnapshotError, publish
    from perdure.store import open_store

    functions = load_functions(args)
    store = open_store(args.db or default_db_url())
    results = []
    try:
        for spec in functions.values():
            try:
                row, created = publish(store, spec)
            except SnapshotError as exc:
                fail(str(exc))
            results.append({
                "FunctionName": spec.name,
                "LogicalId": spec.logical_id,
                "Version": str(row.version),
                "Published": created,
                "Alias": spec.auto_publish_alias,
                "CodeSha256": row.code_sha256,
            })
    finally:
        store.close()
    out = Output(args)
    if out.json:
        out.print_json(results)
        return 0
    out.table(
        ["function", "logical id", "version", "", "alias"],
        [
            (r["FunctionName"], r["LogicalId"], r["Version"], "published" if r["Published"] else "unchanged", r["Alias"])
            for r in results
        ],
    )
    return 0


def _split_alias(text: str) -> tuple[str, str]:
    from perdure.deploy import parse_qualified_name

    try:
        function, alias = parse_qualified_name(text)
    except ValueError as exc:
        fail(str(exc))
    if not alias:
        fail(f"name the alias as FUNCTION:ALIAS (for example Orders:live), got {text!r}")
    return function, alias


def _cmd_alias_set(args: argparse.Namespace) -> int:
    function, alias = _split_alias(args.name)

    def action(client: PerdureClient) -> int:
        lambda_api = client.lambda_client
        request: dict[str, Any] = {"FunctionName": function, "Name": alias, "FunctionVersion": args.version}
        if args.description is not None:
            request["Description"] = args.description
        try:
            response = lambda_api.update_alias(**request)
        except lambda_api.exceptions.ResourceNotFoundException as exc:
            if "Alias not found" not in str(exc):
                raise
            response = lambda_api.create_alias(**request)
        response = strip_metadata(response)
        out = Output(args)
        if out.json:
            out.print_json(response)
        else:
            out.note(f"{function}:{alias} -> version {response['FunctionVersion']}")
        return 0

    return call_server(args, action)


def _cmd_alias_list(args: argparse.Namespace) -> int:
    def action(client: PerdureClient) -> int:
        aliases = [a for page in client.pages("list_aliases", FunctionName=args.function) for a in page["Aliases"]]
        out = Output(args)
        if out.json:
            out.print_json(aliases)
        else:
            out.table(["alias", "version", "description"], [
                (a["Name"], a["FunctionVersion"], a.get("Description")) for a in aliases
            ])
        return 0

    return call_server(args, action)


def _cmd_functions(args: argparse.Namespace) -> int:
    def action(client: PerdureClient) -> int:
        # perdure adds each function's template logical id (LogicalId), which boto3's
        # model does not know: read it from the raw response.
        logical: dict[str, str] = {}

        def keep_logical_ids(http_response: Any, **_: Any) -> None:
            with contextlib.suppress(ValueError, AttributeError):
                for item in json.loads(http_response.content).get("Functions", []):
                    if item.get("LogicalId"):
                        logical[item["FunctionName"]] = item["LogicalId"]

        client.lambda_client.meta.events.register("after-call.lambda.ListFunctions", keep_logical_ids)
        functions = [f for page in client.pages("list_functions") for f in page["Functions"]]
        for function in functions:
            if function["FunctionName"] in logical:
                function["LogicalId"] = logical[function["FunctionName"]]
        out = Output(args)
        if out.json:
            out.print_json(functions)
        else:
            out.table(["function", "logical id", "handler", "timeout", "durable", "description"], [
                (f["FunctionName"], f.get("LogicalId"), f.get("Handler"), f.get("Timeout"),
                 "yes" if f.get("DurableConfig") else "no", f.get("Description"))
                for f in functions
            ], no_wrap=["function"])
        return 0

    return call_server(args, action)


def _cmd_versions(args: argparse.Namespace) -> int:
    def action(client: PerdureClient) -> int:
        versions = [v for page in client.pages("list_versions_by_function", FunctionName=args.function) for v in page["Versions"]]
        out = Output(args)
        if out.json:
            out.print_json(versions)
        else:
            out.table(["version", "code sha256", "published", "description"], [
                (v["Version"], v.get("CodeSha256"), v.get("LastModified"), v.get("Description"))
                for v in versions
            ])
        return 0

    return call_server(args, action)
