"""The code blocks of README.md, podscribe/README.md and docs/*.md run as written.

Each document's blocks run in order in one fresh directory (so a block can use the
files and the server an earlier one made), with this checkout's ``perdure`` and
``podscribe`` first on ``PATH`` and fresh ``XDG_*`` directories. What a block is, is
said by its fence's language and an HTML comment on the line just above it:

* ``sh``: run with ``bash -euo pipefail``; every command must succeed.
* ``python``: written to a file and run with this Python.
* ``<!-- example: file PATH -->``: the block is the content of PATH (a template, a handler).
* ``<!-- example: run PATH -->``: a ``python`` block saved as PATH, then run.
* ``<!-- example: background -->``: an ``sh`` block that keeps running (``perdure serve``):
  started, and the next block runs once the server answers.
* ``<!-- example: requires aws -->``: run only where the AWS CLI is installed (the
  document's test is reported as skipped, naming the block, where it is not).
* ``<!-- example: skip: REASON -->``: not run; the reason is required.

A block without a language is output or a diagram, never a command. Two changes are
made to what runs, both to share a machine: the server's port 9000 becomes a free port
(``perdure serve`` gets ``--port``, ``127.0.0.1:9000`` in URLs is rewritten), and
``PERDURE_URL`` points the CLI at it; ``PERDURE_DB`` names the default database (what
``perdure serve`` uses without ``--db``), as blocks passing ``--db "$PERDURE_DB"`` expect.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "podscribe" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^\s*```([\w-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*example:\s*(.*?)\s*-->\s*$")
RUNNABLE = {"sh", "python"}
COMMANDS_IN_OUTPUT = re.compile(r"^(\$ |(perdure|podscribe|pip|make|aws|python) [a-z][a-z-]*( |$))")
BLOCK_TIMEOUT_S = 300


@dataclass
class Block:
    document: Path
    line: int
    language: str
    code: str
    marker: str

    def __str__(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line} ({self.language or 'output'}{', ' + self.marker if self.marker else ''})"


def blocks(document: Path) -> list[Block]:
    found: list[Block] = []
    lines = document.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        marker = MARKER.match(lines[i - 1]) if i > 0 else None
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        found.append(Block(document, start + 1, match.group(1), "\n".join(body) + "\n", marker.group(1) if marker else ""))
        i += 1
    return found


def test_every_block_says_what_it_is() -> None:
    """A block is runnable, a file, output, or skipped with a reason: never left out quietly."""
    problems: list[str] = []
    for document in DOCUMENTS:
        for block in blocks(document):
            marker = block.marker
            if marker.startswith("skip"):
                if not marker.partition(":")[2].strip():
                    problems.append(f"{block}: a skip needs a reason (<!-- example: skip: WHY -->)")
            elif marker.startswith("file ") or marker.startswith("run "):
                if not marker.split(None, 1)[1].strip():
                    problems.append(f"{block}: name the file")
            elif marker in ("background", "requires aws", ""):
                if block.language == "" and marker:
                    problems.append(f"{block}: an output block cannot be {marker!r}")
                if block.language and block.language not in RUNNABLE:
                    problems.append(f"{block}: a {block.language} block needs <!-- example: file PATH --> or a skip")
            else:
                problems.append(f"{block}: unknown marker {marker!r}")
            if block.language == "" and any(COMMANDS_IN_OUTPUT.match(line) for line in block.code.splitlines()):
                problems.append(f"{block}: looks like commands; give it a language (sh) so it runs")
    assert not problems, "\n".join(problems)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _localise(code: str, port: int) -> str:
    code = code.replace("127.0.0.1:9000", f"127.0.0.1:{port}")
    code = re.sub(r"--port 9000\b", f"--port {port}", code)
    return re.sub(r"\bperdure serve\b(?![^\n]*--port)", f"perdure serve --port {port}", code)


def _wait_for_server(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the background block exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"no server at {url} after 60 s: {log.read_text()[-3000:]}")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_document_examples_run(document: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("podscribe", "examples"):  # the documents name these from the repository root
        (work / name).symlink_to(ROOT / name)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PERDURE_URL": f"http://127.0.0.1:{port}",
        "PERDURE_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    # The default database, named as the README's `--db "$PERDURE_DB"` lines expect.
    (tmp_path / "data" / "perdure").mkdir(parents=True)
    env["PERDURE_DB"] = f"sqlite:///{tmp_path / 'data' / 'perdure' / 'perdure.db'}"
    background: list[subprocess.Popen[bytes]] = []
    not_run: list[str] = []
    try:
        for block in blocks(document):
            marker = block.marker
            if not block.language or marker.startswith("skip"):
                continue
            code = _localise(block.code, port)
            if marker.startswith("file "):
                path = work / marker.split(None, 1)[1]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(code)
                continue
            if marker == "requires aws" and shutil.which("aws") is None:
                not_run.append(str(block))
                continue
            if marker == "background":
                log = tmp_path / f"background-{block.line}.log"
                with log.open("wb") as out:
                    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", code], cwd=work, env=env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                background.append(proc)
                _wait_for_server(env["PERDURE_URL"], proc, log)
                continue
            if block.language == "python":
                name = marker.split(None, 1)[1] if marker.startswith("run ") else f"example_{block.line}.py"
                (work / name).write_text(code)
                command = [sys.executable, name]
            else:
                command = ["bash", "-euo", "pipefail", "-c", code]
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
            assert done.returncode == 0, f"{block} failed ({done.returncode}):\n{code}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    finally:
        for proc in background:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if not_run:
        pytest.skip(f"the AWS CLI is not installed: not run: {', '.join(not_run)} (every other block passed)")
