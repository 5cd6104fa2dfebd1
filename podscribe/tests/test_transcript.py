from __future__ import annotations

from podscribe.transcript import Segment, Transcript, Word, join_words


def test_join_words_attaches_whisper_continuations() -> None:
    assert join_words(["co", "-host", "it", "'s", "fine."]) == "co-host it's fine."
    assert join_words(["well", "-", "maybe"]) == "well - maybe"  # a lone dash stays a word
    assert join_words([" Hello", "", "world "]) == "Hello world"


def test_transcript_round_trips_through_json_shape() -> None:
    t = Transcript(
        segments=[Segment(0.0, 1.5, "Hi there", [Word("Hi", 0.0, 0.4, 0.9, "SPEAKER_00"), Word("there", None, None)], "SPEAKER_00")],
        speakers={"SPEAKER_00": "Eoin"},
        duration=1.5,
    )
    again = Transcript.from_dict(t.to_dict())
    assert again == t
    assert again.speaker_name("SPEAKER_00") == "Eoin" and again.speaker_name("SPEAKER_09") == "SPEAKER_09"
