"""Versions and aliases of a Node function: a version holds the esbuild bundle, and an
execution keeps running its version's bundle after the source changes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from perdure.deploy.snapshots import cache_key
from tests.deploy.test_versions import live_versions, perdure
from tests.support import NODE_FEATURES, ROOT, Server, callback_ids, wait_for_status


def node_project(tmp_path: Path) -> Path:
    """A copy of the Node fixture project, finding the repository's node_modules."""
    project = tmp_path / "project"
    shutil.copytree(NODE_FEATURES, project, ignore=shutil.ignore_patterns(".perdure", "node_modules"))
    (project / "node_modules").symlink_to((ROOT / "node_modules").resolve())
    return project


def set_code(project: Path, code: str) -> None:
    source = project / "src" / "app.ts"
    text = source.read_text()
    start = text.index('const CODE = "') + len('const CODE = "')
    source.write_text(text[:start] + code + text[text.index('"', start):])


def answer(client: Any, arn: str, approved_by: str) -> dict[str, Any]:
    approve = callback_ids(client, arn, 1)[0]
    client.send_durable_execution_callback_success(CallbackId=approve, Result=json.dumps(approved_by).encode())
    confirm = callback_ids(client, arn, 2)[1]
    client.send_durable_execution_callback_success(CallbackId=confirm, Result=b'"yes"')
    execution = wait_for_status(client, arn)
    assert execution["Status"] == "SUCCEEDED", execution
    result: dict[str, Any] = json.loads(execution["Result"])
    return result


def test_a_node_version_keeps_its_bundle_after_the_source_changes(tmp_path: Path) -> None:
    project = node_project(tmp_path)
    template = project / "template.yaml"
    db = tmp_path / "app.db"
    server = Server(db, template=template).start()
    try:
        client = server.client()
        pinned = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
        assert ":function:NodeApproval:1/durable-execution/" in pinned
        callback_ids(client, pinned, 1)  # version 1 ran its first step and waits

        configuration = client.get_function(FunctionName="NodeApproval", Qualifier="1")["Configuration"]
        assert configuration["Runtime"] == "nodejs24.x" and configuration["Handler"] == "app.approval"
        # The version's snapshot is the build: the bundle and its source map, not the TypeScript.
        code = db.with_name("app.db.code") / cache_key(configuration["CodeSha256"]) / "code"
        assert sorted(p.name for p in code.iterdir()) == ["app.js", "app.js.map"]
        assert 'CODE = "v1"' in (code / "app.js").read_text()
        assert "withDurableExecution" in (code / "app.js").read_text()  # the SDK is bundled in

        set_code(project, "v2")
        deployed = perdure("deploy", "-t", str(template), "--db", f"sqlite:///{db}", "--json")
        assert deployed.returncode == 0, deployed.stderr
        published = {row["FunctionName"]: row for row in json.loads(deployed.stdout)}
        assert published["NodeApproval"]["Version"] == "2" and published["NodeApproval"]["Published"]
        assert published["PyEcho"]["Version"] == "1" and not published["PyEcho"]["Published"]
        assert live_versions(client, "NodeApproval") == ["$LATEST", "1", "2"]
        v2 = client.get_function(FunctionName="NodeApproval", Qualifier="2")["Configuration"]
        assert v2["Runtime"] == "nodejs24.x" and v2["CodeSha256"] != configuration["CodeSha256"]

        fresh = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b"{}")
        assert fresh["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == "2"
        assert answer(client, fresh["DurableExecutionArn"], "new")["code"] == "v2"
        # An alias pins new executions to a version of the Node function. (Made while the
        # pinned execution still runs on version 1: a version nothing uses any more, no
        # execution and no alias, is pruned once a newer one exists.)
        alias = client.create_alias(FunctionName="NodeApproval", Name="stable", FunctionVersion="1")
        assert alias["AliasArn"].endswith(":function:NodeApproval:stable")
        # The execution pinned to version 1 ends on version 1's bundle.
        old = answer(client, pinned, "old")
        assert (old["code"], old["prepared"], old["approvedBy"]) == ("v1", "v1", '"old"')
        assert client.get_durable_execution(DurableExecutionArn=pinned)["Version"] == "1"
        via_alias = client.invoke(FunctionName="NodeApproval", Qualifier="stable", InvocationType="Event", Payload=b"{}")
        assert ":function:NodeApproval:1/durable-execution/" in via_alias["DurableExecutionArn"]
        assert answer(client, via_alias["DurableExecutionArn"], "alias")["code"] == "v1"
        moved = perdure("alias", "set", "NodeApproval:stable", "2", "--url", server.url)
        assert moved.returncode == 0, moved.stderr
        via_alias = client.invoke(FunctionName="NodeApproval:stable", InvocationType="Event", Payload=b"{}")
        assert answer(client, via_alias["DurableExecutionArn"], "alias")["code"] == "v2"
    finally:
        server.stop()


def test_serve_watch_publishes_a_node_function_when_its_source_is_saved(tmp_path: Path) -> None:
    project = node_project(tmp_path)
    server = Server(tmp_path / "app.db", template=project / "template.yaml")
    server.args.append("--watch")
    server.start()
    try:
        client = server.client()
        running = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
        callback_ids(client, running, 1)
        time.sleep(0.5)  # the watcher is up once the server answers; let it settle
        set_code(project, "v2")
        saved = time.monotonic()
        while live_versions(client, "NodeApproval")[-1] != "2":
            assert time.monotonic() - saved < 20, server.log()
            time.sleep(0.1)
        time.sleep(2)  # a rebuild is no change of source: nothing more is published
        assert live_versions(client, "NodeApproval") == ["$LATEST", "1", "2"], server.log()
        fresh = client.invoke(FunctionName="NodeApproval", InvocationType="Event", Payload=b"{}")["DurableExecutionArn"]
        assert answer(client, fresh, "new")["code"] == "v2"
        assert answer(client, running, "old")["code"] == "v1"
    finally:
        server.stop()


def test_processes_loading_one_template_at_once_share_its_build(tmp_path: Path) -> None:
    """``perdure serve`` and its workers each build the template's functions when they
    start: the builds take turns and every one of them ends with the whole bundle."""
    project = node_project(tmp_path)
    script = (
        "import sys\nfrom perdure.deploy import load_template\n"
        "spec = load_template(sys.argv[1])['NodeEcho']\n"
        "print((spec.code_uri / 'app.js').stat().st_size)\n"
    )
    loads = [
        subprocess.Popen([sys.executable, "-c", script, str(project / "template.yaml")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outcomes = [load.communicate(timeout=120) for load in loads]
    assert all(load.returncode == 0 for load in loads), [err[-2000:] for _, err in outcomes]
    assert len({out for out, _ in outcomes}) == 1 and int(outcomes[0][0]) > 100_000
