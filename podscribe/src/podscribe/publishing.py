"""The files a podcast host publishes, from the final transcript and the episode notes.

* ``STEM.chapters.json``: Podcasting 2.0 JSON chapters (``version`` "1.2.0",
  ``chapters`` of ``{startTime, endTime, title}``, ascending), served as
  ``application/json+chapters``.
* ``STEM.p20.json``: Podcasting 2.0 JSON transcript (``version`` "1.0.0", ``segments``
  of ``{speaker, startTime, endTime, body}``), served as ``application/json``.
* ``STEM.show-notes.md``: the summary, YouTube chapter lines (the first at 00:00, at
  least three, each chapter at least 10 s long, ascending), keywords, title ideas and
  a social post.
* ``STEM.rss.xml``: the ``<podcast:transcript>`` and ``<podcast:chapters>`` tags for the
  episode's ``<item>`` (namespace ``https://podcastindex.org/namespace/1.0``).

:func:`youtube_problems`, :func:`chapters_problems` and :func:`p20_transcript_problems`
check a file against its format's rules; the pipeline writes nothing that fails them.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from podscribe.notes import Chapter, Notes
from podscribe.timefmt import clock
from podscribe.transcript import Transcript, join_words

__all__ = [
    "PODCAST_NS",
    "PUBLISH_SUFFIXES",
    "chapters_json",
    "chapters_problems",
    "p20_transcript",
    "p20_transcript_problems",
    "rss_snippet",
    "show_notes",
    "youtube_lines",
    "youtube_problems",
]

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
YOUTUBE_MIN_CHAPTERS = 3
YOUTUBE_MIN_SECONDS = 10.0

#: file name suffix of each publishing file
PUBLISH_SUFFIXES: dict[str, str] = {
    "chapters": ".chapters.json",
    "p20": ".p20.json",
    "show_notes": ".show-notes.md",
    "rss": ".rss.xml",
}


def chapters_json(chapters: Sequence[Chapter], *, title: str | None = None) -> dict[str, Any]:
    """Podcasting 2.0 JSON chapters (format version 1.2.0)."""
    doc: dict[str, Any] = {"version": "1.2.0"}
    if title:
        doc["title"] = title
    doc["chapters"] = [
        {"startTime": round(c.start, 3), "endTime": round(c.end, 3), "title": c.title} for c in chapters
    ]
    return doc


def chapters_problems(doc: Any) -> list[str]:
    """What breaks the JSON chapters format (empty when the document is valid)."""
    if not isinstance(doc, Mapping):
        return ["not a JSON object"]
    problems = []
    if not isinstance(doc.get("version"), str):
        problems.append("version: a string is required")
    chapters = doc.get("chapters")
    if not isinstance(chapters, list):
        return [*problems, "chapters: an array is required"]
    last = -1.0
    for n, ch in enumerate(chapters):
        if not isinstance(ch, Mapping):
            problems.append(f"chapters[{n}]: not an object")
            continue
        start = ch.get("startTime")
        if not isinstance(start, int | float) or isinstance(start, bool) or start < 0:
            problems.append(f"chapters[{n}].startTime: a number of seconds >= 0 is required")
            continue
        if start <= last:
            problems.append(f"chapters[{n}].startTime: not in ascending order")
        last = float(start)
        end = ch.get("endTime")
        if end is not None and (not isinstance(end, int | float) or end < start):
            problems.append(f"chapters[{n}].endTime: must be a number >= startTime")
        if "title" in ch and not isinstance(ch["title"], str):
            problems.append(f"chapters[{n}].title: must be a string")
    return problems


def p20_transcript(transcript: Transcript) -> dict[str, Any]:
    """Podcasting 2.0 JSON transcript: one segment per transcript segment, speaker named."""
    segments = []
    for seg in sorted(transcript.segments, key=lambda s: s.start):
        body = join_words(w.word for w in seg.words) if seg.words else " ".join(seg.text.split())
        if not body:
            continue
        start = max(0.0, seg.start)
        item: dict[str, Any] = {}
        name = transcript.speaker_name(seg.speaker)
        if name:
            item["speaker"] = name
        item.update({"startTime": round(start, 3), "endTime": round(max(start, seg.end), 3), "body": body})
        segments.append(item)
    return {"version": "1.0.0", "segments": segments}


def p20_transcript_problems(doc: Any) -> list[str]:
    """What breaks the JSON transcript format (empty when valid)."""
    if not isinstance(doc, Mapping):
        return ["not a JSON object"]
    problems = []
    if not isinstance(doc.get("version"), str):
        problems.append("version: a string is required")
    segments = doc.get("segments")
    if not isinstance(segments, list):
        return [*problems, "segments: an array is required"]
    for n, seg in enumerate(segments):
        if not isinstance(seg, Mapping):
            problems.append(f"segments[{n}]: not an object")
            continue
        for key in ("startTime", "endTime"):
            if key in seg and (not isinstance(seg[key], int | float) or seg[key] < 0):
                problems.append(f"segments[{n}].{key}: a number of seconds >= 0 is required")
        if "startTime" not in seg:
            problems.append(f"segments[{n}].startTime: required")
        if not isinstance(seg.get("body"), str):
            problems.append(f"segments[{n}].body: a string is required")
        if "speaker" in seg and not isinstance(seg["speaker"], str):
            problems.append(f"segments[{n}].speaker: must be a string")
        if isinstance(seg.get("startTime"), int | float) and isinstance(seg.get("endTime"), int | float) and seg["endTime"] < seg["startTime"]:
            problems.append(f"segments[{n}]: endTime before startTime")
    return problems


def youtube_lines(chapters: Sequence[Chapter], duration: float) -> list[str]:
    """``MM:SS Title`` lines (``H:MM:SS`` past an hour: every line then uses hours)."""
    hours = duration >= 3600
    lines = []
    for c in chapters:
        stamp = clock(c.start)
        if hours and stamp.count(":") == 1:
            stamp = "0:" + stamp
        lines.append(f"{stamp} {c.title}")
    return lines


_STAMP = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})\s+\S")


def youtube_problems(lines: Sequence[str]) -> list[str]:
    """YouTube's chapter rules: the first at 00:00, at least three, ascending, each at
    least 10 seconds long."""
    problems = []
    times = []
    for line in lines:
        m = _STAMP.match(line)
        if not m:
            problems.append(f"not a chapter line: {line!r}")
            continue
        h, mm, ss = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
        if ss >= 60 or (m.group(1) and mm >= 60):
            problems.append(f"bad timestamp: {line!r}")
        times.append(h * 3600 + mm * 60 + ss)
    if len(times) < YOUTUBE_MIN_CHAPTERS:
        problems.append(f"{len(times)} chapters: YouTube needs at least {YOUTUBE_MIN_CHAPTERS}")
    if times and times[0] != 0:
        problems.append("the first chapter must start at 00:00")
    for a, b in itertools.pairwise(times):
        if b - a < YOUTUBE_MIN_SECONDS:
            problems.append(f"chapter at {clock(a)} is shorter than {YOUTUBE_MIN_SECONDS:g} seconds")
    return problems


def show_notes(notes: Notes, duration: float, *, title: str) -> str:
    """The show notes in Markdown; chapter lines only when YouTube would accept them."""
    out = [f"# {title}", ""]
    if notes.method == "lexical":
        out += [
            "_Generated without an LLM: the summary is sentences taken from the transcript, "
            "and the chapters come from a lexical topic segmentation (where the vocabulary "
            "changes), titled with each chapter's key terms. Edit before publishing._",
            "",
        ]
    out += ["## Summary", "", notes.summary.strip() or "(no summary)", ""]
    lines = youtube_lines(notes.chapters, duration)
    out += ["## Chapters", ""]
    if youtube_problems(lines):
        out += [f"- {clock(c.start)} {c.title}" for c in notes.chapters]
        out += ["", "_Too short for YouTube chapters (they need three of at least 10 seconds)._"]
    else:
        out += lines
    out.append("")
    if notes.keywords:
        out += ["## Keywords", "", ", ".join(notes.keywords), ""]
    if notes.titles:
        out += ["## Title ideas", "", *[f"- {t}" for t in notes.titles], ""]
    if notes.social_post:
        out += ["## Social post", "", notes.social_post, ""]
    return "\n".join(out)


def rss_snippet(files: Mapping[str, str], *, base_url: str = "", language: str = "en") -> str:
    """The ``podcast:`` tags for an episode's ``<item>``; ``files`` maps ``p20``, ``vtt``,
    ``srt`` and ``chapters`` to file names, published under ``base_url``."""

    def url(name: str) -> str:
        return f"{base_url.rstrip('/')}/{name}" if base_url else name

    kinds = [
        ("p20", "podcast:transcript", "application/json", False),
        ("vtt", "podcast:transcript", "text/vtt", True),
        ("srt", "podcast:transcript", "application/x-subrip", True),
    ]
    lines = [
        f"<!-- for the episode's <item>; declare xmlns:podcast=\"{PODCAST_NS}\" on <rss> -->",
    ]
    for key, tag, mime, captions in kinds:
        if key in files:
            rel = ' rel="captions"' if captions else ""
            lines.append(
                f"<{tag} url={quoteattr(url(files[key]))} type=\"{mime}\" language=\"{language}\"{rel} />"
            )
    if "chapters" in files:
        lines.append(f"<podcast:chapters url={quoteattr(url(files['chapters']))} type=\"application/json+chapters\" />")
    return "\n".join(lines) + "\n"


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
