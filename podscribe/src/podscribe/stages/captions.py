"""The caption stages: caption-sized segments, then the caption files (VTT, SRT, caption
JSON and the full transcript JSON) written to the run's output location."""

from __future__ import annotations

import time
from typing import Any

from podscribe.stages.common import PipelineInput, store_for

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
