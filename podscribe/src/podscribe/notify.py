"""Events: a JSON event POSTed to a webhook, a local event log, and a one-line summary.

The event (``event``, ``run_id``, ``status``, ``input``, ``outputs``,
``timings``, ``error``, ...) is sent with the standard library; HTTP 429 and 5xx
answers and network errors are retried with exponential backoff, other 4xx answers are
not. Webhook delivery is at-least-once: receivers can deduplicate on ``run_id`` and
``event``. Three events: ``Pipeline Completed`` (status ``succeeded``), ``Pipeline
Failed`` (``failed``, with the error) and ``Review Rejected`` (``rejected``, with the
reviewer's reason).

When a secret is configured, each request carries ``X-Podscribe-Timestamp`` (Unix
seconds) and ``X-Podscribe-Signature: sha256=HEX``, the HMAC-SHA256 of
``"{timestamp}.{body}"`` under the secret; :func:`verify_signature` is the receiver's
check (constant-time, with a freshness window against replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from podscribe.config import NotifyConfig
from podscribe.timefmt import format_duration

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "CompletionEvent",
    "NotifyError",
    "post_webhook",
    "send_notification",
    "sign",
    "summary_line",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Podscribe-Signature"
TIMESTAMP_HEADER = "X-Podscribe-Timestamp"

log = logging.getLogger(__name__)

Status = Literal["succeeded", "failed", "rejected"]


class NotifyError(RuntimeError):
    """The webhook could not be delivered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class CompletionEvent:
    run_id: str
    input: str
    status: Status = "succeeded"
    #: artifact keys (or URIs) of the outputs, by name: {"vtt": "...", "srt": "..."}
    outputs: dict[str, str] = field(default_factory=dict)
    #: seconds per stage, in pipeline order: {"transcribe": 81.2, "refine": 12.0}
    timings: dict[str, float] = field(default_factory=dict)
    event: str = "Pipeline Completed"
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    #: anything else worth reporting (speaker names, refine counts, ...)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.timings.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        data["total_seconds"] = round(self.total_seconds, 3)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompletionEvent:
        return cls(
            run_id=str(data["run_id"]),
            input=str(data["input"]),
            status=data.get("status", "succeeded"),
            outputs={str(k): str(v) for k, v in data.get("outputs", {}).items()},
            timings={str(k): float(v) for k, v in data.get("timings", {}).items()},
            event=str(data.get("event", "Pipeline Completed")),
            error=data.get("error"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            details=dict(data.get("details", {})),
        )


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """``sha256=HEX``: HMAC-SHA256 of ``b"{timestamp}." + body`` under ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    secret: str,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is fresh."""
    if not signature or not timestamp:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(body, secret, ts), signature)


def post_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    secret: str | None = None,
    retries: int = 3,
    timeout: float = 10.0,
    backoff: float = 0.5,
    max_backoff: float = 30.0,
    headers: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``payload`` as JSON; returns the final HTTP status (2xx).

    Retries ``retries`` times after 429, 5xx or a network error, waiting
    ``backoff * 2**attempt`` seconds (jittered, capped, or ``Retry-After``).
    Raises :class:`NotifyError` when delivery fails for good.
    """
    body = json.dumps(payload).encode("utf-8")
    hdrs = {"Content-Type": "application/json", "User-Agent": "podscribe"}
    hdrs.update(headers or {})
    attempt = 0
    while True:
        if secret:
            ts = int(time.time())
            hdrs[TIMESTAMP_HEADER] = str(ts)
            hdrs[SIGNATURE_HEADER] = sign(body, secret, ts)
        req = urllib.request.Request(url, data=body, headers=hdrs, method="POST")
        retry_after: float | None = None
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status = int(resp.status)
                resp.read()
            return status
        except urllib.error.HTTPError as exc:
            status = exc.code
            detail = exc.read()[:200].decode("utf-8", "replace").strip()
            message = f"webhook {url} answered HTTP {status} {exc.reason}" + (
                f": {detail}" if detail else ""
            )
            retryable = status == 429 or status >= 500
            try:
                retry_after = float(exc.headers.get("Retry-After", "")) if exc.headers else None
            except ValueError:
                retry_after = None
            err = NotifyError(message, status=status)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            err = NotifyError(f"webhook {url} unreachable: {getattr(exc, 'reason', exc)}")
            retryable = True
        if not retryable or attempt >= retries:
            suffix = f" (after {attempt + 1} attempts)" if attempt else ""
            raise NotifyError(f"{err}{suffix}", status=err.status)
        delay = retry_after
        if delay is None:
            delay = min(max_backoff, backoff * 2**attempt) * (0.5 + random.random() / 2)
        delay = min(max(0.0, delay), max_backoff)
        log.warning("%s; retrying in %.2fs", err, delay)
        sleep(delay)
        attempt += 1


def send_notification(
    event: CompletionEvent,
    cfg: NotifyConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
    backoff: float = 0.5,
    env: Mapping[str, str] | None = None,
) -> int | None:
    """Deliver ``event`` to ``cfg.webhook_url``, signed with the secret in the
    ``cfg.secret_env`` variable when it is set; ``None`` when no webhook is configured."""
    if not cfg.webhook_url:
        return None
    environ = os.environ if env is None else env
    return post_webhook(
        cfg.webhook_url,
        event.to_dict(),
        secret=environ.get(cfg.secret_env) or None,
        retries=cfg.retries,
        timeout=cfg.timeout,
        backoff=backoff,
        sleep=sleep,
    )


def summary_line(event: CompletionEvent) -> str:
    """One human line, e.g.
    ``run 1f2e succeeded in 1m32s: episode.mp3 -> vtt, srt, json (transcribe 1m21s, refine 9.0s)``.
    """
    head = f"run {event.run_id} {event.status} in {format_duration(event.total_seconds)}: {event.input}"
    if event.outputs:
        head += " -> " + ", ".join(event.outputs)
    if event.timings:
        head += " (" + ", ".join(f"{k} {format_duration(v)}" for k, v in event.timings.items()) + ")"
    if event.error:
        head += f" error: {' '.join(event.error.split())[:200]}"
    return head
