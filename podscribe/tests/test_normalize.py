from __future__ import annotations

import itertools
import random

import pytest

from podscribe.config import NormalizeConfig
from podscribe.normalize import normalize_transcript, split_segment
from podscribe.transcript import Segment, Transcript, Word


def seg(text: str, start: float = 0.0, speaker: str | None = "S0", step: float = 0.4) -> Segment:
    words = []
    t = start
    for tok in text.split():
        words.append(Word(tok, t, t + step * 0.75, speaker=speaker))
        t += step
    return Segment(start, t, text, words, speaker)


def check(pieces: list[Segment], cfg: NormalizeConfig) -> None:
    for p in pieces:
        assert len(p.words) <= cfg.max_words
        assert len(p.text) <= cfg.max_chars or len(p.words) == 1
        assert p.text == " ".join(w.word for w in p.words)
        assert p.start <= p.end
        timed = [w for w in p.words if w.timed]
        if timed:
            assert p.start <= min(w.start for w in timed if w.start is not None)
            assert p.end >= max(w.end for w in timed if w.end is not None)
        first, last = p.words[0], p.words[-1]
        if first.timed:
            assert p.start == first.start
        if last.timed:
            assert p.end == last.end
        assert len({w.speaker for w in p.words if w.speaker}) <= 1


def test_hard_limits_on_chars_and_words() -> None:
    cfg = NormalizeConfig()
    s = seg(" ".join(f"w{i}" for i in range(25)))  # short words: the word limit binds
    pieces = split_segment(s, cfg)
    assert [len(p.words) for p in pieces] == [10, 10, 5]
    long = seg("internationalization considerations overwhelm documentation maintainers quickly")
    pieces = split_segment(long, cfg)
    assert [p.text for p in pieces] == [
        "internationalization considerations overwhelm",  # 45 chars
        "documentation maintainers quickly",
    ]
    check(pieces, cfg)


def test_soft_split_after_punctuation_once_past_the_ratio() -> None:
    cfg = NormalizeConfig()
    text = "So that is basically the whole story, and then we moved on to other things."
    pieces = split_segment(seg(text), cfg)
    # "So that is basically the whole story," is 37 chars >= 0.7 * 48
    assert [p.text for p in pieces] == [
        "So that is basically the whole story,",
        "and then we moved on to other things.",
    ]
    early = split_segment(seg("Yes, I agree with that completely right now"), cfg)
    assert [p.text for p in early] == [
        "Yes, I agree with that completely right now"
    ]  # "Yes," too early
    by_words = split_segment(seg("a b c d e f g, h i j k l"), cfg)  # 7 words = 0.7 * 10
    assert [p.text for p in by_words] == ["a b c d e f g,", "h i j k l"]


def test_always_splits_on_speaker_change() -> None:
    words = [
        Word("Hi", 0.0, 0.2, speaker="S0"),
        Word("there.", 0.3, 0.5, speaker="S0"),
        Word("Hello!", 0.6, 0.9, speaker="S1"),
        Word("yes", 1.0, 1.1),  # no speaker: stays with the current piece
    ]
    pieces = split_segment(
        Segment(0.0, 1.1, "Hi there. Hello! yes", words, "S0"), NormalizeConfig()
    )
    assert [(p.text, p.speaker) for p in pieces] == [("Hi there.", "S0"), ("Hello! yes", "S1")]
    assert (pieces[1].start, pieces[1].end) == (0.6, 1.1)


def test_untimed_words_get_interpolated_segment_times() -> None:
    cfg = NormalizeConfig(max_words=2)
    words = [Word("in", 0.0, 0.5), Word("2023"), Word("we"), Word("won", 2.0, 2.5)]
    pieces = split_segment(Segment(0.0, 2.5, "in 2023 we won", words, "S0"), cfg)
    assert [p.text for p in pieces] == ["in 2023", "we won"]
    assert pieces[0].start == 0.0 and pieces[0].end == pytest.approx(1.25)
    assert pieces[1].start == pytest.approx(1.25) and pieces[1].end == 2.5
    assert not pieces[0].words[1].timed  # words stay untimed


def test_segment_without_words_is_split_by_text() -> None:
    pieces = split_segment(Segment(0.0, 10.0, " ".join(["word"] * 15), [], "S0"), NormalizeConfig())
    assert [len(p.words) for p in pieces] == [9, 6]  # 9 * 5 - 1 = 44 chars; the 10th would make 49
    assert pieces[0].start == 0.0 and pieces[-1].end == 10.0
    assert split_segment(Segment(0.0, 1.0, "  ", [], None)) == []


def test_normalize_transcript_keeps_everything_else() -> None:
    t = Transcript(
        [
            seg("one two three four five six seven eight nine ten eleven", 0.0),
            seg("short", 10.0, "S1"),
        ],
        speakers={"S0": "Ann"},
        language="en",
        duration=12.0,
    )
    out = normalize_transcript(t)
    assert [p.text for p in out.segments] == [
        "one two three four five six seven eight nine ten",
        "eleven",
        "short",
    ]
    assert out.speakers == {"S0": "Ann"} and out.duration == 12.0
    assert len(t.segments) == 2  # input untouched
    assert [w.word for w in out.words] == [w.word for w in t.words]


@pytest.mark.parametrize("seed", range(50))
def test_property_limits_and_order(seed: int) -> None:
    rng = random.Random(seed)
    cfg = NormalizeConfig(
        max_chars=rng.randint(10, 60),
        max_words=rng.randint(2, 12),
        soft_split_ratio=rng.uniform(0.3, 1),
    )
    vocab = ["a", "the", "cloud,", "serverless.", "why?", "Lambda", "x" * 15, "ok;", "so:", "hm!"]
    t = 0.0
    words = []
    for _ in range(rng.randint(1, 60)):
        if rng.random() < 0.15:
            words.append(Word(rng.choice(vocab), speaker=rng.choice(["A", "B"])))
            continue
        d = rng.uniform(0.05, 0.6)
        words.append(Word(rng.choice(vocab), t, t + d, speaker=rng.choice(["A", "A", "B"])))
        t += d + rng.uniform(0, 0.3)
    s = Segment(0.0, t + 0.5, " ".join(w.word for w in words), words, "A")
    pieces = split_segment(s, cfg)
    check(pieces, cfg)
    assert [w.word for p in pieces for w in p.words] == [w.word for w in words]
    for a, b in itertools.pairwise(pieces):
        assert a.end <= b.start + 1e-9
    assert all(s.start <= p.start <= p.end <= s.end for p in pieces)
