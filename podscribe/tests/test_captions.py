"""Captions, parsed back with webvtt-py and srt."""

from __future__ import annotations

import html
import json
import random
import re
from datetime import timedelta

import pytest
import srt
import webvtt

from podscribe.captions import (
    FILE_SUFFIXES,
    Cue,
    build_cues,
    caption_json,
    format_timestamp,
    interpolate_word_times,
    render_captions,
    to_srt,
    to_transcript_json,
    to_vtt,
)
from podscribe.config import CaptionsConfig
from podscribe.transcript import Segment, Transcript, Word


def seg(text: str, start: float, speaker: str | None, step: float = 0.5) -> Segment:
    words = []
    t = start
    for tok in text.split():
        words.append(Word(tok, t, t + step * 0.8, speaker=speaker))
        t += step
    return Segment(start, t, text, words, speaker)


def episode() -> Transcript:
    return Transcript(
        [
            seg("Welcome to the show.", 0.0, "SPEAKER_00"),
            seg("Today: <script> & AT&T.", 2.5, "SPEAKER_00"),
            seg("Thanks for having me!", 5.0, "SPEAKER_01"),
            seg("No speaker here.", 8.0, None),
            seg("Back to me.", 3661.5, "SPEAKER_00"),
        ],
        speakers={"SPEAKER_00": "Eoin", "SPEAKER_01": "Luciano"},
        duration=3700.0,
    )


def secs(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def vtt_cues(text: str) -> list[tuple[float, float, str]]:
    return [(secs(c.start), secs(c.end), c.raw_text) for c in webvtt.from_string(text).captions]


def srt_cues(text: str) -> list[srt.Subtitle]:
    return list(srt.parse(text))


def test_timestamps() -> None:
    assert format_timestamp(0) == "00:00:00.000"
    assert format_timestamp(3661.5) == "01:01:01.500"
    assert format_timestamp(59.9996) == "00:01:00.000"
    assert format_timestamp(-1) == "00:00:00.000"
    assert format_timestamp(12.345, ",") == "00:00:12,345"


def test_vtt_round_trip_with_speaker_names_when_changes() -> None:
    text = to_vtt(episode())
    assert text.startswith("WEBVTT\n\n")
    assert "01:01:01.500 --> 01:01:03.000" in text
    cues = vtt_cues(text)
    assert [c[2] for c in cues] == [
        "Eoin: Welcome to the show.",
        "Today: &lt;script&gt; &amp; AT&amp;T.",
        "Luciano: Thanks for having me!",
        "No speaker here.",
        "Eoin: Back to me.",
    ]
    assert [(c[0], c[1]) for c in cues] == [
        (0.0, 2.0),
        (2.5, 4.5),
        (5.0, 7.0),
        (8.0, 9.5),
        (3661.5, 3663.0),
    ]
    assert html.unescape(cues[1][2]) == "Today: <script> & AT&T."


def test_srt_round_trip_numbered_and_escaped() -> None:
    text = to_srt(episode(), CaptionsConfig(speaker_names="always"))
    assert text.startswith("1\n00:00:00,000 --> 00:00:02,000\nEoin: Welcome to the show.\n\n2\n")
    subs = srt_cues(text)
    assert [s.index for s in subs] == [1, 2, 3, 4, 5]
    assert subs[1].content == "Eoin: Today: &lt;script&gt; &amp; AT&amp;T."
    assert subs[3].content == "No speaker here."  # no label, no prefix
    assert subs[4].start == timedelta(seconds=3661.5)
    never = srt_cues(to_srt(episode(), CaptionsConfig(speaker_names="never")))
    assert not any(s.content.startswith(("Eoin:", "Luciano:")) for s in never)
    assert never[0].content == "Welcome to the show."


def test_unnamed_labels_are_used_as_names() -> None:
    t = episode()
    t.speakers = {}
    cues = build_cues(t)
    assert cues[0].text == "SPEAKER_00: Welcome to the show."


def test_highlight_words_cues() -> None:
    t = Transcript([seg("A <b> c", 1.0, "S0", step=1.0)], speakers={"S0": "Ann"})
    cfg = CaptionsConfig(highlight_words=True, highlight_style="b", speaker_names="always")
    cues = vtt_cues(to_vtt(t, cfg))
    # words at 1.0-1.8, 2.0-2.8, 3.0-3.8; segment ends at 4.0
    assert cues == [
        (1.0, 1.8, "Ann: <b>A</b> &lt;b&gt; c"),
        (1.8, 2.0, "Ann: A &lt;b&gt; c"),
        (2.0, 2.8, "Ann: A <b>&lt;b&gt;</b> c"),
        (2.8, 3.0, "Ann: A &lt;b&gt; c"),
        (3.0, 3.8, "Ann: A &lt;b&gt; <b>c</b>"),
        (3.8, 4.0, "Ann: A &lt;b&gt; c"),
    ]
    subs = srt_cues(to_srt(t, CaptionsConfig(highlight_words=True)))
    assert subs[0].content == "Ann: <u>A</u> &lt;b&gt; c"
    assert len(subs) == 6


def test_untimed_words_are_interpolated_inside_their_segment() -> None:
    s = Segment(
        10.0,
        14.0,
        "in 2023 and 2024 we",
        [Word("in", 10.0, 10.5), Word("2023"), Word("and"), Word("2024"), Word("we", 13.0, 14.0)],
        "S0",
    )
    spans = interpolate_word_times(s)
    assert spans[0] == (10.0, 10.5) and spans[4] == (13.0, 14.0)
    assert spans[1:4] == [
        pytest.approx((10.5, 11.3333333)),
        pytest.approx((11.3333333, 12.1666667)),
        pytest.approx((12.1666667, 13.0)),
    ]
    untimed = Segment(0.0, 3.0, "a b c", [Word("a"), Word("b"), Word("c")], None)
    assert interpolate_word_times(untimed) == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    # no room between timed neighbours: the neighbours share their span
    tight = Segment(0.0, 2.0, "x 5 y", [Word("x", 0.0, 1.0), Word("5"), Word("y", 1.0, 2.0)], None)
    assert interpolate_word_times(tight) == [
        (0.0, pytest.approx(2 / 3)),
        (pytest.approx(2 / 3), pytest.approx(4 / 3)),
        (pytest.approx(4 / 3), 2.0),
    ]
    assert interpolate_word_times(tight, min_word_seconds=0) == [(0.0, 1.0), (1.0, 1.0), (1.0, 2.0)]
    t = Transcript([s], speakers={})
    cues = build_cues(t, highlight_words=True, speaker_names="never")
    assert [c.text for c in cues if "<u>2024</u>" in c.text] == ["in 2023 and <u>2024</u> we"]


@pytest.mark.parametrize("seed", range(40))
def test_property_cues_ordered_non_negative_within_segments(seed: int) -> None:
    rng = random.Random(seed)
    segments = []
    t = rng.uniform(0, 5)
    for _ in range(rng.randint(1, 6)):
        start = t
        words = []
        for _ in range(rng.randint(1, 8)):
            if rng.random() < 0.3:
                words.append(Word(rng.choice(["1", "&", "<x>", "%"])))
                continue
            t += rng.uniform(0, 0.2)
            d = rng.uniform(0, 0.5)
            words.append(Word(rng.choice(["hi", "you", "there."]), t, t + d))
            t += d
        t += rng.uniform(0, 0.5)
        segments.append(
            Segment(start, t, " ".join(w.word for w in words), words, rng.choice(["A", "B"]))
        )
        t += rng.uniform(0, 2)
    tr = Transcript(segments, speakers={"A": "Ann"})
    for hl in (False, True):
        cfg = CaptionsConfig(highlight_words=hl)
        vtt = vtt_cues(to_vtt(tr, cfg))
        subs = srt_cues(to_srt(tr, cfg))
        assert len(vtt) == len(subs) > 0
        starts = [c[0] for c in vtt]
        assert starts == sorted(starts)
        for (s, e, text), sub in zip(vtt, subs, strict=True):
            assert e >= s
            assert sub.start.total_seconds() == pytest.approx(s)
            assert sub.end.total_seconds() == pytest.approx(e)
            assert sub.content == text
            assert any(seg.start - 1e-3 <= s <= e <= seg.end + 1e-3 for seg in segments)
            assert "<x>" not in text and re.sub(r"</?u>", "", text).count("<") == 0


def test_caption_json_shape() -> None:
    data = caption_json(episode())
    assert data["speakers"] == {"SPEAKER_00": "Eoin", "SPEAKER_01": "Luciano"}
    assert data["segments"][1] == {
        "speakerLabel": "SPEAKER_00",
        "start": 2.5,
        "end": 4.5,
        "text": "Today: <script> & AT&T.",
    }
    assert data["segments"][3]["speakerLabel"] is None


def test_render_captions_formats() -> None:
    t = episode()
    out = render_captions(t, CaptionsConfig(formats=["vtt", "srt", "json", "transcript"]))
    assert list(out) == ["vtt", "srt", "json", "transcript"]
    assert json.loads(out["json"]) == caption_json(t)
    assert Transcript.from_dict(json.loads(out["transcript"])).to_dict() == t.to_dict()
    assert out["transcript"] == to_transcript_json(t)
    assert render_captions(t).keys() == {"vtt", "srt", "json"}
    assert set(FILE_SUFFIXES) == {"vtt", "srt", "json", "transcript"}
    with pytest.raises(ValueError, match="unknown caption format"):
        render_captions(t, formats=["ass"])


def test_empty_and_degenerate_segments() -> None:
    t = Transcript(
        [
            Segment(5.0, 4.0, "backwards", [], "S0"),
            Segment(6.0, 7.0, "", [], "S0"),
            Segment(-1.0, 0.5, "negative start", [], "S0"),
        ]
    )
    cues = build_cues(t, speaker_names="never")
    assert cues == [Cue(0.0, 0.5, "negative start"), Cue(5.0, 5.0, "backwards")]
    assert vtt_cues(to_vtt(Transcript())) == []
    assert to_srt(Transcript()) == ""


@pytest.mark.parametrize(("style", "tag"), [("underline", "u"), ("bold", "b"), ("italic", "i")])
def test_highlight_words_by_name_with_untimed_words(style: str, tag: str) -> None:
    words = [Word("We", 1.0, 1.4, speaker="S0"), Word("have", None, None, speaker="S0"), Word("42", None, None, speaker="S0"), Word("cats", 2.6, 3.0, speaker="S0")]
    t = Transcript([Segment(1.0, 3.0, "We have 42 cats", words, "S0")], speakers={"S0": "Ann"})
    cfg = CaptionsConfig(highlight_words=style, speaker_names="on-change")  # type: ignore[arg-type]
    cues = vtt_cues(to_vtt(t, cfg))
    marked = [c for c in cues if f"<{tag}>" in c[2]]
    assert [re.search(rf"<{tag}>(.*?)</{tag}>", c[2]).group(1) for c in marked] == ["We", "have", "42", "cats"]  # type: ignore[union-attr]
    # the untimed words share the gap between their timed neighbours (1.4 to 2.6)
    assert [(c[0], c[1]) for c in marked[1:3]] == [(1.4, 2.0), (2.0, 2.6)]
    assert all(c[2].startswith("Ann: ") for c in cues)  # first cue of a speaker, every piece of it
    assert vtt_cues(to_vtt(t, CaptionsConfig(highlight_words="none"))) == [(1.0, 3.0, "Ann: We have 42 cats")]


def test_speaker_prefix_modes() -> None:
    t = episode()
    names = {
        mode: [
            next((n for n in ("Eoin", "Luciano") if c[2].startswith(f"{n}: ")), None)
            for c in vtt_cues(to_vtt(t, CaptionsConfig(speaker_names=mode)))
        ]
        for mode in ("never", "always", "on-change")
    }
    assert names["never"] == [None, None, None, None, None]
    assert names["always"] == ["Eoin", "Eoin", "Luciano", None, "Eoin"]
    assert names["on-change"] == ["Eoin", None, "Luciano", None, "Eoin"]
    with pytest.raises(ValueError):
        CaptionsConfig(highlight_words="blink")  # type: ignore[arg-type]
