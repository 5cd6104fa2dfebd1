"""LLM refinement: fix misheard words and name the speakers, chunk by chunk.

The transcript is cut into chunks of ``chunk_segments`` segments
(:func:`build_chunks`); each chunk is one model call (:func:`refine_chunk`, one
durable step each) that returns a small, JSON-serialisable
:class:`ChunkResult`: the accepted updates, the rejected suggestions with a
reason each, and the speaker names the model identified. Nothing is changed
until :func:`apply_chunk_results` puts the accepted updates back onto the word
timings and settles speaker names by vote across chunks.

The model sees one line per segment, ``[i] [SPEAKER_XX] text``, with ``i`` the
segment's index in the whole transcript, plus a few earlier segments as
read-only context, and answers ``{"speakers": {...}, "updates": [{"idx",
"text"}]}``. Every suggestion is checked (see :func:`check_update`) so that the
model can correct words but cannot rewrite what was said.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from podscribe.config import RefineConfig
from podscribe.llm import LLMError, Message, Provider, parse_json_object
from podscribe.textalign import diff_words, retext_segment, segment_text, tokenize
from podscribe.transcript import Segment, Transcript

__all__ = [
    "SYSTEM_PROMPT",
    "AppliedUpdate",
    "Chunk",
    "ChunkResult",
    "Rejection",
    "apply_chunk_results",
    "build_chunks",
    "build_messages",
    "char_distance",
    "check_update",
    "parse_response",
    "refine_chunk",
    "refine_summary",
    "refine_transcript",
    "word_change_stats",
]

log = logging.getLogger(__name__)

SYSTEM_PROMPT = """\
You are a careful proofreader of automatic speech recognition (ASR) transcripts of \
podcast episodes. The user sends numbered transcript segments, one per line, in the \
form `[index] [speaker label] text`.

Correct only mistakes the speech recogniser made:
- technical terms, product and company names, and people's or places' names that were \
misheard or misspelled;
- one word wrongly written as several, or several words wrongly joined;
- a wrong homophone, when the intended word is clear from the context;
- a word the recogniser accidentally duplicated.

Never rephrase, shorten, summarise, reorder or translate. Keep filler words (um, uh, \
like, you know), false starts and repetitions that the speaker really said. Do not fix \
the speaker's grammar or style. Change as few words as possible; when in doubt, leave \
the segment as it is.

Also identify the speakers' real names where the conversation makes them clear, for \
example through introductions, greetings or someone being addressed by name. Never \
guess a name.

Reply with a single JSON object and nothing else, in this shape:
{"speakers": {"SPEAKER_00": "Full Name"}, "updates": [{"idx": 12, "text": "complete \
corrected text of segment 12"}]}
List only the segments you changed, each with its complete new text, and only speakers \
you are sure of. If nothing needs changing, reply {"speakers": {}, "updates": []}."""


# ---------------------------------------------------------------------------
# chunks and results


@dataclass(frozen=True)
class Chunk:
    """Segments ``start:end`` may be updated; ``context_start:start`` are shown as context."""

    index: int
    start: int
    end: int
    context_start: int

    def __post_init__(self) -> None:
        if not 0 <= self.context_start <= self.start < self.end:
            raise ValueError(f"invalid chunk bounds {self!r}")

    def __contains__(self, idx: object) -> bool:
        return isinstance(idx, int) and self.start <= idx < self.end

    def to_dict(self) -> dict[str, int]:
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "context_start": self.context_start,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(
            int(data["index"]), int(data["start"]), int(data["end"]), int(data["context_start"])
        )


@dataclass(frozen=True)
class AppliedUpdate:
    """An accepted correction of segment ``idx`` (``old_text`` guards against stale results)."""

    idx: int
    old_text: str
    text: str


@dataclass(frozen=True)
class Rejection:
    """A suggestion that was not accepted, and why."""

    kind: Literal["update", "speaker"]
    reason: str
    idx: int | None = None
    text: str | None = None


@dataclass
class ChunkResult:
    chunk: Chunk
    updates: list[AppliedUpdate] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    speakers: dict[str, str] = field(default_factory=dict)
    #: why the whole response was unusable (unparsable, or the call failed)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk": self.chunk.to_dict(),
            "updates": [
                {"idx": u.idx, "old_text": u.old_text, "text": u.text} for u in self.updates
            ],
            "rejected": [
                {"kind": r.kind, "reason": r.reason, "idx": r.idx, "text": r.text}
                for r in self.rejected
            ],
            "speakers": dict(self.speakers),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkResult:
        return cls(
            chunk=Chunk.from_dict(data["chunk"]),
            updates=[
                AppliedUpdate(int(u["idx"]), str(u["old_text"]), str(u["text"]))
                for u in data.get("updates", [])
            ],
            rejected=[
                Rejection(kind=r["kind"], reason=r["reason"], idx=r.get("idx"), text=r.get("text"))
                for r in data.get("rejected", [])
            ],
            speakers={str(k): str(v) for k, v in data.get("speakers", {}).items()},
            error=data.get("error"),
        )


def build_chunks(transcript: Transcript, cfg: RefineConfig) -> list[Chunk]:
    """Cut the transcript into chunks of at most ``cfg.chunk_segments`` segments.

    Chunk sizes are balanced (85 segments at 40 per chunk give 29 + 28 + 28,
    not 40 + 40 + 5), and each chunk carries up to ``cfg.context_segments``
    preceding segments as read-only context.
    """
    n = len(transcript.segments)
    if n == 0:
        return []
    count = math.ceil(n / cfg.chunk_segments)
    base, extra = divmod(n, count)
    chunks: list[Chunk] = []
    start = 0
    for i in range(count):
        end = start + base + (1 if i < extra else 0)
        chunks.append(Chunk(i, start, end, max(0, start - cfg.context_segments)))
        start = end
    return chunks


# ---------------------------------------------------------------------------
# prompt


def _line(idx: int, seg: Segment) -> str:
    return f"[{idx}] [{seg.speaker or 'UNKNOWN'}] {segment_text(seg)}"


def _labels(segments: Sequence[Segment]) -> set[str]:
    out: set[str] = set()
    for s in segments:
        if s.speaker:
            out.add(s.speaker)
        out.update(w.speaker for w in s.words if w.speaker)
    return out


def build_messages(
    transcript: Transcript, chunk: Chunk, cfg: RefineConfig, *, hosts: Sequence[str] = ()
) -> list[Message]:
    """The system and user messages for one chunk."""
    parts: list[str] = []
    if cfg.context.strip():
        parts.append("About this episode:\n" + cfg.context.strip())
    if hosts:
        parts.append("The hosts of the show are: " + ", ".join(hosts) + ".")
    segs = transcript.segments
    labels = _labels(segs[chunk.context_start : chunk.end])
    known = {
        label: name
        for label, name in sorted(transcript.speakers.items())
        if label in labels and name and name != label
    }
    if known:
        parts.append(
            "Speakers already identified:\n"
            + "\n".join(f"{label}: {name}" for label, name in known.items())
        )
    if chunk.context_start < chunk.start:
        parts.append(
            "Earlier segments, for context only (do not update these):\n"
            + "\n".join(_line(i, segs[i]) for i in range(chunk.context_start, chunk.start))
        )
    parts.append(
        f"Segments to check (indices {chunk.start} to {chunk.end - 1}):\n"
        + "\n".join(_line(i, segs[i]) for i in range(chunk.start, chunk.end))
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


# ---------------------------------------------------------------------------
# response parsing and validation

def parse_response(text: str) -> dict[str, Any]:
    """The JSON object in a model reply with ``updates`` or ``speakers``; tolerates code
    fences and surrounding prose. Raises ``ValueError`` with a short reason when there is
    none."""
    return parse_json_object(text, ("updates", "speakers", "identifiedSpeakers"), wanted="updates or speakers")


def _levenshtein(a: str, b: str) -> int:
    # trim the common prefix and suffix; edits are usually local
    pre = 0
    while pre < len(a) and pre < len(b) and a[pre] == b[pre]:
        pre += 1
    a, b = a[pre:], b[pre:]
    suf = 0
    while suf < len(a) and suf < len(b) and a[-1 - suf] == b[-1 - suf]:
        suf += 1
    if suf:
        a, b = a[:-suf], b[:-suf]
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_distance(old: str, new: str) -> float:
    """Levenshtein distance divided by the longer text's length (0 = same, 1 = all different)."""
    longest = max(len(old), len(new))
    return _levenshtein(old, new) / longest if longest else 0.0


def word_change_stats(old: str, new: str) -> tuple[float, int]:
    """``(word change ratio, longest run of consecutive changed words)``.

    Changed words are counted on a word-level LCS diff, each changed run
    counting ``max(removed, added)`` words; the ratio divides by the old word
    count.
    """
    a, b = tokenize(old), tokenize(new)
    ops = diff_words(a, b)
    changed = [max(o.i2 - o.i1, o.j2 - o.j1) for o in ops if o.tag != "equal"]
    ratio = sum(changed) / max(1, len(a))
    return ratio, max(changed, default=0)


def check_update(old: str, new: str, cfg: RefineConfig) -> str | None:
    """Why the suggestion ``old -> new`` is rejected, or ``None`` when it is acceptable."""
    n_words = len(tokenize(old))
    ratio, run = word_change_stats(old, new)
    if n_words >= cfg.min_words_for_ratio:
        if ratio > cfg.max_word_change_ratio:
            return (
                f"word change ratio {ratio:.2f} exceeds {cfg.max_word_change_ratio:.2f} "
                "(looks like a rewrite)"
            )
        dist = char_distance(old, new)
        if dist > cfg.max_char_distance:
            return f"character edit distance {dist:.2f} exceeds {cfg.max_char_distance:.2f}"
    if run > cfg.max_consecutive_changes:
        return f"{run} consecutive words changed (at most {cfg.max_consecutive_changes})"
    return None


_BAD_NAMES = {"unknown", "speaker", "host", "guest", "none", "null", "n/a", "?"}


def _coerce_idx(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _validate(
    transcript: Transcript, chunk: Chunk, data: dict[str, Any], cfg: RefineConfig
) -> ChunkResult:
    result = ChunkResult(chunk)
    segs = transcript.segments

    updates = data.get("updates", [])
    if not isinstance(updates, list):
        result.rejected.append(Rejection("update", "updates is not a list"))
        updates = []
    seen: set[int] = set()
    for item in updates:
        if not isinstance(item, dict):
            result.rejected.append(Rejection("update", f"update is not an object: {item!r:.80}"))
            continue
        raw_text = item.get("text")
        text = " ".join(raw_text.split()) if isinstance(raw_text, str) else None
        idx = _coerce_idx(item.get("idx", item.get("index")))
        if idx is None:
            result.rejected.append(
                Rejection("update", f"idx {item.get('idx')!r} is not an integer", None, text)
            )
            continue
        if idx not in chunk:
            where = "outside the transcript" if not 0 <= idx < len(segs) else "outside this chunk"
            result.rejected.append(
                Rejection(
                    "update",
                    f"index {idx} is {where} (allowed {chunk.start}-{chunk.end - 1})",
                    idx,
                    text,
                )
            )
            continue
        if not text:
            result.rejected.append(Rejection("update", "empty or missing text", idx, text))
            continue
        if idx in seen:
            result.rejected.append(
                Rejection("update", f"duplicate update for segment {idx}", idx, text)
            )
            continue
        seen.add(idx)
        old = segment_text(segs[idx])
        if text == old:
            continue
        reason = check_update(old, text, cfg)
        if reason is not None:
            result.rejected.append(Rejection("update", reason, idx, text))
            continue
        result.updates.append(AppliedUpdate(idx, old, text))

    speakers = data.get("speakers", data.get("identifiedSpeakers", {}))
    if speakers is None:
        speakers = {}
    if not isinstance(speakers, dict):
        result.rejected.append(Rejection("speaker", "speakers is not an object"))
        speakers = {}
    labels = _labels(segs[chunk.context_start : chunk.end])
    for label, name in speakers.items():
        shown = f"{label}: {name}"
        if label not in labels:
            result.rejected.append(
                Rejection(
                    "speaker",
                    f"speaker label {label!r} does not occur in these segments",
                    text=shown,
                )
            )
            continue
        if not isinstance(name, str) or not name.strip():
            result.rejected.append(Rejection("speaker", "name is empty or not text", text=shown))
            continue
        clean = " ".join(name.split())
        if clean == label or clean.casefold() in _BAD_NAMES or len(clean) > 60:
            result.rejected.append(
                Rejection("speaker", f"not a usable name: {clean!r}", text=shown)
            )
            continue
        result.speakers[label] = clean
    return result


def refine_chunk(
    transcript: Transcript,
    chunk: Chunk,
    provider: Provider,
    cfg: RefineConfig,
    *,
    hosts: Sequence[str] = (),
    skip_on_error: bool = False,
) -> ChunkResult:
    """Ask the model about one chunk and validate its answer; changes nothing.

    An unparsable answer gives a result with no changes and ``error`` set.
    A failed call (:class:`~podscribe.llm.LLMError`, after the provider's own
    retries) is raised, so that a durable step can retry it, unless
    ``skip_on_error`` is set, in which case it is reported like an unparsable
    answer.
    """
    messages = build_messages(transcript, chunk, cfg, hosts=hosts)
    try:
        reply = provider.complete(messages, temperature=cfg.temperature, timeout=cfg.timeout)
    except LLMError as exc:
        if not skip_on_error:
            raise
        log.warning("chunk %d: LLM call failed, no changes: %s", chunk.index, exc)
        return ChunkResult(chunk, error=f"LLM call failed: {exc}")
    try:
        data = parse_response(reply)
    except ValueError as exc:
        log.warning("chunk %d: unusable LLM response, no changes: %s", chunk.index, exc)
        return ChunkResult(chunk, error=f"unparsable response: {exc}")
    result = _validate(transcript, chunk, data, cfg)
    for r in result.rejected:
        log.info(
            "chunk %d: rejected %s suggestion%s: %s",
            chunk.index,
            r.kind,
            f" for segment {r.idx}" if r.idx is not None else "",
            r.reason,
        )
    return result


def apply_chunk_results(
    transcript: Transcript,
    results: Sequence[ChunkResult],
    *,
    overwrite_names: bool = False,
) -> Transcript:
    """A new transcript with every accepted update applied and speakers named.

    Updates go onto the word timings via
    :func:`podscribe.textalign.retext_segment`; an update whose segment no
    longer reads ``old_text`` is skipped. A label named differently by
    different chunks gets the name most chunks gave (ties: the earliest).
    Names already in ``transcript.speakers`` (from the voice library, say) are
    kept unless ``overwrite_names``.
    """
    segments = [replace(s, words=[replace(w) for w in s.words]) for s in transcript.segments]
    for res in results:
        for u in res.updates:
            if not 0 <= u.idx < len(segments):
                log.warning("update for segment %d skipped: no such segment", u.idx)
                continue
            if segment_text(segments[u.idx]) != u.old_text:
                log.warning("update for segment %d skipped: the segment changed", u.idx)
                continue
            segments[u.idx] = retext_segment(segments[u.idx], u.text)
    votes: dict[str, Counter[str]] = {}
    first_seen: dict[tuple[str, str], int] = {}
    for order, res in enumerate(results):
        for label, name in res.speakers.items():
            votes.setdefault(label, Counter())[name] += 1
            first_seen.setdefault((label, name), order)
    speakers = dict(transcript.speakers)
    for label, counter in votes.items():
        existing = speakers.get(label)
        if existing and existing != label and not overwrite_names:
            continue
        best = max(counter.items(), key=lambda kv: (kv[1], -first_seen[(label, kv[0])]))
        speakers[label] = best[0]
    return Transcript(
        segments=segments,
        speakers=speakers,
        language=transcript.language,
        duration=transcript.duration,
    )


def refine_summary(results: Sequence[ChunkResult]) -> dict[str, Any]:
    """Counts for logs and the completion event."""
    return {
        "chunks": len(results),
        "updates": sum(len(r.updates) for r in results),
        "rejected": sum(len(r.rejected) for r in results),
        "failed_chunks": sum(1 for r in results if r.error is not None),
        "speakers": {k: v for r in results for k, v in r.speakers.items()},
    }


def refine_transcript(
    transcript: Transcript,
    provider: Provider | None,
    cfg: RefineConfig,
    *,
    hosts: Sequence[str] = (),
    skip_on_error: bool = False,
) -> tuple[Transcript, list[ChunkResult]]:
    """All chunks in one go (outside a durable runtime); ``provider=None`` changes nothing."""
    if provider is None:
        return transcript, []
    results = [
        refine_chunk(transcript, c, provider, cfg, hosts=hosts, skip_on_error=skip_on_error)
        for c in build_chunks(transcript, cfg)
    ]
    return apply_chunk_results(transcript, results), results
