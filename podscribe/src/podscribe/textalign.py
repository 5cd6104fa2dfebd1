"""Put corrected text back onto timed words.

Words carry the timings, so any stage that rewrites a segment's text (rules,
LLM refinement, human review) must say which new word has which time:

* same word count: each new word takes the old word's place, timing, score and
  speaker;
* otherwise a word-level LCS diff yields keep / replace / remove / add runs:

  - kept words keep their timing (with the new spelling);
  - a replaced run of the same length pairs up one to one; a replaced run of a
    different length shares the old run's span among the new words in
    proportion to their lengths;
  - a removed word's span merges into the previous timed word (or, at the
    start, the next one);
  - an added word splits the previous timed word's span (or, at the start, the
    next one's);

* untimed words stay untimed, and words added next to untimed words are
  untimed; speakers are kept, added words take their neighbour's speaker.

All functions are pure: inputs are never mutated.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from podscribe.transcript import Segment, Word

__all__ = [
    "Opcode",
    "diff_words",
    "longest_change_run",
    "realign_words",
    "retext_segment",
    "segment_text",
    "tokenize",
    "word_key",
]

Tag = Literal["equal", "replace", "delete", "insert"]


@dataclass(frozen=True)
class Opcode:
    """``old[i1:i2]`` becomes ``new[j1:j2]``."""

    tag: Tag
    i1: int
    i2: int
    j1: int
    j2: int


_PUNCT = re.compile(r"[^\w]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Split text into words on whitespace."""
    return text.split()


def word_key(token: str) -> str:
    """Comparison key for anchoring: case-folded, accents and punctuation dropped."""
    folded = unicodedata.normalize("NFKD", token.casefold())
    stripped = _PUNCT.sub("", "".join(c for c in folded if not unicodedata.combining(c)))
    return stripped or token


def segment_text(segment: Segment) -> str:
    """The segment's current text: its words when it has any, else its text."""
    if segment.words:
        return " ".join(t for w in segment.words if (t := w.word.strip()))
    return " ".join(tokenize(segment.text))


def diff_words(
    old: Sequence[str], new: Sequence[str], key: Callable[[str], str] | None = None
) -> list[Opcode]:
    """Longest-common-subsequence diff of two word lists.

    Consecutive removals and additions between two kept words are reported as
    one ``replace`` opcode (or ``delete`` / ``insert`` when one side is empty).
    """
    k = key or (lambda s: s)
    a = [k(t) for t in old]
    b = [k(t) for t in new]
    n, m = len(a), len(b)
    # Common prefix and suffix need no table.
    pre = 0
    while pre < n and pre < m and a[pre] == b[pre]:
        pre += 1
    suf = 0
    while suf < n - pre and suf < m - pre and a[n - 1 - suf] == b[m - 1 - suf]:
        suf += 1
    ma, mb = a[pre : n - suf], b[pre : m - suf]
    rows, cols = len(ma), len(mb)
    # lcs[i][j]: LCS length of ma[i:] and mb[j:]
    lcs = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        row, below = lcs[i], lcs[i + 1]
        ai = ma[i]
        for j in range(cols - 1, -1, -1):
            row[j] = below[j + 1] + 1 if ai == mb[j] else max(below[j], row[j + 1])
    pairs: list[tuple[int, int]] = [(x, x) for x in range(pre)]
    i = j = 0
    while i < rows and j < cols:
        if ma[i] == mb[j]:
            pairs.append((pre + i, pre + j))
            i += 1
            j += 1
        elif lcs[i + 1][j] >= lcs[i][j + 1]:
            i += 1
        else:
            j += 1
    pairs.extend((n - suf + x, m - suf + x) for x in range(suf))

    ops: list[Opcode] = []
    pi = pj = 0
    for ai_, bj_ in [*pairs, (n, m)]:
        if ai_ > pi or bj_ > pj:
            tag: Tag = "replace" if ai_ > pi and bj_ > pj else ("delete" if ai_ > pi else "insert")
            ops.append(Opcode(tag, pi, ai_, pj, bj_))
        if ai_ < n or bj_ < m:
            if ops and ops[-1].tag == "equal" and ops[-1].i2 == ai_ and ops[-1].j2 == bj_:
                last = ops[-1]
                ops[-1] = Opcode("equal", last.i1, ai_ + 1, last.j1, bj_ + 1)
            else:
                ops.append(Opcode("equal", ai_, ai_ + 1, bj_, bj_ + 1))
        pi, pj = ai_ + 1, bj_ + 1
    return ops


def longest_change_run(ops: Sequence[Opcode]) -> int:
    """The most words changed in a row: ``max(removed, added)`` over non-equal runs."""
    return max((max(o.i2 - o.i1, o.j2 - o.j1) for o in ops if o.tag != "equal"), default=0)


def _weights(tokens: Sequence[str]) -> list[float]:
    return [float(max(1, len(t))) for t in tokens]


def _split_span(start: float, end: float, weights: Sequence[float]) -> list[tuple[float, float]]:
    total = sum(weights)
    out: list[tuple[float, float]] = []
    acc = 0.0
    for w in weights:
        s = start + (end - start) * acc / total
        acc += w
        e = start + (end - start) * acc / total
        out.append((s, e))
    # Exact end, whatever the float rounding.
    if out:
        out[-1] = (out[-1][0], end)
    return out


def _majority(values: Sequence[str | None]) -> str | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return Counter(present).most_common(1)[0][0]


def realign_words(
    words: Sequence[Word],
    new_text: str,
    *,
    speaker: str | None = None,
    bounds: tuple[float, float] | None = None,
) -> list[Word]:
    """New words for ``new_text``, with timings taken from ``words``.

    ``speaker`` is used for added words when no neighbour has one; ``bounds``
    (the segment's start and end) clamps every time.
    """
    tokens = tokenize(new_text)
    old = [w.word.strip() for w in words]
    if len(tokens) == len(words):
        out = [replace(w, word=t) for w, t in zip(words, tokens, strict=True)]
        return _sanitize(out, bounds)

    ops = diff_words(old, tokens, key=word_key)
    out = []
    deletions: list[tuple[int, float, float]] = []  # (position in out, start, end)
    insertions: list[tuple[int, int]] = []  # (position in out, count)
    for op in ops:
        olds = list(words[op.i1 : op.i2])
        news = tokens[op.j1 : op.j2]
        if op.tag == "equal" or (op.tag == "replace" and len(olds) == len(news)):
            out.extend(replace(w, word=t) for w, t in zip(olds, news, strict=True))
        elif op.tag == "replace":
            timed = [w for w in olds if w.timed]
            spk = _majority([w.speaker for w in olds]) or speaker
            if timed:
                start = min(w.start for w in timed if w.start is not None)
                end = max(w.end for w in timed if w.end is not None)
                for t, (s, e) in zip(news, _split_span(start, end, _weights(news)), strict=True):
                    out.append(Word(word=t, start=s, end=e, speaker=spk))
            else:
                out.extend(Word(word=t, speaker=spk) for t in news)
        elif op.tag == "delete":
            timed = [w for w in olds if w.timed]
            if timed:
                start = min(w.start for w in timed if w.start is not None)
                end = max(w.end for w in timed if w.end is not None)
                deletions.append((len(out), start, end))
        else:  # insert
            insertions.append((len(out), len(news)))
            out.extend(Word(word=t) for t in news)

    # ``out`` only grew by appending, so recorded positions are final.
    # Deletions first, so that an insertion splits the already widened span.
    for pos, start, end in deletions:
        prev = next((k for k in range(pos - 1, -1, -1) if out[k].timed), None)
        if prev is not None:
            w = out[prev]
            out[prev] = replace(w, end=max(end, w.end or end))
            continue
        nxt = next((k for k in range(pos, len(out)) if out[k].timed), None)
        if nxt is not None:
            w = out[nxt]
            out[nxt] = replace(w, start=min(start, w.start if w.start is not None else start))

    for pos, count in insertions:
        added = range(pos, pos + count)
        donor: int | None = None
        before = pos > 0
        if before and out[pos - 1].timed:
            donor = pos - 1
        elif pos + count < len(out) and out[pos + count].timed:
            donor = pos + count
            before = False
        elif before:
            donor = pos - 1
        elif pos + count < len(out):
            donor = pos + count
        spk = (out[donor].speaker if donor is not None else None) or speaker
        for k in added:
            out[k] = replace(out[k], speaker=spk)
        if donor is None or not out[donor].timed:
            continue
        d = out[donor]
        assert d.start is not None and d.end is not None
        idx = [donor, *added] if before else [*added, donor]
        spans = _split_span(d.start, d.end, _weights([out[k].word for k in idx]))
        for k, (s, e) in zip(idx, spans, strict=True):
            out[k] = replace(out[k], start=s, end=e)
    return _sanitize(out, bounds)


def _sanitize(words: list[Word], bounds: tuple[float, float] | None) -> list[Word]:
    """Clamp into ``bounds`` and keep starts non-decreasing with ``end >= start``."""
    lo, hi = bounds if bounds is not None else (float("-inf"), float("inf"))
    if hi < lo:
        hi = lo
    last_start = lo
    out: list[Word] = []
    for w in words:
        if not w.timed:
            out.append(w)
            continue
        assert w.start is not None and w.end is not None
        s = min(max(w.start, last_start), hi)
        e = min(max(w.end, s), hi)
        last_start = s
        out.append(w if (s, e) == (w.start, w.end) else replace(w, start=s, end=e))
    return out


def retext_segment(segment: Segment, new_text: str) -> Segment:
    """A copy of ``segment`` whose text is ``new_text`` and whose words follow it.

    The segment's start, end and speaker are kept.
    """
    tokens = tokenize(new_text)
    if not segment.words:
        words = [Word(word=t, speaker=segment.speaker) for t in tokens]
    else:
        words = realign_words(
            segment.words,
            new_text,
            speaker=segment.speaker,
            bounds=(segment.start, max(segment.start, segment.end)),
        )
    return Segment(
        start=segment.start,
        end=segment.end,
        text=" ".join(tokens),
        words=words,
        speaker=segment.speaker,
    )
