"""`perdure replay` for Node functions: the recording is served through the Runtime API
side, checkpoints are compared with it, and a divergence names the operation and the
.ts line (exit code 3, as for Python)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perdure import Runtime, load_template
from perdure.ops import export_execution
from perdure.run import replay_sandboxed
from tests.run.node_projects import node_project

pytestmark = pytest.mark.timeout(180)

APP = """\
    import { withDurableExecution, DurableContext } from "@aws/durable-execution-sdk-js";

    export const handler = withDurableExecution(async (event: { n: number }, context: DurableContext) => {
      const a = await context.step("first", async () => event.n + 1);
      const b = await context.step("{SECOND}", async () => a * 10);
      return { a, b };
    });
"""

TEMPLATE = """\
    Resources:
      Orders:
        Type: AWS::Serverless::Function
        Properties:
          Runtime: nodejs24.x
          CodeUri: src/
          Handler: app.handler
          Timeout: 30
          DurableConfig: {ExecutionTimeout: 60}
        Metadata:
          BuildMethod: esbuild
          BuildProperties: {EntryPoints: [app.ts], Format: cjs, Target: es2022, Sourcemap: true}
"""


@pytest.fixture
def recording(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    template = node_project(tmp_path, {"src/app.ts": APP.replace("{SECOND}", "second")}, TEMPLATE)
    with Runtime(f"sqlite:///{tmp_path / 'perdure.db'}", load_template(template), processes=1) as rt:
        arn = rt.invoke("Orders", json.dumps({"n": 4}))
        assert rt.wait(arn, timeout=60).status == "SUCCEEDED"
        document = export_execution(rt.engine, arn)
    (tmp_path / "recording.json").write_text(json.dumps(document))
    return template, document


def test_unchanged_code_replays_to_the_recorded_result(recording: tuple[Path, dict[str, object]]) -> None:
    template, document = recording
    report = replay_sandboxed(document, load_template(template)["Orders"])
    assert report.outcome == "finished", report.to_dict()
    assert report.result is not None and report.result.status == "SUCCEEDED"
    assert json.loads(report.result.result or "null") == {"a": 5, "b": 50}
    assert not report.diverged and not report.notes


def test_a_renamed_step_diverges_naming_the_operation_and_ts_line(recording: tuple[Path, dict[str, object]]) -> None:
    template, document = recording
    (template.parent / "src" / "app.ts").write_text(
        textwrap.dedent(APP.replace("{SECOND}", "renamed")), encoding="utf-8"
    )
    report = replay_sandboxed(document, load_template(template)["Orders"])
    assert report.outcome == "diverged", report.to_dict()
    divergence = report.divergence
    assert divergence is not None and divergence.kind == "mismatch"
    second = next(op for op in document["Operations"] if op.get("Name") == "second")  # type: ignore[union-attr]
    assert divergence.operation_id == second["Id"]
    assert "second" in divergence.message and "renamed" in divergence.message
    assert divergence.recorded is not None and divergence.recorded["Name"] == "second"

    # The CLI says the same and exits 3.
    done = subprocess.run(
        [sys.executable, "-m", "perdure.cli", "replay", str(template.parent / "recording.json"),
         "--function", "Orders", "--template", str(template)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"DIVERGED at operation {second['Id']}" in done.stdout
    assert "recorded: STEP, subtype Step, name 'second'" in done.stdout and "renamed" in done.stdout


def test_replay_check_replays_every_execution_of_a_node_function(recording: tuple[Path, dict[str, object]]) -> None:
    template, _ = recording
    command = [sys.executable, "-m", "perdure.cli", "replay", "--check", "--function", "Orders",
               "--template", str(template), "--db", f"sqlite:///{template.parent / 'perdure.db'}", "--processes", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 executions replayed" in done.stderr and "0 diverge" in done.stderr
    (template.parent / "src" / "app.ts").write_text(
        textwrap.dedent(APP.replace("{SECOND}", "renamed")), encoding="utf-8"
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "mismatch" in done.stdout and "1 diverge" in done.stderr
