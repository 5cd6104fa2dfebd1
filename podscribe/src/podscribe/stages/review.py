"""Human review: the decision format, the request artifact and applying a decision."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from podscribe.stages.common import PipelineInput, store_for
from podscribe.stages.text import fold_name
from podscribe.transcript import Segment, Transcript


@dataclass(frozen=True)
class ReviewDecision:
    """What a reviewer sends back: ``approve``, ``reject`` or ``correct``."""

    action: str
    reason: str = ""
    speakers: Mapping[str, str] | None = None
    edits: Mapping[int, str] | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {"action": self.action}
        if self.reason:
            body["reason"] = self.reason
        if self.speakers:
            body["speakers"] = dict(self.speakers)
        if self.edits:
            body["edits"] = {str(k): v for k, v in self.edits.items()}
        return json.dumps(body, ensure_ascii=False)

    @classmethod
    def parse(cls, raw: Any) -> ReviewDecision:
        data = raw
        if isinstance(raw, str | bytes):
            try:
                data = json.loads(raw)
            except ValueError:
                raise ValueError(f"review decision is not JSON: {str(raw)[:80]!r}") from None
        if not isinstance(data, Mapping):
            raise ValueError("review decision must be a JSON object")
        action = str(data.get("action", "")).strip().lower()
        if action not in ("approve", "reject", "correct"):
            raise ValueError(f"review action {action!r} is not approve, reject or correct")
        speakers = data.get("speakers") or {}
        edits = data.get("edits") or {}
        if not isinstance(speakers, Mapping) or not isinstance(edits, Mapping):
            raise ValueError("review speakers and edits must be objects")
        parsed_edits: dict[int, str] = {}
        for k, v in edits.items():
            try:
                parsed_edits[int(k)] = str(v)
            except (TypeError, ValueError):
                raise ValueError(f"review edit index {k!r} is not an integer") from None
        return cls(
            action=action,
            reason=str(data.get("reason") or ""),
            speakers={str(k): str(v) for k, v in speakers.items()},
            edits=parsed_edits,
        )


def review_request_key(run_id: str) -> str:
    return f"runs/{run_id}/review/request.json"


def review_submit_stage(
    p: PipelineInput, callback_id: str, transcript_key: str, speakers: dict[str, Any]
) -> None:
    store = store_for(p.artifacts)
    hours = p.config.review.timeout_hours
    store.put_json(
        review_request_key(p.run_id),
        {
            "run_id": p.run_id,
            "callback_id": callback_id,
            "audio": p.audio,
            "transcript_key": transcript_key,
            "speakers": speakers,
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "timeout_hours": hours,
        },
    )


def apply_review(transcript: Transcript, decision: ReviewDecision) -> tuple[Transcript, list[str]]:
    """The transcript with the reviewer's names and segment edits; also the problems
    (unknown speakers, indices out of range) that were skipped."""
    from podscribe.textalign import retext_segment

    problems: list[str] = []
    labels = {w.speaker for w in transcript.words if w.speaker} | set(transcript.speakers)
    by_name = {fold_name(n): label for label, n in transcript.speakers.items()}
    speakers = dict(transcript.speakers)
    for who, name in (decision.speakers or {}).items():
        label = who if who in labels else by_name.get(fold_name(who))
        if label is None:
            problems.append(f"unknown speaker {who!r}")
            continue
        if name.strip():
            speakers[label] = " ".join(name.split())
        else:
            speakers.pop(label, None)
    segments: list[Segment] = list(transcript.segments)
    for idx, text in sorted((decision.edits or {}).items()):
        if not 0 <= idx < len(segments):
            problems.append(f"segment {idx} does not exist (0-{len(segments) - 1})")
            continue
        if " ".join(text.split()) == " ".join(segments[idx].text.split()):
            continue
        segments[idx] = retext_segment(segments[idx], text)
    segments = [s for s in segments if s.words or s.text.strip()]
    return (
        Transcript(
            segments=segments,
            speakers=dict(sorted(speakers.items())),
            language=transcript.language,
            duration=transcript.duration,
        ),
        problems,
    )


def review_apply_stage(p: PipelineInput, transcript_key: str, raw: Any) -> dict[str, Any]:
    t0 = time.monotonic()
    decision = ReviewDecision.parse(raw)
    if decision.action == "reject":
        reason = decision.reason or "no reason given"
        raise ReviewRejected(f"rejected by the reviewer: {reason}")
    store = store_for(p.artifacts)
    transcript = store.get_transcript(transcript_key)
    before = dict(transcript.speakers)
    problems: list[str] = []
    if decision.action == "correct":
        transcript, problems = apply_review(transcript, decision)
    key = f"runs/{p.run_id}/transcript.reviewed.json"
    store.put_transcript(key, transcript)
    return {
        "key": key,
        "action": decision.action,
        "names": transcript.speakers,
        "renamed_labels": sorted(
            label for label, name in transcript.speakers.items() if before.get(label) != name
        ),
        "renamed": len(decision.speakers or {}),
        "edited": len(decision.edits or {}),
        "problems": problems,
        "seconds": round(time.monotonic() - t0, 3),
    }


class ReviewRejected(RuntimeError):
    """The reviewer rejected the transcript."""


