"""Replay and rerun on a real podscribe run (the 66 s sample episode, tiny.en on the CPU).

1. A recorded run replays under pdb, driven from a script: a ``breakpoint()`` added to
   a copy of the handler stops between steps with the recorded values, one added to a
   step's code stops inside that step (``--run-step``), and the replay finishes with
   the artifact store moved away and no speech model loaded.
2. A rerun from the naming step (``speakers``) on ``perdure serve`` redoes naming and
   what follows only: the history shows transcription and diarization reused, and it
   takes a fraction of the original run's time.

No podscribe source is changed: the debugging copy of the handler lives in tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from perdure.core.engine import Engine
from perdure.store import open_store
from tests.support import ROOT, Serve

PODSCRIBE = ROOT / "podscribe"
SAMPLE = PODSCRIBE / "samples" / "episode.ogg"
PIPELINE = PODSCRIBE / "src" / "podscribe" / "pipeline.py"
PODSCRIBE_TEMPLATE = PODSCRIBE / "template.yaml"


def run(*args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PERDURE_LOG_LEVEL": "WARNING"},
    )


def only_execution(db_url: str) -> str:
    engine = Engine(open_store(db_url))
    try:
        with engine.store.transaction() as tx:
            rows = tx.list_executions("PodscribePipeline", [], None, None, None, None, 10, False)
        assert len(rows) == 1
        return rows[0].arn
    finally:
        engine.store.close()


def debug_copy(tmp_path: Path, edits: list[tuple[str, str]]) -> Path:
    """The pipeline module copied with ``breakpoint()`` calls edited in, behind a template
    naming the same function: what a user does to debug their handler."""
    folder = tmp_path / "debug-handler"
    folder.mkdir()
    text = PIPELINE.read_text()
    for anchor, replacement in edits:
        assert text.count(anchor) == 1, anchor
        text = text.replace(anchor, replacement)
    (folder / "pipeline_debug.py").write_text(text)
    (folder / "template.yaml").write_text(
        "Resources:\n"
        "  PodscribePipeline:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: ., Handler: pipeline_debug.handler, Runtime: python3.12, Timeout: 900,\n"
        "                 DurableConfig: {ExecutionTimeout: 604800}}\n"
    )
    return folder / "template.yaml"


def test_podscribe_run_replays_under_pdb_and_reruns_from_naming(tmp_path: Path) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    t0 = time.monotonic()
    transcribed = run("-m", "podscribe.app.cli", "transcribe", str(SAMPLE), "--state-dir", str(state),
                      "--out", str(out), "--plain")
    original_s = time.monotonic() - t0
    assert transcribed.returncode == 0, transcribed.stdout + transcribed.stderr
    (db_file,) = (state / "runs").glob("*.sqlite")
    db_url = f"sqlite:///{db_file}"
    arn = only_execution(db_url)
    recording = tmp_path / "run.json"
    exported = run("-m", "perdure", "executions", "export", arn, "--db", db_url, "-o", str(recording))
    assert exported.returncode == 0, exported.stderr
    document: dict[str, Any] = json.loads(recording.read_text())
    recorded_names = json.loads(document["Execution"]["Result"])["speakers"]

    # 1. Replay under pdb, with the store out of reach.
    template = debug_copy(tmp_path, [
        ('        key = named["key"]\n', '        breakpoint()\n        key = named["key"]\n'),
        ('lambda _ctx: now_s(), name="start"', 'lambda _ctx: (breakpoint(), now_s())[1], name="start"'),
    ])
    artifacts = state / "artifacts"
    hidden = tmp_path / "artifacts-hidden"
    shutil.move(artifacts, hidden)
    script = "\n".join([
        "p 12345",  # first stop: inside the start step, whose code runs again
        "c",
        'p named["names"]',  # second stop: in the handler, after the naming step
        'p "faster_whisper" in __import__("sys").modules',
        "c",
        "",
    ])
    replayed = run("-m", "perdure", "replay", str(recording), "-t", str(template), "--run-step", "start",
                   stdin=script)
    shutil.move(hidden, artifacts)
    output = replayed.stdout
    assert replayed.returncode == 0, output + replayed.stderr
    assert f"(Pdb) {recorded_names!r}" in output  # the recorded names, from the recorded step
    assert "(Pdb) False" in output  # no speech model was loaded
    assert "(Pdb) 12345" in output  # stopped inside the start step
    assert "finished: SUCCEEDED" in output
    assert "step start ran again" in output
    assert "matches the recording" in output

    # 2. Rerun from naming on perdure serve: transcription and diarization reused.
    event = json.loads(document["Execution"]["InputPayload"])
    event["use_cache"] = False  # the stages that run again really compute
    server = Serve(db_url, tmp_path / "serve.log", "--workers", "1", template=PODSCRIBE_TEMPLATE)
    server.start()
    try:
        t0 = time.monotonic()
        rerun = run("-m", "perdure", "executions", "rerun", arn, "--from", "speakers", "--input", json.dumps(event),
                    "--name", "rename", "--url", server.url, "--json")
        assert rerun.returncode == 0, rerun.stderr
        answer = json.loads(rerun.stdout)
        reused = {op["Name"] for op in answer["ReusedOperations"]}
        assert {"start", "decode", "transcribe", "merge", "diarize"} <= reused
        assert not reused & {"speakers", "normalize", "captions", "notify"}
        client = server.client()
        while True:
            execution = client.get_durable_execution(DurableExecutionArn=answer["DurableExecutionArn"])
            if execution["Status"] != "RUNNING" or time.monotonic() - t0 > 120:
                break
            time.sleep(0.1)
        rerun_s = time.monotonic() - t0
        assert execution["Status"] == "SUCCEEDED", server.log()
        new = run("-m", "perdure", "executions", "export", answer["DurableExecutionArn"], "--url", server.url)
        history = json.loads(new.stdout)["History"]
    finally:
        server.stop()

    def started(name: str) -> list[dict[str, Any]]:
        return [e for e in history if e["EventType"] in ("StepStarted", "ContextStarted") and e.get("Name") == name]

    for name in ("transcribe", "diarize"):
        (event_started,) = started(name)
        assert event_started[f"{event_started['EventType']}Details"]["ReusedFrom"]["DurableExecutionArn"] == arn
    for name in ("speakers", "normalize", "captions"):
        (event_started,) = started(name)
        assert "ReusedFrom" not in event_started[f"{event_started['EventType']}Details"]
    assert json.loads(execution["Result"])["speakers"] == recorded_names
    # the original transcribed and diarized; the rerun did neither
    print(f"original run {original_s:.1f} s, rerun from naming {rerun_s:.1f} s")
    assert rerun_s < original_s / 2

