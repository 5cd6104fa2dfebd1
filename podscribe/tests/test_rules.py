"""Replacement rules and the text-to-timings alignment they rely on."""

from __future__ import annotations

import random

import pytest

from podscribe.config import RuleConfig
from podscribe.rules import CompiledRule, apply_rules, apply_rules_to_text, compile_rules
from podscribe.textalign import (
    diff_words,
    longest_change_run,
    realign_words,
    retext_segment,
    segment_text,
)
from podscribe.transcript import Segment, Transcript, Word


def seg(
    text: str, start: float = 0.0, step: float = 0.5, speaker: str | None = "SPEAKER_00"
) -> Segment:
    words = []
    t = start
    for tok in text.split():
        words.append(Word(tok, t, t + step * 0.8, score=0.9, speaker=speaker))
        t += step
    return Segment(start, t, text, words, speaker)


def times(words: list[Word]) -> list[tuple[str, float | None, float | None]]:
    return [(w.word, w.start, w.end) for w in words]


def assert_consistent(segment: Segment) -> None:
    timed = [w for w in segment.words if w.timed]
    prev_end = segment.start
    for w in timed:
        assert w.start is not None and w.end is not None
        assert segment.start - 1e-9 <= w.start <= w.end <= segment.end + 1e-9
        assert w.start >= prev_end - 1e-9, times(segment.words)
        prev_end = w.end
    assert segment.text == " ".join(w.word for w in segment.words)


# --- textalign -----------------------------------------------------------------


def test_same_word_count_replaces_in_place() -> None:
    s = seg("we love lamda functions")
    out = retext_segment(s, "we love Lambda functions")
    assert [w.word for w in out.words] == ["we", "love", "Lambda", "functions"]
    assert [(w.start, w.end, w.score, w.speaker) for w in out.words] == [
        (w.start, w.end, w.score, w.speaker) for w in s.words
    ]
    assert s.words[2].word == "lamda"  # input untouched


def test_merged_words_take_the_union_span() -> None:
    s = seg("we use sage maker today")
    out = retext_segment(s, "we use SageMaker today")
    assert [w.word for w in out.words] == ["we", "use", "SageMaker", "today"]
    sm = out.words[2]
    assert (sm.start, sm.end) == (s.words[2].start, s.words[3].end)
    assert sm.speaker == "SPEAKER_00"
    assert_consistent(out)


def test_split_word_shares_the_span() -> None:
    s = seg("hello kubernetes world")
    out = retext_segment(s, "hello cube er netes world")
    assert [w.word for w in out.words] == ["hello", "cube", "er", "netes", "world"]
    k = s.words[1]
    assert out.words[1].start == k.start and out.words[3].end == k.end
    assert_consistent(out)


def test_removed_word_merges_into_previous_then_next() -> None:
    s = seg("so so we start now")
    out = retext_segment(s, "so we start now")
    # equal count? no: 5 -> 4, LCS removes one "so"
    assert [w.word for w in out.words] == ["so", "we", "start", "now"]
    assert out.words[0].start == s.words[0].start
    assert_consistent(out)

    first_removed = retext_segment(seg("um we start now"), "we start now")
    assert first_removed.words[0].start == 0.0  # merged into the next word
    last_removed = retext_segment(seg("we start now um"), "we start now")
    assert last_removed.words[-1].end == pytest.approx(1.9)  # merged into the previous


def test_added_word_splits_previous_or_next() -> None:
    s = seg("we use lambda")
    out = retext_segment(s, "we use AWS lambda")
    # "use" (0.5-0.9) is split between "use" and "AWS"
    assert out.words[1].start == 0.5 and out.words[2].end == pytest.approx(0.9)
    assert out.words[1].end == out.words[2].start
    assert out.words[2].speaker == "SPEAKER_00"
    front = retext_segment(s, "so we use lambda")
    assert front.words[0].start == 0.0 and front.words[1].end == pytest.approx(0.4)
    assert_consistent(out)
    assert_consistent(front)


def test_untimed_words_stay_untimed() -> None:
    s = Segment(
        0.0,
        3.0,
        "in 2023 we",
        [Word("in", 0.0, 0.4), Word("2023"), Word("we", 1.5, 1.8)],
        "SPEAKER_01",
    )
    out = retext_segment(s, "in twenty twenty three we")
    assert [w.word for w in out.words] == ["in", "twenty", "twenty", "three", "we"]
    assert all(not w.timed for w in out.words[1:4])
    assert all(w.speaker == "SPEAKER_01" for w in out.words[1:4])
    same = retext_segment(s, "In 2023, we")
    assert not same.words[1].timed and same.words[1].word == "2023,"


def test_segment_without_words() -> None:
    s = Segment(1.0, 2.0, "hello there", [], "SPEAKER_00")
    out = retext_segment(s, "hello their")
    assert [w.word for w in out.words] == ["hello", "their"]
    assert not any(w.timed for w in out.words)
    assert segment_text(s) == "hello there"


def test_diff_words_opcodes() -> None:
    ops = diff_words(["a", "b", "c", "d"], ["a", "x", "y", "c", "d", "e"])
    assert [(o.tag, o.i1, o.i2, o.j1, o.j2) for o in ops] == [
        ("equal", 0, 1, 0, 1),
        ("replace", 1, 2, 1, 3),
        ("equal", 2, 4, 3, 5),
        ("insert", 4, 4, 5, 6),
    ]
    assert longest_change_run(ops) == 2
    assert diff_words([], []) == []
    assert [o.tag for o in diff_words(["a"], [])] == ["delete"]


VOCAB = ["the", "a", "cloud", "lambda", "sage", "maker", "AWS", "is", "fast", "2023", "um"]


@pytest.mark.parametrize("seed", range(200))
def test_property_times_monotonic_and_inside_segment(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(0, 12)
    t = rng.uniform(0, 100)
    seg_start = t
    words = []
    for _ in range(n):
        t += rng.uniform(0, 0.3)  # gap (maybe zero)
        if rng.random() < 0.2:
            words.append(Word(rng.choice(VOCAB), speaker=rng.choice(["S0", "S1", None])))
            continue
        d = rng.uniform(0, 0.8)
        words.append(Word(rng.choice(VOCAB), t, t + d, speaker=rng.choice(["S0", "S1"])))
        t += d
    s = Segment(seg_start, t + rng.uniform(0, 0.5), "", words, "S0")
    s.text = segment_text(s)
    new = [w.word for w in words]
    for _ in range(rng.randint(0, 5)):
        op = rng.random()
        if op < 0.33 and new:
            new.pop(rng.randrange(len(new)))
        elif op < 0.66:
            new.insert(rng.randint(0, len(new)), rng.choice(VOCAB))
        elif new:
            new[rng.randrange(len(new))] = rng.choice(VOCAB)
    out = retext_segment(s, " ".join(new))
    assert [w.word for w in out.words] == new
    assert_consistent(out)
    assert (out.start, out.end, out.speaker) == (s.start, s.end, s.speaker)
    speakers = {w.speaker for w in words} | {None, "S0"}
    assert {w.speaker for w in out.words} <= speakers
    # untimed stays untimed: no more timed words than timed inputs can explain
    if not any(w.timed for w in words):
        assert not any(w.timed for w in out.words)


def test_realign_clamps_to_bounds() -> None:
    words = [Word("a", -1.0, 0.5), Word("b", 0.5, 9.0)]
    out = realign_words(words, "a b", bounds=(0.0, 2.0))
    assert times(out) == [("a", 0.0, 0.5), ("b", 0.5, 2.0)]


# --- rules ---------------------------------------------------------------------


def transcript(*texts: str) -> Transcript:
    segs = []
    t = 0.0
    for i, text in enumerate(texts):
        s = seg(text, start=t, speaker=f"SPEAKER_0{i % 2}")
        segs.append(s)
        t = s.end + 0.5
    return Transcript(segs, speakers={"SPEAKER_00": "Eoin"}, duration=t)


def test_literal_rules_are_case_sensitive_and_ordered() -> None:
    rules = compile_rules(
        [
            RuleConfig(find="sage maker", replace="SageMaker"),
            RuleConfig(find="SageMaker", replace="Amazon SageMaker"),
            RuleConfig(find="Lamda", replace="Lambda"),
        ]
    )
    text, counts = apply_rules_to_text("sage maker and Sage maker use Lamda and lamda", rules)
    assert text == "Amazon SageMaker and Sage maker use Lambda and lamda"
    assert counts == [1, 1, 1]


def test_regex_rules_with_groups_and_flags() -> None:
    rules = compile_rules(
        [
            RuleConfig(find=r"(?i)\bcloud ?formation\b", replace="CloudFormation", regex=True),
            RuleConfig(find=r"\b(\d+) gig\b", replace=r"\1 GB", regex=True),
        ]
    )
    text, counts = apply_rules_to_text("Cloud formation needs 4 gig of cloudformation", rules)
    assert text == "CloudFormation needs 4 GB of CloudFormation"
    assert counts == [2, 1]


def test_apply_rules_reconciles_word_timings() -> None:
    t = transcript("we deploy with cloud formation today", "and sage maker too")
    result = apply_rules(
        t,
        [
            RuleConfig(find="cloud formation", replace="CloudFormation"),
            RuleConfig(find=r"\bsage maker\b", replace="SageMaker", regex=True),
        ],
    )
    out = result.transcript
    assert [s.text for s in out.segments] == [
        "we deploy with CloudFormation today",
        "and SageMaker too",
    ]
    cf = out.segments[0].words[3]
    assert (cf.word, cf.start) == ("CloudFormation", 1.5)
    assert cf.end == pytest.approx(2.4)
    for s in out.segments:
        assert_consistent(s)
    assert result.changed_segments == 2 and result.counts == [1, 1]
    assert out.speakers == {"SPEAKER_00": "Eoin"}
    assert t.segments[0].text == "we deploy with cloud formation today"  # input untouched


def test_rules_dropping_a_whole_segment_and_no_rules() -> None:
    t = transcript("um", "so um we go")
    result = apply_rules(t, [RuleConfig(find=r"\bum\b", replace="", regex=True)])
    assert [s.text for s in result.transcript.segments] == ["so we go"]
    assert result.dropped_segments == 1
    assert result.summary()["replacements"] == 2
    unchanged = apply_rules(t, [])
    assert unchanged.transcript.to_dict() == t.to_dict()
    assert unchanged.transcript.segments[0] is not t.segments[0]


def test_compile_rules_reports_bad_rule() -> None:
    class R:
        def __init__(self, find: str, regex: bool) -> None:
            self.find, self.replace, self.regex = find, "", regex

    with pytest.raises(ValueError, match=r"rules\[1\]\.find: invalid regular expression"):
        compile_rules([R("ok", False), R("(", True)])
    with pytest.raises(ValueError, match=r"rules\[1\]"):
        apply_rules(transcript("x"), [CompiledRule("a", "b"), R("(", True)])
