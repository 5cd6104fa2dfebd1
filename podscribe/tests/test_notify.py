"""Webhook delivery against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from podscribe.config import NotifyConfig
from podscribe.notify import (
    CompletionEvent,
    NotifyError,
    post_webhook,
    send_notification,
    summary_line,
)


class Hook:
    """Answers with the scripted statuses in turn (then 204), recording each body."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.bodies.append(json.loads(raw))
                hook.headers.append(dict(self.headers.items()))
                status = hook.statuses.pop(0) if hook.statuses else 204
                body = b"" if status == 204 else b'{"msg": "nope"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_factory() -> Iterator[Any]:
    hooks: list[Hook] = []

    def make(statuses: list[int]) -> Hook:
        h = Hook(statuses)
        hooks.append(h)
        return h

    yield make
    for h in hooks:
        h.close()


def event() -> CompletionEvent:
    return CompletionEvent(
        run_id="run-42",
        input="episodes/ep1.mp3",
        outputs={"vtt": "out/ep1.vtt", "srt": "out/ep1.srt", "json": "out/ep1.captions.json"},
        timings={"transcribe": 81.25, "refine": 9.0, "captions": 0.4},
        started_at="2025-01-01T10:00:00Z",
        finished_at="2025-01-01T10:01:31Z",
    )


def test_fails_twice_then_succeeds(hook_factory: Any) -> None:
    hook = hook_factory([500, 503])
    sleeps: list[float] = []
    status = send_notification(
        event(), NotifyConfig(webhook_url=hook.url, retries=3), sleep=sleeps.append
    )
    assert status == 204
    assert len(hook.bodies) == 3 and len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0
    body = hook.bodies[-1]
    assert body["event"] == "Pipeline Completed"
    assert body["run_id"] == "run-42" and body["status"] == "succeeded"
    assert body["input"] == "episodes/ep1.mp3"
    assert body["outputs"]["vtt"] == "out/ep1.vtt"
    assert body["timings"] == {"transcribe": 81.25, "refine": 9.0, "captions": 0.4}
    assert body["total_seconds"] == 90.65
    assert hook.headers[0]["Content-Type"] == "application/json"
    assert CompletionEvent.from_dict(body) == event()


def test_gives_up_after_retries(hook_factory: Any) -> None:
    hook = hook_factory([500, 500, 500])
    with pytest.raises(NotifyError, match=r"HTTP 500.*after 3 attempts") as info:
        post_webhook(hook.url, {"a": 1}, retries=2, sleep=lambda s: None)
    assert info.value.status == 500 and len(hook.bodies) == 3


def test_client_error_not_retried(hook_factory: Any) -> None:
    hook = hook_factory([404])
    with pytest.raises(NotifyError, match="HTTP 404") as info:
        post_webhook(hook.url, {"a": 1}, retries=3, sleep=lambda s: None)
    assert info.value.status == 404 and len(hook.bodies) == 1


def test_unreachable_is_retried() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    with pytest.raises(NotifyError, match="unreachable"):
        post_webhook(f"http://127.0.0.1:{port}/", {}, retries=2, timeout=1, sleep=sleeps.append)
    assert len(sleeps) == 2


def test_no_webhook_configured() -> None:
    assert send_notification(event(), NotifyConfig()) is None


def test_summary_line() -> None:
    assert summary_line(event()) == (
        "run run-42 succeeded in 1m31s: episodes/ep1.mp3 -> vtt, srt, json"
        " (transcribe 1m21s, refine 9.0s, captions 0.4s)"
    )
    failed = CompletionEvent(
        run_id="r1", input="a.wav", status="failed", error="ASR\nfailed", timings={"x": 4000}
    )
    assert summary_line(failed) == "run r1 failed in 1h06m40s: a.wav (x 1h06m40s) error: ASR failed"


def test_signature_is_verifiable_and_tamper_evident() -> None:
    from podscribe.notify import sign, verify_signature

    body = b'{"event": "Pipeline Failed"}'
    header = sign(body, "k3y", 1_700_000_000)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, header, "1700000000", "k3y", now=1_700_000_100)
    assert not verify_signature(body, header, "1700000000", "other", now=1_700_000_100)
    assert not verify_signature(body + b" ", header, "1700000000", "k3y", now=1_700_000_100)
    assert not verify_signature(body, header, "1700000001", "k3y", now=1_700_000_100)  # timestamp is signed
    assert not verify_signature(body, header, "1700000000", "k3y", now=1_700_009_999)  # too old: a replay
    assert not verify_signature(body, None, "1700000000", "k3y")
