"""The `podscribe` command as a user runs it: real subprocesses, a real embedded runtime,
and once a real `perdure serve` of podscribe/template.yaml."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import speech

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
ENV = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")




def podscribe(*args: str, timeout: float = 240, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podscribe.app.cli", *args],
        capture_output=True, text=True, env=ENV, timeout=timeout, **kw,
    )


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "podscribe.app.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state directory for the module: runs of the same audio share its artifact cache."""
    return tmp_path_factory.mktemp("cli-state")


def runs(state: Path) -> list[dict[str, Any]]:
    result = podscribe("status", "--json", "--state-dir", str(state), timeout=60)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def wait_for_status(state: Path, wanted: str, proc: subprocess.Popen[str], timeout: float = 150) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in runs(state):
            if row["status"] == wanted:
                return row
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"transcribe exited {proc.returncode}: {out}\n{err}")
        time.sleep(0.5)
    raise AssertionError(f"no run reached {wanted}")


def test_transcribe_status_and_rerun(tmp_path: Path, state: Path, dialogue: Callable[[str], speech.Dialogue]) -> None:
    speech.require_speech_stack()
    d = dialogue("paused")
    out = tmp_path / "captions"
    result = podscribe("transcribe", str(d.path), "--out", str(out), "--state-dir", str(state))
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert "✓ transcribe" in text and "✓ diarize speakers" in text and "✓ write captions" in text
    assert "Thomas" in text and "Maria" in text
    for suffix in (".vtt", ".srt", ".captions.json", ".transcript.json"):
        path = out / f"{d.path.stem}{suffix}"
        assert path.is_file() and str(path) in text
    captions = json.loads((out / f"{d.path.stem}.captions.json").read_text())
    assert sorted(captions["speakers"].values()) == ["Maria", "Thomas"]

    listed = [r for r in runs(state) if r["audio"] == str(d.path)]
    assert listed and listed[0]["status"] == "SUCCEEDED" and listed[0]["duration"] > 0

    again = podscribe("transcribe", str(d.path), "--out", str(out), "--state-dir", str(state))
    assert again.returncode == 0 and "already transcribed" in again.stdout


def test_bad_audio_exits_non_zero_with_one_line(tmp_path: Path, state: Path) -> None:
    notes = tmp_path / "notes.mp3"
    notes.write_text("not audio at all\n")
    result = podscribe("transcribe", str(notes), "--out", str(tmp_path / "o"), "--state-dir", str(state), "--quiet")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: decode failed: ") and "not a readable audio file" in lines[0]

    missing = podscribe("transcribe", str(tmp_path / "nope.wav"), "--state-dir", str(state))
    assert missing.returncode == 2 and "nope.wav: file not found" in missing.stderr


def test_config_error_names_the_field(tmp_path: Path, state: Path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")
    config = tmp_path / "bad.toml"
    config.write_text('[refine]\nmax_word_change_ratio = 1.5\n[asr]\nbeam_size = "wide"\n')
    result = podscribe("transcribe", str(audio), "--config", str(config), "--state-dir", str(state))
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: {config}: invalid configuration: ")
    assert "refine.max_word_change_ratio: Input should be less than or equal to 1" in line
    assert "asr.beam_size: Input should be a valid integer" in line
    config.write_text('[refine]\nprovider = "openai"\n')
    result = podscribe("transcribe", str(audio), "--config", str(config), "--state-dir", str(state))
    assert result.returncode == 2 and "refine: model is required" in result.stderr
    config.write_text("[asr\nmodel = 1\n")
    result = podscribe("transcribe", str(audio), "--config", str(config), "--state-dir", str(state))
    assert result.returncode == 2 and "invalid TOML" in result.stderr


def test_review_approve_from_another_terminal(tmp_path: Path, state: Path, dialogue: Callable[[str], speech.Dialogue]) -> None:
    speech.require_speech_stack()
    d = dialogue("paused")
    config = tmp_path / "review.toml"
    config.write_text("[review]\nenabled = true\ntimeout_hours = 1\n")
    out = tmp_path / "approved"
    proc = spawn("transcribe", str(d.path), "--out", str(out), "--config", str(config), "--state-dir", str(state), "--plain")
    try:
        row = wait_for_status(state, "WAITING FOR REVIEW", proc)
        shown = podscribe("review", row["run"], "--show", "--state-dir", str(state), timeout=60)
        assert shown.returncode == 0 and "Thomas" in shown.stdout and "Speakers" in shown.stdout
        bad = podscribe("review", row["run"], "--edit", "999=x", "--state-dir", str(state), timeout=60)
        assert bad.returncode == 2 and "no such segment" in bad.stderr
        review = podscribe("review", str(d.path), "--approve", "--state-dir", str(state), timeout=60)
        assert review.returncode == 0, review.stderr
        assert "sent: approve" in review.stdout and "continues in process" in review.stdout
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stdout + stderr
    assert "waiting for a decision" in stdout and "review: approve" in stdout
    assert (out / f"{d.path.stem}.vtt").is_file()


def test_review_resumes_an_interrupted_run(tmp_path: Path, state: Path, dialogue: Callable[[str], speech.Dialogue]) -> None:
    speech.require_speech_stack()
    d = dialogue("paused")
    config = tmp_path / "review.toml"
    config.write_text("[review]\nenabled = true\n[captions]\nspeaker_names = \"always\"\n")
    out = tmp_path / "corrected"
    proc = spawn("transcribe", str(d.path), "--out", str(out), "--config", str(config), "--state-dir", str(state), "--plain")
    row = wait_for_status(state, "WAITING FOR REVIEW", proc)
    proc.send_signal(signal.SIGINT)  # Ctrl-C while it waits
    try:
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # it ignored Ctrl-C: fail without leaving it running
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "run the same command again" in stderr
    assert [r["status"] for r in runs(state) if r["run"] == row["run"]] == ["WAITING FOR REVIEW"]

    review = podscribe(
        "review", row["run"], "--rename", "Thomas=Tom", "--edit", "1=Thanks for having me. My name is Maria Lopez.",
        "--state-dir", str(state), "--plain",
    )
    assert review.returncode == 0, review.stdout + review.stderr
    assert "sent: correct" in review.stdout and "outputs:" in review.stdout
    vtt = (out / f"{d.path.stem}.vtt").read_text()
    assert "Tom: " in vtt and "Thomas" not in vtt.replace("I'm Thomas", "")
    transcript = json.loads((out / f"{d.path.stem}.transcript.json").read_text())
    assert any("Maria Lopez." in s["text"] for s in transcript["segments"])
    assert [r["status"] for r in runs(state) if r["run"] == row["run"]] == ["SUCCEEDED"]


def test_voices_commands(tmp_path: Path) -> None:
    speech.require_speech_stack()
    solo = tmp_path / "solo.wav"
    speech.write_wav(solo, speech.synth(speech.SOLO_A, "A"))
    library = str(tmp_path / "voices")
    enrolled = podscribe("voices", "enroll", "Thomas", str(solo), "--library", library, timeout=60)
    assert enrolled.returncode == 0 and "enrolled Thomas" in enrolled.stdout
    listed = podscribe("voices", "list", "--library", library, timeout=60)
    assert "Thomas" in listed.stdout
    assert podscribe("voices", "remove", "Thomas", "--library", library, timeout=60).returncode == 0
    gone = podscribe("voices", "remove", "Thomas", "--library", library, timeout=60)
    assert gone.returncode == 1 and "no voice named" in gone.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "perdure", "serve", "--template", str(TEMPLATE), "--db", f"sqlite:///{tmp_path / 'server.db'}", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(ENV, PERDURE_LOG_LEVEL="CRITICAL"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"perdure serve exited: {proc.stderr.read() if proc.stderr else ''}") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_transcribe_on_a_perdure_server(
    tmp_path: Path, state: Path, server: str, dialogue: Callable[[str], speech.Dialogue]
) -> None:
    speech.require_speech_stack()
    d = dialogue("paused")
    out = tmp_path / "served"
    config = tmp_path / "hosts.toml"
    config.write_text('[speakers]\nhosts = ["Thomas Hardy"]\n')
    result = podscribe("transcribe", str(d.path), "--server", server, "--config", str(config), "--out", str(out), "--state-dir", str(state), "--plain")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Thomas Hardy (host intro)" in result.stdout and "Maria" in result.stdout
    assert (out / f"{d.path.stem}.vtt").is_file() and (out / f"{d.path.stem}.srt").is_file()
    listed = podscribe("status", "--server", server, "--json", timeout=60)
    rows = json.loads(listed.stdout)
    assert [r["status"] for r in rows] == ["SUCCEEDED"] and rows[0]["audio"] == str(d.path)
    down = podscribe("status", "--server", "http://127.0.0.1:9", timeout=60)
    assert down.returncode == 1 and "no perdure server" in down.stderr
