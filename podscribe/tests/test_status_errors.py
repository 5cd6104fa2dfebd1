"""`podscribe status` says why a run failed (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENV = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")


def podscribe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "podscribe.app.cli", *args], capture_output=True, text=True,
                          env=ENV, timeout=240)


def test_status_shows_a_failed_runs_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp3"
    notes.write_text("not audio at all\n")
    state = str(tmp_path / "state")
    failed = podscribe("transcribe", str(notes), "--out", str(tmp_path / "o"), "--state-dir", state, "--quiet")
    assert failed.returncode == 1
    status = podscribe("status", "--state-dir", state)
    assert status.returncode == 0, status.stderr
    line = next(text for text in status.stdout.splitlines() if ": FAILED: " in text)
    assert "not a readable audio file" in line
