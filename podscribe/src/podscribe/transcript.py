"""The transcript: the one data shape every pipeline stage reads and writes.

Words are the source of truth; a segment's text is derived from its words when
they change. The JSON form is WhisperX's (``{segments: [{start, end, text,
speaker, words: [{word, start, end, score, speaker}]}]}``) plus a top-level
``speakers`` map from labels (``SPEAKER_00``) to display names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Word:
    word: str
    start: float | None = None
    end: float | None = None
    score: float | None = None
    speaker: str | None = None

    @property
    def timed(self) -> bool:
        return self.start is not None and self.end is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"word": self.word}
        for key in ("start", "end", "score", "speaker"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 3) if isinstance(value, float) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Word:
        return cls(
            word=str(data["word"]),
            start=_opt_float(data.get("start")),
            end=_opt_float(data.get("end")),
            score=_opt_float(data.get("score")),
            speaker=data.get("speaker"),
        )


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
        }
        if self.speaker is not None:
            out["speaker"] = self.speaker
        out["words"] = [w.to_dict() for w in self.words]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            text=str(data.get("text", "")),
            words=[Word.from_dict(w) for w in data.get("words", [])],
            speaker=data.get("speaker"),
        )


@dataclass
class Transcript:
    segments: list[Segment] = field(default_factory=list)
    speakers: dict[str, str] = field(default_factory=dict)
    language: str = "en"
    duration: float = 0.0

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    def speaker_name(self, label: str | None) -> str | None:
        if label is None:
            return None
        return self.speakers.get(label, label)

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "duration": round(self.duration, 3),
            "speakers": dict(self.speakers),
            "segments": [s.to_dict() for s in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            segments=[Segment.from_dict(s) for s in data.get("segments", [])],
            speakers=dict(data.get("speakers", {})),
            language=str(data.get("language", "en")),
            duration=float(data.get("duration", 0.0)),
        )


def join_words(tokens: Iterable[str]) -> str:
    """Display text of a run of words. Whisper splits "co-host" into "co" + "-host" and
    "it's" into "it" + "'s"; those continuations attach to the word before them."""
    out = ""
    for raw in tokens:
        token = raw.strip()
        if not token:
            continue
        attach = out and len(token) > 1 and token[0] in "-'\u2019" and token[1].isalnum()
        out += token if attach or not out else f" {token}"
    return out


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
