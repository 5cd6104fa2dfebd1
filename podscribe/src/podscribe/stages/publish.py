"""The publishing stage: chapters.json, the Podcasting 2.0 transcript, the show notes and
the RSS snippet, checked against their formats and written next to the captions."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from podscribe.stages.common import PipelineInput, store_for


def publish_stage(p: PipelineInput, notes_key: str, transcript_key: str, outputs: Mapping[str, str]) -> dict[str, Any]:
    """chapters.json, the Podcasting 2.0 transcript, show notes and the RSS snippet."""
    from podscribe.notes import Notes
    from podscribe.publishing import (
        PUBLISH_SUFFIXES,
        chapters_json,
        chapters_problems,
        dumps,
        p20_transcript,
        p20_transcript_problems,
        rss_snippet,
        show_notes,
    )

    t0 = time.monotonic()
    store = store_for(p.artifacts)
    notes = Notes.from_dict(store.get_json(notes_key))
    transcript = store.get_transcript(transcript_key)
    duration = max([transcript.duration] + [s.end for s in transcript.segments])
    chapters_doc = chapters_json(notes.chapters, title=p.stem)
    p20 = p20_transcript(transcript)
    for problems in (chapters_problems(chapters_doc), p20_transcript_problems(p20)):
        if problems:
            raise ValueError("invalid publishing file: " + "; ".join(problems))
    out = store_for(p.out)
    names = {kind: f"{p.stem}{suffix}" for kind, suffix in PUBLISH_SUFFIXES.items()}
    files = {"p20": names["p20"], "chapters": names["chapters"]}
    for fmt in ("vtt", "srt"):
        if fmt in outputs:
            files[fmt] = outputs[fmt].rsplit("/", 1)[-1]
    texts = {
        "chapters": dumps(chapters_doc),
        "p20": dumps(p20),
        "show_notes": show_notes(notes, duration, title=p.stem),
        "rss": rss_snippet(files, base_url=p.config.publish.base_url, language=transcript.language),
    }
    written: dict[str, str] = {}
    for kind, text in texts.items():
        out.put_text(names[kind], text)
        written[kind] = out.uri_for(names[kind])
    return {"outputs": written, "method": notes.method, "seconds": round(time.monotonic() - t0, 3)}
