"""Episode notes and publishing files, checked against the formats' rules: Podcasting 2.0
JSON chapters and JSON transcript, YouTube chapter lines, the podcast namespace RSS tags."""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from podscribe.notes import (
    Notes,
    lexical_chapters,
    lexical_notes,
    validate_chapters,
    window_messages,
    windows,
)
from podscribe.publishing import (
    PODCAST_NS,
    chapters_json,
    chapters_problems,
    p20_transcript,
    p20_transcript_problems,
    rss_snippet,
    show_notes,
    youtube_lines,
    youtube_problems,
)
from podscribe.transcript import Segment, Transcript, Word

TOPICS = [
    "The garden needs compost. Tomato plants want compost and water. We water the tomato beds and the compost heap every morning in the garden.",
    "Our bicycle lost a chain. The bicycle chain and the brakes need oil. A bicycle mechanic fixed the brakes and the chain on the bicycle.",
    "The recipe uses flour and butter. Bake the bread with flour, butter and yeast. The oven bakes the bread while the butter melts.",
]


def _transcript(topics: list[str] = TOPICS, seg_s: float = 6.0) -> Transcript:
    """Sentences as segments, ``seg_s`` seconds each, timed words, two speakers."""
    segments: list[Segment] = []
    t = 0.0
    for k, topic in enumerate(topics):
        for sentence in [s.strip() + "." for s in topic.split(".") if s.strip()] * 2:
            tokens = sentence.split()
            step = (seg_s - 0.5) / len(tokens)
            words = [Word(w, t + i * step, t + (i + 1) * step, speaker=f"SPEAKER_0{k % 2}") for i, w in enumerate(tokens)]
            segments.append(Segment(t, t + seg_s - 0.5, sentence, words, f"SPEAKER_0{k % 2}"))
            t += seg_s
    return Transcript(segments, speakers={"SPEAKER_00": "Eoin", "SPEAKER_01": "Luciano"}, duration=t)


def test_lexical_chapters_find_the_topic_changes() -> None:
    t = _transcript()
    proposed = lexical_chapters(t)
    chapters, problems = validate_chapters(proposed, t)
    assert problems == []
    # each topic is 6 segments of 6 s: the changes are at segments 6 and 12
    assert [c.segment for c in chapters] == [0, 6, 12]
    assert [c.start for c in chapters] == [0.0, 36.0, 72.0]
    assert "compost" in chapters[0].title.lower() and "bicycle" in chapters[1].title.lower()
    assert "bread" in chapters[2].title.lower() or "butter" in chapters[2].title.lower()
    notes = lexical_notes(t)
    assert notes.method == "lexical" and notes.keywords and notes.summary
    assert all(s.strip() in " ".join(seg.text for seg in t.segments) for s in notes.summary.split(". ") if s)


def test_validation_repairs_and_reports() -> None:
    t = _transcript()
    starts = [s.start for s in t.segments]
    chapters, problems = validate_chapters(
        [
            {"segment": 1, "title": "Garden"},  # first chapter, 6 s in: moved to 0
            {"start": 37.2, "title": "Bikes"},  # not a segment start: snapped to 36.0
            {"segment": 5, "title": "Backwards"},  # not after the previous one
            {"segment": 7, "title": "Too close"},  # 6 s after 36.0
            {"segment": 99, "title": "Nowhere"},
            {"segment": 12, "title": ""},
            {"segment": 13, "title": "Baking"},
        ],
        t,
    )
    assert [(c.start, c.title) for c in chapters] == [(0.0, "Garden"), (36.0, "Bikes"), (78.0, "Baking")]
    assert all(c.start in ([0.0, *starts]) for c in chapters)
    assert [c.end for c in chapters] == [36.0, 78.0, t.duration]  # they cover the episode
    text = "\n".join(problems)
    for fragment in ("snapped", "does not start after", "less than 10s", "segment 99 does not exist", "no title"):
        assert fragment in text, fragment
    # a first chapter well into the episode gets an introduction before it
    late, problems = validate_chapters([{"segment": 6, "title": "Bikes"}], t)
    assert [(c.start, c.title) for c in late] == [(0.0, "Introduction"), (36.0, "Bikes")]
    assert "no chapter at 00:00" in problems[0]
    # nothing usable: one chapter for the whole episode
    only, problems = validate_chapters([{"segment": "x", "title": "?"}], t)
    assert [(c.start, c.end) for c in only] == [(0.0, t.duration)] and problems


def test_windows_and_prompt_cite_segments() -> None:
    t = _transcript()
    w = windows(t, 0.5)  # 30 s windows
    assert w[0] == (0, 5) and w[-1][1] == len(t.segments)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(w))
    user = window_messages(t, 6, 9)[1]["content"]
    assert user.splitlines()[1].startswith("[6] (00:36) Luciano: ")


def test_publishing_files_follow_their_formats() -> None:
    t = _transcript()
    notes = lexical_notes(t)
    doc = chapters_json(notes.chapters, title="ep")
    assert chapters_problems(doc) == []
    assert doc["version"] == "1.2.0" and doc["chapters"][0]["startTime"] == 0
    assert chapters_problems({"version": "1.2.0", "chapters": [{"startTime": 5}, {"startTime": 3}]}) == [
        "chapters[1].startTime: not in ascending order"
    ]
    assert chapters_problems({"chapters": [{"title": "x"}]})

    p20 = p20_transcript(t)
    assert p20_transcript_problems(p20) == []
    assert p20["version"] == "1.0.0"
    first = p20["segments"][0]
    assert set(first) == {"speaker", "startTime", "endTime", "body"} and first["speaker"] == "Eoin"
    assert p20_transcript_problems({"version": "1.0.0", "segments": [{"startTime": 2, "endTime": 1, "body": 3}]})

    lines = youtube_lines(notes.chapters, t.duration)
    assert youtube_problems(lines) == []
    assert lines[0].startswith("00:00 ")
    assert youtube_problems(["00:05 a", "00:20 b", "00:40 c"]) == ["the first chapter must start at 00:00"]
    assert "at least 3" in youtube_problems(["00:00 a", "00:20 b"])[0]
    assert youtube_problems(["00:00 a", "00:05 b", "00:40 c"]) == ["chapter at 00:00 is shorter than 10 seconds"]

    md = show_notes(notes, t.duration, title="ep")
    chapter_lines = [ln for ln in md.splitlines() if ln[:2].isdigit()]
    assert chapter_lines == lines and "without an LLM" in md and "## Summary" in md

    xml = rss_snippet({"p20": "ep.p20.json", "vtt": "ep.vtt", "srt": "ep.srt", "chapters": "ep.chapters.json"}, base_url="https://cdn.example/ep/")
    item = ET.fromstring(f'<item xmlns:podcast="{PODCAST_NS}">{xml}</item>')
    tags = [(e.tag, e.get("type"), e.get("url")) for e in item]
    assert (f"{{{PODCAST_NS}}}transcript", "application/json", "https://cdn.example/ep/ep.p20.json") in tags
    assert (f"{{{PODCAST_NS}}}transcript", "text/vtt", "https://cdn.example/ep/ep.vtt") in tags
    assert (f"{{{PODCAST_NS}}}chapters", "application/json+chapters", "https://cdn.example/ep/ep.chapters.json") in tags


def test_short_episode_gets_no_invalid_youtube_lines() -> None:
    t = _transcript([TOPICS[0][:60]], seg_s=4.0)
    notes = lexical_notes(t)
    md = show_notes(notes, t.duration, title="short")
    assert "Too short for YouTube chapters" in md
    assert len(notes.chapters) == 1 and notes.chapters[0].start == 0.0


def test_notes_round_trip() -> None:
    notes = lexical_notes(_transcript())
    data: dict[str, Any] = json.loads(json.dumps(notes.to_dict()))
    assert Notes.from_dict(data) == notes


@pytest.mark.parametrize("hours", [False, True])
def test_youtube_lines_past_an_hour(hours: bool) -> None:
    from podscribe.notes import Chapter

    chapters = [Chapter(0, 600, "a", 0), Chapter(600, 4000, "b", 5), Chapter(4000, 4100, "c", 9)]
    lines = youtube_lines(chapters, 4100 if hours else 3000)
    assert youtube_problems(lines) == []
    assert lines[2] == "1:06:40 c"
    assert lines[0] == ("0:00:00 a" if hours else "00:00 a")
