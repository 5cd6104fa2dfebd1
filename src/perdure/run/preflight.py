"""Import every handler once before serving, in a throwaway process.

A handler with a syntax error, a failing import or a ``Handler:`` naming nothing would
otherwise be found only when its first invocation runs (and fails six times, with
back-off, before the execution gives up). ``check_handlers`` imports each function's
handler the way a worker process does (its ``CodeUri`` on ``sys.path``, its
environment variables set) in a fresh spawned process, so nothing it imports stays in
the server, and reports each failure naming the function, the file and the line.
Functions of other runtimes are checked for what starts them (``runtime_problem``);
their handlers load in their own processes.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from perdure.deploy import FunctionSpec, NodeUnavailable, find_node, ric_entry

TIMEOUT_S = 120.0


def runtime_problem(spec: FunctionSpec) -> str | None:
    """Why ``spec``'s runtime cannot run here (no suitable Node, no runtime interface
    client, no executable bootstrap), or None. Python always can."""
    if spec.language == "nodejs":
        try:
            find_node()
            ric_entry()
        except NodeUnavailable as exc:
            return str(exc)
        return None
    if spec.language == "provided":
        bootstrap = (spec.code_uri or Path.cwd()) / "bootstrap"
        if not bootstrap.is_file() or not os.access(bootstrap, os.X_OK):
            return f"its CodeUri has no executable bootstrap ({bootstrap}): a custom runtime starts from one"
    return None


def node_summary(functions: dict[str, FunctionSpec]) -> str | None:
    """One line on the Node.js that runs the Node functions (None: there are none)."""
    if not any(spec.language == "nodejs" for spec in functions.values()):
        return None
    try:
        node = find_node()
    except NodeUnavailable:
        return None
    return f"Node.js {node.version_text} ({node.node}, from {node.found_by}) under aws-lambda-ric ({ric_entry().parent})"


def check_handlers(functions: dict[str, FunctionSpec], timeout_s: float = TIMEOUT_S) -> list[str]:
    """One line per function whose handler cannot be imported (empty: all import)."""
    functions = {name: spec for name, spec in functions.items() if spec.in_process}
    if not functions:
        return []
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_import_all, args=(send, functions), name="perdure-preflight", daemon=True)
    proc.start()
    send.close()
    try:
        if receive.poll(timeout_s):
            problems: list[str] = receive.recv()
        else:
            problems = [f"importing the handlers took longer than {timeout_s:.0f} s (use --lazy to skip this check)"]
    except EOFError:
        problems = [f"the process importing the handlers exited with status {proc.exitcode} "
                    "(a handler module ends the process when imported?)"]
    finally:
        receive.close()
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    return problems


def _import_all(conn: Connection, functions: dict[str, FunctionSpec]) -> None:
    base = dict(os.environ)
    problems: list[str] = []
    for spec in functions.values():
        os.environ.clear()
        os.environ.update(base)
        os.environ.update(spec.environment)
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = spec.name
        problem = import_problem(spec)
        if problem:
            problems.append(problem)
    conn.send(problems)
    conn.close()


def import_problem(spec: FunctionSpec) -> str | None:
    """Why ``spec``'s handler cannot be imported, or None."""
    where = f"{spec.name} (Handler: {spec.handler}"
    where += f", CodeUri: {spec.code_uri})" if spec.code_uri is not None else ")"
    try:
        module_name, attr = spec.module_and_attr
    except ValueError as exc:
        return f"{where}: {exc}"
    if spec.code_uri is not None and str(spec.code_uri) not in sys.path:
        sys.path.insert(0, str(spec.code_uri))
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        return f"{where}: {exc.filename}, line {exc.lineno}: SyntaxError: {exc.msg}"
    except ModuleNotFoundError as exc:
        if exc.name == module_name or (exc.name and module_name.startswith(exc.name + ".")):
            return f"{where}: no module {module_name!r} found (looked in {spec.code_uri or 'sys.path'})"
        return f"{where}: {_origin(exc)}"
    except BaseException as exc:  # anything a module does at import
        return f"{where}: {_origin(exc)}"
    handler = getattr(module, attr, None)
    if not callable(handler):
        return f"{where}: {getattr(module, '__file__', module_name)} has no function {attr!r}"
    return None


def _origin(exc: BaseException) -> str:
    """``FILE, line N: Type: message`` for the innermost frame of user code."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<frozen") and not f.filename.endswith("perdure/preflight.py")
    ]
    text = f"{type(exc).__name__}: {exc}"
    if not frames:
        return text
    frame = frames[-1]
    return f"{frame.filename}, line {frame.lineno}: {text}"
