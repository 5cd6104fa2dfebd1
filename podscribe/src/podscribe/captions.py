"""Caption files: WebVTT, SRT, a simplified caption JSON and the full transcript JSON.

* Cue text is HTML-escaped (``&``, ``<``, ``>``) in VTT and SRT; highlight
  tags are the only markup.
* ``speaker_names``: ``"never"``, ``"always"`` or ``"on-change"`` (alias
  ``"when-changes"``: the cue starts with ``Name: `` when its speaker differs from
  the previous cue's).
* ``highlight_words`` (``"underline"``, ``"bold"``, ``"italic"`` or ``"none"``): one
  cue per word with that word wrapped in ``<u>``, ``<b>`` or ``<i>``, plus plain
  filler cues for the gaps between words, so the text stays on screen for the whole
  segment.
* Words without timing get times spread evenly inside their segment by
  :func:`interpolate_word_times`.
* Cues come out in time order and never have a negative duration.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from podscribe.config import CaptionsConfig
from podscribe.transcript import Segment, Transcript, join_words

__all__ = [
    "FILE_SUFFIXES",
    "Cue",
    "build_cues",
    "caption_json",
    "format_timestamp",
    "interpolate_word_times",
    "render_captions",
    "to_caption_json",
    "to_srt",
    "to_transcript_json",
    "to_vtt",
]

SpeakerNames = Literal["never", "always", "on-change", "when-changes"]
HighlightStyle = Literal["u", "b", "i"]

#: file name suffix for each caption format
FILE_SUFFIXES: dict[str, str] = {
    "vtt": ".vtt",
    "srt": ".srt",
    "json": ".captions.json",
    "transcript": ".transcript.json",
}

#: an untimed run shorter than this per word borrows time from its neighbours
MIN_WORD_SECONDS = 0.1


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    #: already escaped, may contain highlight tags
    text: str


def interpolate_word_times(
    segment: Segment, *, min_word_seconds: float = MIN_WORD_SECONDS
) -> list[tuple[float, float]]:
    """``(start, end)`` for every word of ``segment``, untimed words included.

    Timed words keep their times (clamped into the segment). Each run of
    untimed words shares the gap between its timed neighbours (or the segment
    edges) evenly. When that gap leaves less than ``min_word_seconds`` per
    word (0.1 s), the run also takes in the neighbouring timed words' spans and
    everything is shared evenly, so that no word gets a zero-length slot; pass
    ``min_word_seconds=0`` to keep timed words' times exactly. Times are
    non-decreasing and inside ``[segment.start, segment.end]``.
    """
    lo_seg = segment.start
    hi_seg = max(segment.start, segment.end)
    times: list[tuple[float, float] | None] = []
    last = lo_seg
    for w in segment.words:
        if w.start is None or w.end is None:
            times.append(None)
            continue
        s = min(max(w.start, last), hi_seg)
        e = min(max(w.end, s), hi_seg)
        times.append((s, e))
        last = s
    n = len(times)
    i = 0
    while i < n:
        if times[i] is not None:
            i += 1
            continue
        j = i
        while j < n and times[j] is None:
            j += 1
        prev = times[i - 1] if i > 0 else None
        nxt = times[j] if j < n else None
        lo = prev[1] if prev is not None else lo_seg
        hi = nxt[0] if nxt is not None else hi_seg
        hi = max(hi, lo)
        first, stop = i, j
        if hi - lo < min_word_seconds * (j - i):
            if prev is not None:
                first, lo = i - 1, prev[0]
            if nxt is not None:
                stop, hi = j + 1, nxt[1]
            hi = max(hi, lo)
        count = stop - first
        step = (hi - lo) / count
        for k in range(count):
            times[first + k] = (lo + step * k, hi if k == count - 1 else lo + step * (k + 1))
        i = j
    return [t for t in times if t is not None]


def format_timestamp(seconds: float, sep: str = ".") -> str:
    """``HH:MM:SS.mmm`` (``sep=","`` for SRT); negative times become zero."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _segment_words(segment: Segment) -> list[str]:
    words = [w.word.strip() for w in segment.words]
    words = [w for w in words if w]
    return words if words else segment.text.split()


def build_cues(
    transcript: Transcript,
    *,
    speaker_names: SpeakerNames = "when-changes",
    highlight_words: bool = False,
    highlight_style: HighlightStyle = "u",
) -> list[Cue]:
    """The caption cues, in time order, with escaped text."""
    segments = sorted(transcript.segments, key=lambda s: s.start)
    cues: list[Cue] = []
    previous: str | None = None
    first = True
    for seg in segments:
        tokens = _segment_words(seg)
        if not tokens:
            continue
        start = max(0.0, seg.start)
        end = max(start, seg.end)
        name = transcript.speaker_name(seg.speaker)
        show = speaker_names == "always" or (
            speaker_names in ("on-change", "when-changes") and (first or seg.speaker != previous)
        )
        prefix = f"{_esc(name)}: " if show and name else ""
        previous, first = seg.speaker, False
        plain = prefix + _esc(join_words(tokens))
        timed_words = [w for w in seg.words if w.word.strip()]
        if not highlight_words or not timed_words:
            cues.append(Cue(start, end, plain))
            continue
        spans = interpolate_word_times(Segment(start, end, seg.text, timed_words, seg.speaker))
        escaped = [_esc(w.word.strip()) for w in timed_words]
        cursor = start
        for k, (ws, we) in enumerate(spans):
            if ws > cursor + 1e-3:
                cues.append(Cue(cursor, ws, plain))
            if we - ws <= 1e-3:
                continue
            marked = list(escaped)
            marked[k] = f"<{highlight_style}>{marked[k]}</{highlight_style}>"
            cues.append(Cue(ws, we, prefix + " ".join(marked)))
            cursor = max(cursor, we)
        if end > cursor + 1e-3:
            cues.append(Cue(cursor, end, plain))
    cues.sort(key=lambda c: (c.start, c.end))
    return cues


def _cues(transcript: Transcript, cfg: CaptionsConfig | None) -> list[Cue]:
    c = cfg or CaptionsConfig()
    return build_cues(
        transcript,
        speaker_names=c.speaker_names,
        highlight_words=c.highlight_tag is not None,
        highlight_style=c.highlight_tag or "u",  # type: ignore[arg-type]
    )


def to_vtt(transcript: Transcript, cfg: CaptionsConfig | None = None) -> str:
    """WebVTT with ``HH:MM:SS.mmm`` times."""
    lines = ["WEBVTT", ""]
    for cue in _cues(transcript, cfg):
        lines.append(f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}")
        lines.append(cue.text)
        lines.append("")
    return "\n".join(lines)


def to_srt(transcript: Transcript, cfg: CaptionsConfig | None = None) -> str:
    """SubRip: numbered cues with ``HH:MM:SS,mmm`` times."""
    lines: list[str] = []
    for n, cue in enumerate(_cues(transcript, cfg), 1):
        lines.append(str(n))
        lines.append(f"{format_timestamp(cue.start, ',')} --> {format_timestamp(cue.end, ',')}")
        lines.append(cue.text)
        lines.append("")
    return "\n".join(lines)


def caption_json(transcript: Transcript) -> dict[str, Any]:
    """``{speakers: {label: name}, segments: [{speakerLabel, start, end, text}]}``.

    Every label used by a segment is in ``speakers`` (its name, or the label
    itself when it has none); text is not escaped.
    """
    speakers: dict[str, str] = {}
    segments: list[dict[str, Any]] = []
    for seg in sorted(transcript.segments, key=lambda s: s.start):
        text = join_words(_segment_words(seg))
        if not text:
            continue
        if seg.speaker is not None and seg.speaker not in speakers:
            speakers[seg.speaker] = transcript.speakers.get(seg.speaker, seg.speaker)
        start = max(0.0, seg.start)
        segments.append(
            {
                "speakerLabel": seg.speaker,
                "start": round(start, 3),
                "end": round(max(start, seg.end), 3),
                "text": text,
            }
        )
    return {"speakers": speakers, "segments": segments}


def to_caption_json(transcript: Transcript) -> str:
    return json.dumps(caption_json(transcript), indent=2, ensure_ascii=False) + "\n"


def to_transcript_json(transcript: Transcript) -> str:
    """The full transcript, word timings included (``Transcript.to_dict``)."""
    return json.dumps(transcript.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_captions(
    transcript: Transcript,
    cfg: CaptionsConfig | None = None,
    formats: Sequence[str] | None = None,
) -> dict[str, str]:
    """``{format: file content}`` for ``formats`` (default: ``cfg.formats``)."""
    c = cfg or CaptionsConfig()
    out: dict[str, str] = {}
    for fmt in formats if formats is not None else c.formats:
        if fmt == "vtt":
            out[fmt] = to_vtt(transcript, c)
        elif fmt == "srt":
            out[fmt] = to_srt(transcript, c)
        elif fmt == "json":
            out[fmt] = to_caption_json(transcript)
        elif fmt == "transcript":
            out[fmt] = to_transcript_json(transcript)
        else:
            raise ValueError(f"unknown caption format {fmt!r} (vtt, srt, json, transcript)")
    return out
