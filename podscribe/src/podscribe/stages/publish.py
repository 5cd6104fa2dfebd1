"""The final stages: caption-sized segments, caption files and the completion event."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from podscribe.stages.common import PipelineInput, now_s, store_for

OUTPUT_FORMATS = ("vtt", "srt", "json", "transcript")

def normalize_stage(p: PipelineInput, transcript_key: str) -> dict[str, Any]:
    from podscribe.normalize import normalize_transcript

    t0 = time.monotonic()
    store = store_for(p.artifacts)
    final = normalize_transcript(store.get_transcript(transcript_key), p.config.normalize)
    key = f"runs/{p.run_id}/transcript.final.json"
    store.put_transcript(key, final)
    return {"key": key, "segments": len(final.segments), "seconds": round(time.monotonic() - t0, 3)}


def captions_stage(p: PipelineInput, transcript_key: str) -> dict[str, Any]:
    from podscribe.captions import FILE_SUFFIXES, render_captions

    t0 = time.monotonic()
    transcript = store_for(p.artifacts).get_transcript(transcript_key)
    formats = list(dict.fromkeys([*p.config.captions.formats, "transcript"]))
    rendered = render_captions(transcript, p.config.captions, formats)
    out = store_for(p.out)
    outputs: dict[str, str] = {}
    for fmt in OUTPUT_FORMATS:
        if fmt in rendered:
            name = f"{p.stem}{FILE_SUFFIXES[fmt]}"
            out.put_text(name, rendered[fmt])
            outputs[fmt] = out.uri_for(name)
    return {"outputs": outputs, "seconds": round(time.monotonic() - t0, 3)}


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


