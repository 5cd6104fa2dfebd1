"""Speaker names from self-introductions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import speech

from podscribe.diarize import Diarization
from podscribe.naming import (
    correct_misheard_names,
    find_intros,
    match_host,
    name_similarity,
    names_from_intros,
    phonetic_key,
)
from podscribe.transcript import Segment, Transcript, Word

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _t(*turns: tuple[str, str]) -> Transcript:
    segments, t = [], 0.0
    for label, text in turns:
        words = [
            Word(w, t + i * 0.3, t + i * 0.3 + 0.2, speaker=label)
            for i, w in enumerate(text.split())
        ]
        segments.append(Segment(words[0].start or 0.0, words[-1].end or 0.0, text, words, label))
        t = (words[-1].end or 0.0) + 1.0
    return Transcript(segments)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi, I'm Thomas and I host the show.", "Thomas"),
        ("Hello, I am Maria Garcia, welcome.", "Maria Garcia"),
        ("My name is Siobhan.", "Siobhan"),
        ("my name's Dave, hi.", "Dave"),
        ("Hi everyone, this is Priya.", "Priya"),
        ("Hi, Eoin here. Welcome back.", "Eoin"),
        ("Luciano here, and today we talk about AWS.", "Luciano"),
        ("Hey, it's Anna again.", "Anna"),
        ("I'm Dr. Smith.", "Smith"),
    ],
)
def test_patterns(text: str, name: str) -> None:
    assert names_from_intros(_t(("S0", text))) == {"S0": name}


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, I'm going to be late.",
        "I'm Irish, actually.",
        "This is Software Engineering Daily.",
        "this is the second episode.",
        "I'm Really happy to be here.",
        "So nothing here, and we move on.",
        "I am not sure. Today we talk.",
        "Thanks Maria, great to be here.",
    ],
)
def test_not_names(text: str) -> None:
    assert names_from_intros(_t(("S0", text))) == {}


def test_one_name_per_speaker_and_per_name() -> None:
    t = _t(
        ("S0", "Hi, I'm Eoin. I'm Eoin, yes."),
        ("S1", "And I'm Eoin too, just kidding. My name is Luciano."),
        ("S2", "Thanks both."),
    )
    assert names_from_intros(t) == {"S0": "Eoin", "S1": "Luciano"}


def test_hosts_fix_misheard_names() -> None:
    t = _t(
        ("S0", "Hi, I'm Ian and welcome."),
        ("S1", "Hello, I'm Luchano."),
        ("S2", "And I'm Priya, the guest."),
    )
    hosts = ["Eoin", "Luciano"]
    assert names_from_intros(t, hosts) == {"S0": "Eoin", "S1": "Luciano", "S2": "Priya"}
    assert names_from_intros(t, hosts, hosts_only=True) == {"S0": "Eoin", "S1": "Luciano"}
    assert names_from_intros(t, within_s=2.5) == {"S0": "Ian"}
    intro = find_intros(t, hosts)[0]
    assert (intro.name, intro.heard, intro.host, intro.pattern) == ("Eoin", "Ian", True, "I'm")


def test_misheard_host_names_are_corrected_in_the_words() -> None:
    t = _t(
        ("S0", "Hi, I'm Ian and welcome."),
        ("S1", "Thanks Ian. I'm Luciano, and Brian joins later."),
        ("S2", "And I'm Priya, the guest."),
    )
    hosts = ["Eoin", "Luciano"]
    names = names_from_intros(t, hosts)
    fixed, changes = correct_misheard_names(t, find_intros(t, hosts), names)
    assert changes == ["Ian -> Eoin"]
    assert [s.text for s in fixed.segments] == [
        "Hi, I'm Eoin and welcome.",
        "Thanks Eoin. I'm Luciano, and Brian joins later.",  # "Brian" is not "Ian"
        "And I'm Priya, the guest.",
    ]
    # words keep their timings: the corrected word took the misheard word's place
    assert [(w.word, w.start) for w in fixed.segments[0].words][2] == ("Eoin", t.segments[0].words[2].start)
    # a name the speaker was not given (someone else won it) is not "corrected"
    unchanged, none = correct_misheard_names(t, find_intros(t, hosts), {"S1": "Luciano"})
    assert none == [] and unchanged.segments[0].text == "Hi, I'm Ian and welcome."


def test_fuzzy_matching() -> None:
    assert phonetic_key("Ian") == phonetic_key("Eoin")
    assert name_similarity("Luchiano", "Luciano") > 0.8
    assert name_similarity("Thomas", "Maria") < 0.5
    assert match_host("Ian", ["Luciano", "Eoin Shanaghy"]) == "Eoin Shanaghy"
    assert match_host("Gregor", ["Luciano", "Eoin"]) is None


def test_unlabelled_transcript_has_no_names() -> None:
    t = Transcript([Segment(0.0, 1.0, "I'm Thomas", [Word("I'm", 0.0, 0.3), Word("Thomas")])])
    assert names_from_intros(t) == {}


def test_both_names_from_dialogue(
    dialogue: Callable[[str], speech.Dialogue], diarized: Callable[[str], Diarization]
) -> None:
    d, result = dialogue("paused"), diarized("paused")
    names = names_from_intros(result.transcript)
    truth = speech.true_label_map(d, result)
    assert {truth[label]: name for label, name in names.items()} == {"A": "Thomas", "B": "Maria"}


def test_sample_episode_names_with_hosts(sample_episode: tuple[Path, Diarization]) -> None:
    _, result = sample_episode
    turns = json.loads((SAMPLES / "episode.turns.json").read_text())
    names = names_from_intros(result.transcript, hosts=["Eoin", "Luciano"])
    assert sorted(names.values()) == ["Eoin", "Luciano"]
    # Each name is on the label of the voice that said it.
    for label, name in names.items():
        said = [w for w in result.transcript.words if w.speaker == label and w.start is not None]
        mids = [((w.start or 0.0) + (w.end or 0.0)) / 2 for w in said]
        owners = [
            next((u["speaker"] for u in turns if u["start"] - 0.3 <= m <= u["end"] + 0.3), None)
            for m in mids
        ]
        assert owners.count(name) / len(owners) >= 0.95
