"""``perdure replay``, ``perdure executions export`` and ``perdure executions rerun``.

Replay runs the current handler code in this process against a recorded execution
(an export file, or an ARN read from a server or straight from its database); see
``perdure.run.replayer``. ``--check`` replays many executions in parallel processes, as a
deploy gate. Export and rerun are perdure's own API paths (``/perdure/v1/...``).

Exit codes: 0 the code matches the recording(s); 3 it diverges; 1 the server
answered with an error; 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perdure.cli.options import (
    EXECUTION_STATUSES,
    add_template_options,
    connect,
    fail,
    load_functions,
    positive_int,
    read_json_file,
    server_url,
)
from perdure.cli.output import Output

if TYPE_CHECKING:
    from perdure.http import PerdureError

DIVERGED = 3
SINCE_RE = re.compile(r"^(\d+)([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def register(commands: Any, client: argparse.ArgumentParser) -> None:
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("--db", metavar="URL", help="read recordings straight from this database "
                        "(read only) instead of asking a server")

    replay = commands.add_parser(
        "replay", parents=[client, source],
        help="replay a recorded execution against the current code (debugger friendly)",
        description="Run the current handler in this process against a recorded execution: "
        "finished operations return their recorded results, nothing is written anywhere, "
        "breakpoint() and pdb work. Exit 3 when the code no longer matches the recording.",
    )
    replay.add_argument("source", nargs="?", metavar="ARN|FILE",
                        help="an export file (perdure executions export) or an execution ARN")
    replay.add_argument("-t", "--template", metavar="PATH",
                        help="SAM template (default: template.yaml, .yml or .json here)")
    add_template_options(replay)
    replay.add_argument("--function", metavar="F",
                        help="function (logical id) whose code to run (default: the recorded one)")
    replay.add_argument("--until", metavar="OPERATION",
                        help="stop before this operation (name or id)")
    replay.add_argument("--run-step", action="append", default=[], metavar="STEP",
                        help="run this recorded step's code again (repeatable), to debug inside it; "
                        "its result is compared with the recorded one (its own side effects happen)")
    replay.add_argument("--verbose", action="store_true", help="show the SDK's own log lines")
    replay.add_argument("--check", action="store_true",
                        help="replay many executions of --function in parallel processes; exit 3 if any diverges")
    replay.add_argument("--status", action="append", metavar="S", type=str.upper,
                        help="with --check: only executions in this status (repeatable; default all)")
    replay.add_argument("--since", metavar="AGE", help="with --check: only executions started in the last AGE (30m, 12h, 7d)")
    replay.add_argument("--max-items", type=positive_int, metavar="N", help="with --check: at most N executions (newest first)")
    replay.add_argument("--processes", type=positive_int, metavar="N", help="with --check: replay processes (default: CPU count)")
    replay.set_defaults(handler=_cmd_replay)

    executions = _subcommands(commands, "executions")
    export = executions.add_parser(
        "export", parents=[client, source],
        help="write an execution, its operations and history as one JSON document",
    )
    export.add_argument("arn", metavar="ARN", help="durable execution ARN")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of to stdout")
    export.set_defaults(handler=_cmd_export)

    rerun = executions.add_parser(
        "rerun", parents=[client],
        help="start a new execution reusing the recorded results before an operation",
    )
    rerun.add_argument("arn", metavar="ARN", help="durable execution ARN to rerun")
    rerun.add_argument("--from", dest="from_op", metavar="OPERATION",
                       help="run this operation (name or id) and everything after it again "
                       "(default: reuse every operation that succeeded)")
    rerun.add_argument("--input", metavar="JSON", help="new input (default: the recorded one)")
    rerun.add_argument("--name", metavar="NAME", help="name of the new execution")
    rerun.add_argument("--version", metavar="VERSION",
                       help="function version (number or alias) to run on (default: the newest)")
    rerun.set_defaults(handler=_cmd_rerun)


def _subcommands(commands: Any, group: str) -> Any:
    """The sub-command registry of another group (``perdure executions``)."""
    parser = commands.choices[group]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError(f"perdure {group} has no sub-commands")


# --------------------------------------------------------------------------- the recordings


def _server_failed(error: PerdureError) -> int:
    """Report a failed request to the server: a usage error when none answered."""
    if error.no_server:
        fail(f"{error.message}: start one with `perdure serve`, or pass --db URL")
    print(f"error: {error.code}: {error.message}", file=sys.stderr)
    return 1


def fetch_document(args: argparse.Namespace, arn: str) -> dict[str, Any]:
    """The export of execution ``arn``, from ``--db`` or the server; raises
    ``PerdureError``."""
    from perdure.errors import ServiceError
    from perdure.http import PerdureError
    from perdure.ops import check_document, export_execution

    if args.db:
        engine = _engine(args.db)
        try:
            return export_execution(engine, arn)
        except ServiceError as exc:
            raise PerdureError(exc.code, exc.message, exc.status) from None
        finally:
            engine.store.close()
    with connect(args) as client:
        return check_document(client.export(arn), arn)


def _engine(db_url: str) -> Any:
    from perdure.core import Engine
    from perdure.store import open_store

    return Engine(open_store(db_url))


def _load_file(path: str) -> dict[str, Any]:
    from perdure.errors import ServiceError
    from perdure.ops import check_document

    document = read_json_file(path, path)
    try:
        return check_document(document, path)
    except ServiceError as exc:
        fail(exc.message)


# --------------------------------------------------------------------------- export / rerun


def _cmd_export(args: argparse.Namespace) -> int:
    from perdure.http import PerdureError

    try:
        document = fetch_document(args, args.arn)
    except PerdureError as exc:
        return _server_failed(exc)
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: {len(document['Operations'])} operations, "
              f"{len(document['History'])} events", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_rerun(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.from_op:
        body["FromOperation"] = args.from_op
    if args.input is not None:
        try:
            json.loads(args.input)
        except json.JSONDecodeError as exc:
            fail(f"--input is not valid JSON: {exc}")
        body["Input"] = args.input
    if args.name:
        body["Name"] = args.name
    if args.version:
        body["Version"] = args.version
    from perdure.http import PerdureError

    try:
        with connect(args) as client:
            answer = client.rerun(args.arn, body)
    except PerdureError as exc:
        return _server_failed(exc)
    out = Output(args)
    if out.json:
        out.print_json(answer)
        return 0
    reused = answer.get("ReusedOperations") or []
    out.note(f"started {answer['DurableExecutionArn']}")
    start = answer.get("FromOperation")
    if start:
        out.note(f"runs again from {start.get('Name') or start['Id']} ({start['Type'].lower()})")
    out.note(f"reuses {len(reused)} recorded result(s): "
             + (", ".join(op.get("Name") or op["Id"][:12] for op in reused) or "none"))
    return 0


# --------------------------------------------------------------------------- replay


def _handler_for(args: argparse.Namespace, function: str | None) -> tuple[Any, Any]:
    from perdure.run import load_handler

    functions = load_functions(args)
    if function is None:
        fail("say which function's code to run: --function F")
    spec = functions.get(function) or next((s for s in functions.values() if s.name == function), None)
    if spec is None:
        fail(f"--function {function}: not in the template (functions: {', '.join(sorted(functions))})")
    if not spec.durable:
        fail(f"{function} is not a durable function: there is nothing to replay")
    if not spec.in_process:
        return spec, None  # its code runs in a sandbox (perdure.run.replay_sandboxed)
    os.environ.update(spec.environment)
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = spec.name
    try:
        return spec, load_handler(spec)
    except Exception as exc:
        fail(f"cannot load {spec.handler} of {spec.name}: {type(exc).__name__}: {exc}")


def _recorded_function(document: dict[str, Any]) -> str | None:
    name = document["Execution"].get("FunctionName")
    if isinstance(name, str):
        return name
    arn = document["Execution"]["DurableExecutionArn"]
    match = re.search(r":function:([^:/]+)", arn)
    return match.group(1) if match else None


def _cmd_replay(args: argparse.Namespace) -> int:
    if args.check:
        return _cmd_check(args)
    if not args.source:
        fail("replay needs an ARN or an export file (or --check --function F)")
    if args.status or args.since or args.max_items or args.processes:
        fail("--status, --since, --max-items and --processes go with --check")
    if os.path.exists(args.source) or not args.source.startswith("arn:"):
        document = _load_file(args.source)
    else:
        from perdure.http import PerdureError

        try:
            document = fetch_document(args, args.source)
        except PerdureError as exc:
            return _server_failed(exc)
    from perdure.run import format_pass, replay

    spec, handler = _handler_for(args, args.function or _recorded_function(document))
    execution = document["Execution"]
    out = Output(args)
    if not out.json:
        print(f"replaying {execution.get('DurableExecutionName')} ({execution.get('Status')}, "
              f"{len(document['Operations'])} operations) with the current code of {spec.name}", flush=True)
    if handler is None:
        from perdure.run import replay_sandboxed

        if args.run_step:
            fail(f"--run-step runs Python steps in this process; {spec.name} runs on {spec.runtime}")
        report = replay_sandboxed(document, spec, until=args.until)
        if not out.json:
            for op in report.passed:
                print(format_pass(op, None), flush=True)
    else:
        report = replay(
            document, handler, until=args.until, quiet=not args.verbose, function_name=spec.name,
            run_steps=frozenset(args.run_step),
            on_pass=None if out.json else (lambda op, site: print(format_pass(op, site), flush=True)),
        )
    if out.json:
        out.print_json(report.to_dict())
        return DIVERGED if report.diverged else 0
    _print_report(report)
    return DIVERGED if report.diverged else 0


def _print_report(report: Any) -> None:
    def say(text: str) -> None:
        print(text, flush=True)

    if report.divergence is not None:
        d = report.divergence
        say(f"DIVERGED at operation {d.operation_id}")
        say(f"  recorded: {_identity_text(d.recorded)}")
        say(f"  code now: {_identity_text(d.current)}")
        if d.site is not None:
            say(f"  called at {d.site.file}:{d.site.line} in {d.site.function}(): {d.site.code}")
            for file, line, function in d.site.callers:
                say(f"    from {file}:{line} in {function}()")
        say(f"  {d.message}")
        return
    if report.outcome == "stopped":
        where = report.stopped_at
        label = f" before {where.get('Name') or where.get('Id')}" if where else ""
        say(f"stopped{label}: {report.stop_reason}")
    else:
        result = report.result
        detail = result.result if result.status == "SUCCEEDED" else json.dumps(result.error)
        say(f"finished: {result.status} {detail or ''}".rstrip())
    for note in report.notes:
        say(f"note: {note}")
    say(f"matches the recording ({len(report.passed)} operations replayed, nothing written)")


def _identity_text(identity: dict[str, Any] | None) -> str:
    if not identity:
        return "no operation"
    parts = [f"{identity.get('Type')}"]
    if identity.get("SubType"):
        parts.append(f"subtype {identity['SubType']}")
    parts.append(f"name {identity.get('Name')!r}")
    if identity.get("ParentId"):
        parts.append(f"parent {str(identity['ParentId'])[:12]}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- check


def _since_ms(text: str) -> int:
    match = SINCE_RE.match(text.strip())
    if not match:
        fail(f"--since {text!r}: expected a number and a unit, like 30m, 12h or 7d")
    return int(time.time() * 1000) - int(match.group(1)) * UNITS[match.group(2)] * 1000


def _list_arns(args: argparse.Namespace, statuses: list[str]) -> list[str]:
    since = _since_ms(args.since) if args.since else None
    limit = args.max_items
    if args.db:
        engine = _engine(args.db)
        from perdure.core import Engine
        from perdure.deploy import FunctionSpec

        assert isinstance(engine, Engine)
        engine.functions[args.function] = FunctionSpec(args.function, "unused.handler")
        arns: list[str] = []
        marker = None
        try:
            while True:
                rows, marker = engine.list_executions(args.function, statuses, since, None, None, marker, 1000, True)
                arns.extend(r.arn for r in rows)
                if not marker or (limit and len(arns) >= limit):
                    break
        finally:
            engine.store.close()
        return arns[:limit] if limit else arns
    from botocore.exceptions import BotoCoreError, ClientError

    from perdure.http import PerdureError

    request: dict[str, Any] = {"FunctionName": args.function, "ReverseOrder": True, "MaxItems": 1000}
    if statuses:
        request["Statuses"] = statuses
    if since:
        request["StartedAfter"] = since / 1000
    arns = []
    with connect(args) as client:
        try:
            for page in client.pages("list_durable_executions_by_function", **request):
                arns.extend(e["DurableExecutionArn"] for e in page.get("DurableExecutions", []))
                if limit and len(arns) >= limit:
                    break
        except (BotoCoreError, ClientError) as exc:
            error = PerdureError.from_botocore(exc, client.url)
            if error is None:
                raise
            raise error from None
    return arns[:limit] if limit else arns


def _cmd_check(args: argparse.Namespace) -> int:
    if not args.function:
        fail("replay --check needs --function F (the function whose executions to replay)")
    if args.source or args.until:
        fail("replay --check replays the executions of --function; it takes no ARN, FILE or --until")
    statuses: list[str] = []
    for item in args.status or []:
        for status in item.split(","):
            if status.strip() not in EXECUTION_STATUSES:
                fail(f"--status {status!r}: expected one of {', '.join(EXECUTION_STATUSES)}")
            statuses.append(status.strip())
    spec, _ = _handler_for(args, args.function)  # fail early on a bad template or handler
    started = time.perf_counter()
    from perdure.http import PerdureError

    try:
        arns = _list_arns(args, statuses)
    except PerdureError as exc:
        return _server_failed(exc)
    out = Output(args)
    if not arns:
        out.note(f"no executions of {args.function} to check")
        return 0
    processes = min(args.processes or os.cpu_count() or 1, len(arns))
    chunks = [arns[i::processes] for i in range(processes)]
    source = {"db": args.db, "url": None if args.db else server_url(args)}
    template = {"template": args.template, "env_vars": args.env_vars, "parameter_overrides": args.parameter_overrides}
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [pool.submit(_check_chunk, chunk, source, template, spec.name) for chunk in chunks]
        results = [r for f in futures for r in f.result()]
    order = {arn: i for i, arn in enumerate(arns)}
    results.sort(key=lambda r: order[r["DurableExecutionArn"]])
    elapsed = time.perf_counter() - started
    diverged = [r for r in results if r["Outcome"] in ("diverged", "error")]
    if out.json:
        out.print_json({"Executions": results, "Diverged": len(diverged), "Seconds": round(elapsed, 3)})
        return DIVERGED if diverged else 0
    out.table(
        ["Execution", "Recorded", "Replay", "Detail"],
        [[r["Name"], r["RecordedStatus"], r["Outcome"].upper() if r["Outcome"] != "finished" else "ok", r["Detail"]] for r in results],
        no_wrap=("Recorded", "Replay"),
    )
    print(f"{len(results)} executions replayed in {elapsed:.1f} s with {processes} process(es): "
          f"{len(diverged)} diverge", file=sys.stderr)
    return DIVERGED if diverged else 0


def _check_chunk(arns: list[str], source: dict[str, Any], template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Runs in a check process: load the handler once, replay each execution."""
    from perdure.http import PerdureClient
    from perdure.ops import check_document, export_execution
    from perdure.run import replay, replay_sandboxed

    args = argparse.Namespace(db=source["db"], url=source["url"], function=function, **template)
    spec, handler = _handler_for(args, function)
    fetch: Callable[[str], dict[str, Any]]
    close: Callable[[], None]
    if args.db:
        engine = _engine(args.db)
        fetch, close = (lambda arn: export_execution(engine, arn)), engine.store.close
    else:
        client = PerdureClient(args.url)
        fetch, close = (lambda arn: check_document(client.export(arn))), client.close
    results: list[dict[str, Any]] = []
    for arn in arns:
        name = arn.split("/durable-execution/")[-1].split("/")[0]
        row: dict[str, Any] = {"DurableExecutionArn": arn, "Name": name, "RecordedStatus": "?", "Outcome": "error", "Detail": ""}
        try:
            document = fetch(arn)
            row["RecordedStatus"] = document["Execution"].get("Status")
            if handler is None:
                report = replay_sandboxed(document, spec)
            else:
                report = replay(document, handler, function_name=function)
        except Exception as exc:
            row["Detail"] = f"{type(exc).__name__}: {exc}"
            results.append(row)
            continue
        row["Outcome"] = report.outcome
        if report.divergence is not None:
            d = report.divergence
            site = f" at {d.site.file}:{d.site.line}" if d.site else ""
            row["Detail"] = f"{d.kind} {d.operation_id[:12]}{site}: {d.message}"
        elif report.outcome == "stopped":
            where = report.stopped_at or {}
            row["Detail"] = f"up to date until {where.get('Name') or where.get('Id') or 'a suspension'}"
        else:
            row["Detail"] = "; ".join(report.notes) or f"{len(report.passed)} operations"
        results.append(row)
    close()
    return results
