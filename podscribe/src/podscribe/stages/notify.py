"""The notification stage: the run's event (succeeded, failed or rejected) to the
webhook, and to the run's event log in the artifact store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from podscribe.stages.common import PipelineInput, now_s, store_for


def notify_stage(
    p: PipelineInput,
    started: float,
    outputs: dict[str, str],
    timings: dict[str, float],
    details: dict[str, Any],
    *,
    status: str = "succeeded",
    error: str | None = None,
) -> dict[str, Any]:
    """Send the run's event (``succeeded``, ``failed`` or ``rejected``) to the webhook and
    append it, with how its delivery went, to the run's event log."""
    from podscribe.notify import CompletionEvent, NotifyError, send_notification, summary_line

    finished = now_s()

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")

    event = CompletionEvent(
        run_id=p.run_id,
        input=p.audio,
        outputs=outputs,
        timings=timings,
        started_at=iso(started),
        finished_at=iso(finished),
        details=details,
        status=status,  # type: ignore[arg-type]
        event=EVENT_NAMES[status],
        error=error,
    )
    notified: str = "no webhook configured"
    if p.config.notify.webhook_url:
        try:
            answer = send_notification(event, p.config.notify)
            notified = f"webhook answered HTTP {answer}"
        except NotifyError as exc:
            notified = f"webhook failed: {exc}"
    log_event(p, dict(event.to_dict(), delivery=notified))
    return {"finished": finished, "notification": notified, "line": summary_line(event)}


EVENT_NAMES = {
    "succeeded": "Pipeline Completed",
    "failed": "Pipeline Failed",
    "rejected": "Review Rejected",
}


def event_log_key(run_id: str) -> str:
    return f"runs/{run_id}/events.json"


def log_event(p: PipelineInput, event: dict[str, Any]) -> None:
    """Append ``event`` to the run's JSON event log (``runs/{run}/events.json``): one
    list, oldest first; a replayed step does not log the same event twice."""
    store = store_for(p.artifacts)
    key = event_log_key(p.run_id)
    events: list[dict[str, Any]] = []
    if store.exists(key):
        found = store.get_json(key)
        events = list(found) if isinstance(found, list) else []
    same = {k: event.get(k) for k in ("event", "started_at", "error")}
    events = [e for e in events if {k: e.get(k) for k in same} != same]
    events.append(event)
    store.put_json(key, events)


