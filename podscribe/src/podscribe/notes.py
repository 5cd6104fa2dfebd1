"""Episode notes: chapters, summary, keywords, title suggestions and a social post.

Two ways to the same :class:`Notes`:

* **With an LLM** (the ``[refine]`` provider): the transcript is cut into windows of
  ``notes.window_minutes``; each window is one call (:func:`window_messages`, one
  durable step each) answering a summary, chapters and keywords for that window, then
  one *reduce* call (:func:`reduce_messages`) turns the window summaries into the
  episode summary, title suggestions, keywords and a social post. Chapters cite a
  segment number, never a time: the time printed is always that segment's start.
* **Without one**: :func:`lexical_chapters` segments the transcript by lexical
  cohesion (how many content words two neighbouring stretches of talk share; topic
  changes are the dips) and titles each chapter with its own key terms. The notes then
  say ``method = "lexical"`` and the show notes label them as such.

Whatever produced them, :func:`validate_chapters` enforces the rules: every chapter
starts on a segment start, the first at 0, starts strictly increase and are at least
``min_chapter_seconds`` apart, and the chapters cover the episode (each ends where the
next begins, the last at the end). Chapters that break a rule are repaired (snapped,
dropped or merged) and each repair is reported.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from podscribe.llm import Message
from podscribe.timefmt import clock
from podscribe.transcript import Transcript, join_words

__all__ = [
    "Chapter",
    "Notes",
    "key_terms",
    "lexical_chapters",
    "lexical_notes",
    "reduce_messages",
    "validate_chapters",
    "window_messages",
    "windows",
]

#: a chapter shorter than this is merged into the one before it (YouTube's minimum)
MIN_CHAPTER_SECONDS = 10.0

_STOP_TEXT = """
    a about above after again against all almost also although always am among an and
    another any anyone anything are around as at away back be because been before being
    below between both but by came can cannot could did do does doing done down during
    each either else enough even ever every everything few first for from get gets
    getting go goes going gonna gone got great had has have having he her here hers
    herself him himself his how however i if in into is it its itself just kind know
    last least less let like lot lots made make makes many may maybe me mean might mine
    more most much must my myself need never new next no nor not nothing now of off
    often oh ok okay on once one only or other others our ours ourselves out over own
    part pretty quite rather re really right said same say says see seem seems she
    should since so some something sometimes still such sure take than thank thanks
    that the their theirs them themselves then there these they thing things think
    this those though through thus to today together too took toward two under until
    up upon us use used very want wanted was way we well went were what whatever when
    where whether which while who whom whose why will with within without would yeah
    yes yet you your yours yourself yourselves actually basically kind sort stuff
    welcome hello hi hey bye goodbye episode podcast show um uh ah er hmm
"""
_STOP = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019\-]+")


@dataclass(frozen=True)
class Chapter:
    """A chapter: it starts at segment ``segment`` (``start`` is that segment's start,
    or 0 for the first chapter) and ends at ``end``."""

    start: float
    end: float
    title: str
    segment: int

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "title": self.title, "segment": self.segment}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chapter:
        return cls(float(data["start"]), float(data["end"]), str(data["title"]), int(data["segment"]))


@dataclass
class Notes:
    """Everything the show notes are made of."""

    method: str  # "llm" or "lexical"
    summary: str
    chapters: list[Chapter]
    keywords: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    social_post: str = ""
    #: repairs and fallbacks, one line each ("chapter at 00:31 dropped: ...")
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["chapters"] = [c.to_dict() for c in self.chapters]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notes:
        return cls(
            method=str(data["method"]),
            summary=str(data.get("summary", "")),
            chapters=[Chapter.from_dict(c) for c in data.get("chapters", [])],
            keywords=[str(k) for k in data.get("keywords", [])],
            titles=[str(t) for t in data.get("titles", [])],
            social_post=str(data.get("social_post", "")),
            problems=[str(p) for p in data.get("problems", [])],
        )


# --------------------------------------------------------------------------------------
# validation


def validate_chapters(
    proposed: Sequence[Mapping[str, Any]],
    transcript: Transcript,
    *,
    min_seconds: float = MIN_CHAPTER_SECONDS,
) -> tuple[list[Chapter], list[str]]:
    """Chapters that follow the rules, from ``[{segment: i, title}]`` or ``[{start, title}]``.

    A chapter given by time must start exactly on a segment start (within 0.05 s) or it
    is snapped to the nearest one; unknown segments, empty titles, starts that do not
    increase and chapters shorter than ``min_seconds`` are dropped (the earlier chapter
    absorbs the time); the first chapter is moved to 0. Returns the chapters and one
    line per repair."""
    segs = transcript.segments
    problems: list[str] = []
    if not segs:
        return [], ["no segments: no chapters"]
    starts = [s.start for s in segs]
    duration = max(transcript.duration, segs[-1].end, starts[-1])
    picked: list[tuple[int, str]] = []
    for n, item in enumerate(proposed):
        title = " ".join(str(item.get("title") or "").split())[:120]
        if not title:
            problems.append(f"chapter {n + 1} dropped: no title")
            continue
        idx: int | None = None
        raw_idx = item.get("segment")
        if isinstance(raw_idx, int | float | str) and str(raw_idx).strip().lstrip("-").isdigit():
            idx = int(str(raw_idx).strip())
            if not 0 <= idx < len(segs):
                problems.append(f"chapter {title!r} dropped: segment {idx} does not exist")
                continue
        elif isinstance(item.get("start"), int | float):
            t = float(item["start"])
            idx = min(range(len(segs)), key=lambda i: abs(starts[i] - t))
            if abs(starts[idx] - t) > 0.05:
                problems.append(f"chapter {title!r} at {t:.2f}s snapped to the segment start {starts[idx]:.2f}s")
        else:
            problems.append(f"chapter {title!r} dropped: neither a segment nor a start time")
            continue
        picked.append((idx, title))
    ordered: list[tuple[int, str]] = []
    for idx, title in picked:
        if ordered and idx <= ordered[-1][0]:
            problems.append(f"chapter {title!r} dropped: it does not start after the previous one")
            continue
        ordered.append((idx, title))
    if not ordered:
        problems.append("no usable chapter: one chapter for the whole episode")
        ordered = [(0, "Episode")]
    if ordered[0][0] != 0 and starts[ordered[0][0]] > min_seconds:
        problems.append(f"no chapter at 00:00: added {'Introduction'!r}")
        ordered.insert(0, (0, "Introduction"))
    kept: list[tuple[float, int, str]] = []
    for idx, title in ordered:
        start = 0.0 if not kept else starts[idx]
        if kept and start - kept[-1][0] < min_seconds:
            problems.append(f"chapter {title!r} at {clock(start)} dropped: less than {min_seconds:g}s after the previous one")
            continue
        kept.append((start, idx, title))
    while len(kept) > 1 and duration - kept[-1][0] < min_seconds:
        problems.append(f"chapter {kept[-1][2]!r} at {clock(kept[-1][0])} dropped: less than {min_seconds:g}s before the end")
        kept.pop()
    chapters = [
        Chapter(start, kept[k + 1][0] if k + 1 < len(kept) else duration, title, idx)
        for k, (start, idx, title) in enumerate(kept)
    ]
    return chapters, problems


# --------------------------------------------------------------------------------------
# lexical cohesion (no LLM)


def _term(raw: str) -> str | None:
    w = raw.lower().replace("\u2019", "'").split("'")[0].strip("-")
    if len(w) < 3 or w in _STOP:
        return None
    if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return w


def _terms(text: str) -> list[str]:
    return [t for t in (_term(raw) for raw in _WORD.findall(text)) if t]


def _surface_forms(texts: Sequence[str]) -> dict[str, str]:
    """Each term as it is usually written: capitalised when most of its occurrences are
    ("Luciano"), else lower case ("podcast")."""
    counts: dict[str, list[int]] = {}
    for text in texts:
        for raw in _WORD.findall(text):
            term = _term(raw)
            if term:
                c = counts.setdefault(term, [0, 0])
                c[0] += 1
                c[1] += int(raw[:1].isupper())
    return {t: t.capitalize() if caps * 2 > n else t for t, (n, caps) in counts.items()}


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


def _target_chapters(duration: float, min_seconds: float) -> int:
    """About one chapter per 5 minutes (3 at least when the episode is long enough for
    three chapters of ``min_seconds``), at most 12."""
    if duration < 3 * min_seconds:
        return 1
    return max(3, min(12, round(duration / 300)))


def cohesion_scores(transcript: Transcript, block_seconds: float) -> list[float]:
    """For each segment boundary i (1..n-1): the cosine similarity of the content words
    in the ``block_seconds`` before and after the start of segment i."""
    segs = transcript.segments
    terms = [_terms(s.text or join_words(w.word for w in s.words)) for s in segs]
    scores = [1.0]
    for i in range(1, len(segs)):
        t = segs[i].start
        left: Counter[str] = Counter()
        right: Counter[str] = Counter()
        for j in range(i - 1, -1, -1):
            if t - segs[j].start > block_seconds:
                break
            left.update(terms[j])
        for j in range(i, len(segs)):
            if segs[j].start - t >= block_seconds:
                break
            right.update(terms[j])
        scores.append(_cosine(left, right))
    return scores


def lexical_chapters(
    transcript: Transcript, *, min_seconds: float = MIN_CHAPTER_SECONDS
) -> list[dict[str, Any]]:
    """Proposed chapters ``[{segment, title}]`` at the deepest dips in lexical cohesion,
    titled by their key terms (validate them with :func:`validate_chapters`)."""
    segs = transcript.segments
    if not segs:
        return []
    duration = max(transcript.duration, segs[-1].end)
    want = _target_chapters(duration, min_seconds)
    block = min(120.0, max(15.0, duration / (want * 2)))
    scores = cohesion_scores(transcript, block)
    # depth of each dip: how far the similarity climbs back up on each side
    depth: list[tuple[float, float, int]] = []
    for i in range(1, len(segs)):
        lpeak = max(scores[max(1, i - 6) : i + 1])
        rpeak = max(scores[i : i + 7])
        d = (lpeak - scores[i]) + (rpeak - scores[i])
        depth.append((-d, scores[i], i))
    depth.sort()
    bounds: list[int] = [0]
    for _d, _s, i in depth:
        if len(bounds) >= want:
            break
        t = segs[i].start
        if t < min_seconds or duration - t < min_seconds:
            continue
        if all(abs(t - (segs[b].start if b else 0.0)) >= min_seconds for b in bounds):
            bounds.append(i)
    bounds.sort()
    texts = []
    for k, b in enumerate(bounds):
        stop = bounds[k + 1] if k + 1 < len(bounds) else len(segs)
        texts.append(" ".join(s.text for s in segs[b:stop]))
    titles = chapter_titles(texts)
    return [{"segment": b, "title": title} for b, title in zip(bounds, titles, strict=True)]


def key_terms(text: str, others: Sequence[str] = (), limit: int = 3) -> list[str]:
    """The words that characterise ``text`` against ``others`` (tf-idf), as spoken."""
    docs = [Counter(_terms(t)) for t in others]
    counts = Counter(_terms(text))
    n = len(docs) + 1

    def weight(term: str) -> float:
        df = 1 + sum(1 for d in docs if term in d)
        return counts[term] * (math.log(n / df) + 1.0) + len(term) / 100

    ranked = sorted(counts, key=lambda t: (-weight(t), t))
    return ranked[:limit]


def chapter_titles(texts: Sequence[str]) -> list[str]:
    """A title per chapter text: its top key terms against the other chapters."""
    forms = _surface_forms(texts)
    titles = []
    for k, text in enumerate(texts):
        others = [t for j, t in enumerate(texts) if j != k]
        terms = [forms.get(t, t) for t in key_terms(text, others, 3)]
        title = ", ".join(terms)
        titles.append(title[:1].upper() + title[1:] if title else f"Part {k + 1}")
    return titles


def lexical_notes(transcript: Transcript, *, min_seconds: float = MIN_CHAPTER_SECONDS) -> Notes:
    """Notes without any LLM: lexical-cohesion chapters, key-term keywords and an
    extractive summary (the transcript's most representative sentences, verbatim)."""
    chapters, problems = validate_chapters(
        lexical_chapters(transcript, min_seconds=min_seconds), transcript, min_seconds=min_seconds
    )
    full = " ".join(s.text for s in transcript.segments)
    keywords = key_terms(full, [], 8)
    weights = Counter(_terms(full))
    scored = []
    for i, seg in enumerate(transcript.segments):
        terms = _terms(seg.text)
        if len(seg.text.split()) >= 6 and terms:
            scored.append((sum(weights[t] for t in set(terms)) / math.sqrt(len(seg.text.split())), i))
    top = sorted(i for _s, i in sorted(scored, reverse=True)[:3])
    summary = " ".join(transcript.segments[i].text.strip() for i in top)
    return Notes("lexical", summary, chapters, keywords, [], "", problems)


# --------------------------------------------------------------------------------------
# LLM prompts (map over windows, then reduce)

WINDOW_SYSTEM = """You write chapter markers and notes for one stretch of a podcast transcript.
Each transcript line is: [segment number] (time) speaker: text.
Answer with one JSON object and nothing else:
{"summary": "two or three sentences about this stretch",
 "chapters": [{"segment": N, "title": "a short chapter title"}],
 "keywords": ["topic", ...]}
A chapter starts where the conversation turns to a new topic. Use only segment numbers
that appear in the lines below, in increasing order; the first chapter starts at the
first line. Titles are at most eight words. Do not invent content."""

REDUCE_SYSTEM = """You write show notes for a podcast episode from summaries of its parts.
Answer with one JSON object and nothing else:
{"summary": "one paragraph about the whole episode",
 "titles": ["three episode title ideas"],
 "keywords": ["up to ten topics"],
 "social_post": "one post of at most 280 characters announcing the episode"}
Use only what the summaries say."""


def windows(transcript: Transcript, minutes: float) -> list[tuple[int, int]]:
    """``[(first, stop)]`` segment ranges of about ``minutes`` of audio each."""
    segs = transcript.segments
    out: list[tuple[int, int]] = []
    first = 0
    for i in range(1, len(segs) + 1):
        if i == len(segs) or segs[i].start - segs[first].start >= minutes * 60:
            out.append((first, i))
            first = i
    return [w for w in out if w[1] > w[0]]


def window_messages(
    transcript: Transcript, first: int, stop: int, *, context: str = ""
) -> list[Message]:
    lines = []
    for i in range(first, stop):
        seg = transcript.segments[i]
        who = transcript.speaker_name(seg.speaker) or "Speaker"
        lines.append(f"[{i}] ({clock(seg.start)}) {who}: {seg.text.strip()}")
    intro = f"About this show: {context.strip()}\n\n" if context.strip() else ""
    return [
        {"role": "system", "content": WINDOW_SYSTEM},
        {"role": "user", "content": f"{intro}Segments {first} to {stop - 1}:\n" + "\n".join(lines)},
    ]


def reduce_messages(summaries: Sequence[str], chapters: Sequence[Chapter], *, context: str = "") -> list[Message]:
    parts = []
    if context.strip():
        parts.append(f"About this show: {context.strip()}")
    parts.append("Summaries of the episode's parts, in order:\n" + "\n".join(f"- {s}" for s in summaries if s))
    if chapters:
        parts.append("Chapters:\n" + "\n".join(f"- {clock(c.start)} {c.title}" for c in chapters))
    return [
        {"role": "system", "content": REDUCE_SYSTEM},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def strings(value: Any, limit: int, max_len: int = 200) -> list[str]:
    """A list of up to ``limit`` non-empty one-line strings from a model's answer."""
    if not isinstance(value, list):
        return []
    out = [" ".join(str(v).split())[:max_len] for v in value if isinstance(v, str | int | float)]
    return [v for v in out if v][:limit]
