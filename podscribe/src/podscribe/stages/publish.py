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
) -> dict[str, Any]:
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
    )
    notified: str = "no webhook configured"
    if p.config.notify.webhook_url:
        try:
            status = send_notification(event, p.config.notify)
            notified = f"webhook answered HTTP {status}"
        except NotifyError as exc:
            notified = f"webhook failed: {exc}"
    return {"finished": finished, "notification": notified, "line": summary_line(event)}


