"""Segment normalisation: re-split segments into caption-sized pieces.

Within each segment, words are packed greedily into pieces of at most
``max_chars`` characters (words joined by single spaces) and ``max_words``
words; a piece always ends where the speaker changes, and ends early after a
word ending in ``. , ? ! ; :`` once it has reached ``soft_split_ratio`` of
either limit. A single word longer than ``max_chars`` becomes a piece of its
own. A word without a speaker never causes a split. Piece times come from
their words; untimed words get times by
:func:`podscribe.captions.interpolate_word_times` (the gap between their timed
neighbours, shared evenly), but stay untimed.
"""

from __future__ import annotations

from dataclasses import replace

from podscribe.captions import interpolate_word_times
from podscribe.config import NormalizeConfig
from podscribe.transcript import Segment, Transcript, Word, join_words

__all__ = ["SOFT_BREAKS", "normalize_transcript", "split_segment"]

SOFT_BREAKS = (".", ",", "?", "!", ";", ":")
#: closing quotes and brackets that may follow the punctuation
CLOSERS = "\"')]}\u00bb\u201d\u2019"


def _soft_break(word: str) -> bool:
    return word.rstrip(CLOSERS).endswith(SOFT_BREAKS)


def split_segment(segment: Segment, cfg: NormalizeConfig | None = None) -> list[Segment]:
    """``segment`` cut into pieces within the limits (copies; the input is unchanged)."""
    c = cfg or NormalizeConfig()
    words = [replace(w, word=w.word.strip()) for w in segment.words if w.word.strip()]
    if not words:
        words = [Word(t, speaker=segment.speaker) for t in segment.text.split()]
    if not words:
        return []
    spans = interpolate_word_times(replace(segment, words=words), min_word_seconds=0.0)
    soft_chars = c.soft_split_ratio * c.max_chars
    soft_words = c.soft_split_ratio * c.max_words

    pieces: list[list[int]] = []
    cur: list[int] = []
    cur_chars = 0
    cur_speaker: str | None = None
    for i, w in enumerate(words):
        speaker = w.speaker  # a word without a speaker continues the current piece
        if cur:
            too_long = cur_chars + 1 + len(w.word) > c.max_chars
            too_many = len(cur) + 1 > c.max_words
            changed = speaker is not None and cur_speaker is not None and speaker != cur_speaker
            if too_long or too_many or changed:
                pieces.append(cur)
                cur, cur_chars, cur_speaker = [], 0, None
        cur_chars = cur_chars + 1 + len(w.word) if cur else len(w.word)
        cur.append(i)
        cur_speaker = cur_speaker or speaker
        if _soft_break(w.word) and (cur_chars >= soft_chars or len(cur) >= soft_words):
            pieces.append(cur)
            cur, cur_chars, cur_speaker = [], 0, None
    if cur:
        pieces.append(cur)

    out: list[Segment] = []
    for piece in pieces:
        pw = [words[i] for i in piece]
        speaker = next((w.speaker for w in pw if w.speaker), None) or segment.speaker
        out.append(
            Segment(
                start=spans[piece[0]][0],
                end=spans[piece[-1]][1],
                text=join_words(w.word for w in pw),
                words=pw,
                speaker=speaker,
            )
        )
    return out


def normalize_transcript(transcript: Transcript, cfg: NormalizeConfig | None = None) -> Transcript:
    """A new transcript whose segments all fit ``cfg`` (default limits: 48 chars, 10 words)."""
    segments = [p for seg in transcript.segments for p in split_segment(seg, cfg)]
    return Transcript(
        segments=segments,
        speakers=dict(transcript.speakers),
        language=transcript.language,
        duration=transcript.duration,
    )
