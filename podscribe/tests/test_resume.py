"""kill -9 of `podscribe transcribe` during LLM refinement, then the same command again:
the run resumes at once, transcription and diarization are not run again, and the
outputs are byte for byte those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import speech
from llm_server import RecordedRequest, ScriptedLLMServer

from podscribe.app.runs import EmbeddedBackend, embedded_run_ids
from podscribe.captions import FILE_SUFFIXES

LLM_DELAY_S = 0.8




def slow_llm(req: RecordedRequest) -> str:
    """A slow, deterministic model: fixes "show", names the speaker who says "I'm Thomas"."""
    time.sleep(LLM_DELAY_S)
    section = req.user_prompt.split("Segments to check", 1)[-1]
    updates: list[dict[str, Any]] = []
    speakers: dict[str, str] = {}
    for idx, label, text in re.findall(r"^\[(\d+)\] \[(\S+)\] (.*)$", section, re.MULTILINE):
        if re.search(r"\bshow\b", text):
            updates.append({"idx": int(idx), "text": re.sub(r"\bshow\b", "podcast", text)})
        if "Thomas" in text:
            speakers[label] = "Thomas"
    return json.dumps({"speakers": speakers, "updates": updates})


def transcribe_cmd(audio: Path, state: Path, out: Path, config: Path) -> list[str]:
    return [
        sys.executable, "-m", "podscribe.app.cli", "transcribe", str(audio),
        "--state-dir", str(state), "--out", str(out), "--config", str(config), "--plain",
    ]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def events_of(state: Path) -> tuple[str, list[dict[str, Any]]]:
    (run_id,) = embedded_run_ids(state)
    backend = EmbeddedBackend(state, run_id)
    try:
        info = backend.find(run_id)
        assert info is not None
        return info.status, backend.events(info.arn, 0)
    finally:
        backend.close()


def started(events: list[dict[str, Any]], pattern: str) -> int:
    return sum(1 for e in events if e["EventType"] == "StepStarted" and re.fullmatch(pattern, e.get("Name", "")))


def test_kill_during_refinement_then_rerun_resumes(tmp_path: Path, dialogue: Callable[[str], speech.Dialogue]) -> None:
    speech.require_speech_stack()
    d = dialogue("paused")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with ScriptedLLMServer([slow_llm] * 200) as server:
        config = tmp_path / "podscribe.toml"
        config.write_text(
            "[refine]\n"
            'provider = "openai"\n'
            f'base_url = "{server.base_url}"\n'
            'model = "slow-rules"\n'
            "chunk_segments = 2\n"
            "context_segments = 1\n"
        )
        state, out = tmp_path / "state", tmp_path / "out"
        cmd = transcribe_cmd(d.path, state, out, config)

        # 1. Start, and kill -9 once refinement is under way.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 150
        while len(server.requests) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[0].decode()
        assert len(server.requests) >= 2, "refinement did not start in time"
        workers = children(proc.pid)
        assert workers, "no worker process"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
        # The worker processes die with the command (no orphan keeps working).
        deadline = time.monotonic() + 5
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(w) for w in workers), "worker outlived the killed command"
        status, events = events_of(state)
        assert status == "RUNNING"
        done_before = started(events, r"refine-\d+")
        assert done_before >= 1
        assert not (out / f"{d.path.stem}.vtt").exists()

        # 2. The same command again: resumes at once and finishes.
        t0 = time.monotonic()
        rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
        resumed_in = time.monotonic() - t0
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "resuming run" in rerun.stdout
        status, events = events_of(state)
        assert status == "SUCCEEDED"
        # Nothing finished before the kill ran again: exactly one attempt of each.
        for name in ("start", "decode", "merge", "diarize"):
            assert started(events, name) == 1, name
        chunks = started(events, r"chunk-\d+")
        assert chunks >= 1
        assert sum(1 for e in events if e["EventType"] == "StepSucceeded" and re.fullmatch(r"chunk-\d+", e.get("Name", ""))) == chunks
        refine_steps = {e["Name"] for e in events if e["EventType"] == "StepStarted" and re.fullmatch(r"refine-\d+", e.get("Name", ""))}
        # at most the one LLM step that was in flight ran twice
        assert started(events, r"refine-\d+") <= len(refine_steps) + 1
        crashed = [e for e in events if e["EventType"] == "InvocationCompleted" and "Error" in e["InvocationCompletedDetails"]]
        assert crashed, "the kill was not recorded as a failed invocation"
        # Resumed without waiting for the function timeout.
        llm_left = len(refine_steps) - done_before + 1
        assert resumed_in < 30 + llm_left * LLM_DELAY_S, f"resume took {resumed_in:.1f}s"

        # 3. An uninterrupted run elsewhere gives the same files.
        state2, out2 = tmp_path / "state2", tmp_path / "out2"
        clean = subprocess.run(transcribe_cmd(d.path, state2, out2, config), capture_output=True, text=True, env=env, timeout=240)
        assert clean.returncode == 0, clean.stdout + clean.stderr
    for suffix in FILE_SUFFIXES.values():
        name = f"{d.path.stem}{suffix}"
        assert (out / name).read_bytes() == (out2 / name).read_bytes(), name
    assert "podcast" in (out / f"{d.path.stem}.vtt").read_text()
