"""LLM refinement end to end against a real local chat-completions server."""

from __future__ import annotations

import json
import logging

import pytest
from llm_server import RecordedRequest, Reply, ScriptedLLMServer

from podscribe.config import RefineConfig
from podscribe.llm import LLMError, Message, OpenAICompatible
from podscribe.refine import (
    SYSTEM_PROMPT,
    AppliedUpdate,
    Chunk,
    ChunkResult,
    apply_chunk_results,
    build_chunks,
    build_messages,
    char_distance,
    check_update,
    parse_response,
    refine_chunk,
    refine_summary,
    refine_transcript,
)
from podscribe.transcript import Segment, Transcript, Word

TEXTS = [
    ("SPEAKER_00", "Welcome back to the show, I am here with my co-host as always."),
    ("SPEAKER_01", "Thanks Eoin, great to be here, today we talk about sage maker and lamb da."),
    ("SPEAKER_00", "Right, and we deployed it with cloud formation last week."),
    ("SPEAKER_01", "The cold starts were really bad on the first invocation of the function."),
    ("SPEAKER_00", "Yes, we measured around 800 milliseconds for the java runtime."),
    ("SPEAKER_01", "we use sage maker"),
]


def make_transcript(texts: list[tuple[str, str]] = TEXTS) -> Transcript:
    segs = []
    t = 0.0
    for speaker, text in texts:
        start = t
        words = []
        for tok in text.split():
            words.append(Word(tok, t, t + 0.3, score=0.8, speaker=speaker))
            t += 0.4
        segs.append(Segment(start, t, text, words, speaker))
        t += 1.0
    return Transcript(segs, duration=t)


def cfg(**kw: object) -> RefineConfig:
    base: dict[str, object] = {"provider": "openai", "model": "test-model", "chunk_segments": 10}
    base.update(kw)
    return RefineConfig.model_validate(base)


def provider(server: ScriptedLLMServer) -> OpenAICompatible:
    return OpenAICompatible(server.base_url, "test-model", max_retries=2, sleep=lambda s: None)


def assert_timings_consistent(t: Transcript) -> None:
    for s in t.segments:
        assert s.text == " ".join(w.word for w in s.words)
        prev = s.start
        for w in s.words:
            assert w.start is not None and w.end is not None
            assert s.start <= w.start <= w.end <= s.end
            assert w.start >= prev - 1e-9
            prev = w.end


MIXED = """Sure! Here are my corrections:
```json
{
  "speakers": {"SPEAKER_00": "Eoin", "SPEAKER_01": "Luciano", "SPEAKER_07": "Ghost"},
  "updates": [
    {"idx": 1, "text": "Thanks Eoin, great to be here, today we talk about SageMaker and Lambda."},
    {"idx": 2, "text": "Right, and we deployed it with CloudFormation last week."},
    {"idx": 0, "text": "Hello and welcome to another episode of our podcast with my co-host."},
    {"idx": 3, "text": "The cold starts were truly quite awful indeed on the first invocation of the function."},
    {"idx": 5, "text": "we are using Amazon SageMaker Studio"},
    {"idx": 99, "text": "out of range"},
    {"idx": 4, "text": "   "},
    {"idx": "two", "text": "not an index"},
    {"idx": 2, "text": "Right, and we deployed it with Cloud Formation last week."}
  ]
}
```
Let me know if you need anything else."""


def test_good_suggestions_applied_bad_ones_rejected_with_reasons(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = make_transcript()
    c = cfg()
    (chunk,) = build_chunks(t, c)
    with ScriptedLLMServer([MIXED]) as server, caplog.at_level(logging.INFO, "podscribe.refine"):
        result = refine_chunk(t, chunk, provider(server), c, hosts=["Eoin", "Luciano"])

    assert result.error is None
    assert [(u.idx, u.text) for u in result.updates] == [
        (1, "Thanks Eoin, great to be here, today we talk about SageMaker and Lambda."),
        (2, "Right, and we deployed it with CloudFormation last week."),
    ]
    reasons = {(r.kind, r.idx): r.reason for r in result.rejected}
    assert "word change ratio 0.85 exceeds 0.40" in reasons[("update", 0)]
    assert reasons[("update", 3)] == "4 consecutive words changed (at most 3)"
    assert reasons[("update", 5)] == "5 consecutive words changed (at most 3)"
    assert reasons[("update", 99)] == "index 99 is outside the transcript (allowed 0-5)"
    assert reasons[("update", 4)] == "empty or missing text"
    assert reasons[("update", None)] == "idx 'two' is not an integer"
    assert any(r.reason == "duplicate update for segment 2" for r in result.rejected)
    assert any(r.kind == "speaker" and "SPEAKER_07" in r.reason for r in result.rejected)
    assert all(r.reason for r in result.rejected)
    assert result.speakers == {"SPEAKER_00": "Eoin", "SPEAKER_01": "Luciano"}
    assert "rejected update suggestion for segment 0: word change ratio" in caplog.text

    # the prompt: our system prompt, hosts, and one [i] [SPEAKER_XX] line per segment
    (req,) = server.requests
    messages = req.body["messages"]
    assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
    prompt = req.user_prompt
    assert "The hosts of the show are: Eoin, Luciano." in prompt
    assert "[1] [SPEAKER_01] Thanks Eoin, great to be here" in prompt
    assert req.body["temperature"] == 0.0

    # nothing changed yet; applying puts the text onto the word timings
    assert t.segments[1].text == TEXTS[1][1]
    out = apply_chunk_results(t, [result])
    assert out.segments[1].text.endswith("about SageMaker and Lambda.")
    assert out.segments[2].text == "Right, and we deployed it with CloudFormation last week."
    assert [s.text for s in out.segments[3:]] == [s.text for s in t.segments[3:]]
    assert out.speakers == {"SPEAKER_00": "Eoin", "SPEAKER_01": "Luciano"}
    sm = next(w for w in out.segments[1].words if w.word == "SageMaker")
    old = t.segments[1].words
    sage = next(w for w in old if w.word == "sage")
    maker = next(w for w in old if w.word == "maker")
    assert (sm.start, sm.end, sm.speaker) == (sage.start, maker.end, "SPEAKER_01")
    assert_timings_consistent(out)
    assert len(out.segments[1].words) == len(t.segments[1].words) - 2


@pytest.mark.parametrize(
    "reply",
    [
        "I could not find any issues.",
        '{"updates": [{"idx": 1, "text": "unterminated',
        "```json\n[1, 2, 3]\n```",
        "",
    ],
)
def test_garbage_json_changes_nothing_with_reason(
    reply: str, caplog: pytest.LogCaptureFixture
) -> None:
    t = make_transcript()
    c = cfg()
    with ScriptedLLMServer([reply]) as server, caplog.at_level(logging.WARNING):
        result = refine_chunk(t, build_chunks(t, c)[0], provider(server), c)
    assert result.updates == [] and result.speakers == {}
    assert result.error is not None and result.error.startswith("unparsable response")
    assert "unusable LLM response" in caplog.text
    assert apply_chunk_results(t, [result]).to_dict() == t.to_dict()


def test_500_then_success_is_retried_through_refine_transcript() -> None:
    good = json.dumps(
        {
            "speakers": {},
            "updates": [
                {"idx": 2, "text": "Right, and we deployed it with CloudFormation last week."}
            ],
        }
    )
    with ScriptedLLMServer([Reply(500, "boom"), good]) as server:
        out, results = refine_transcript(make_transcript(), provider(server), cfg())
    assert len(server.requests) == 2
    assert out.segments[2].text == "Right, and we deployed it with CloudFormation last week."
    assert refine_summary(results) == {
        "chunks": 1,
        "updates": 1,
        "rejected": 0,
        "failed_chunks": 0,
        "speakers": {},
    }
    assert_timings_consistent(out)


def test_llm_failure_raises_or_is_skipped() -> None:
    t = make_transcript()
    c = cfg()
    chunk = build_chunks(t, c)[0]
    with ScriptedLLMServer([Reply(400, "bad request"), Reply(400, "bad request")]) as server:
        with pytest.raises(LLMError, match="HTTP 400"):
            refine_chunk(t, chunk, provider(server), c)
        result = refine_chunk(t, chunk, provider(server), c, skip_on_error=True)
    assert result.error is not None and "HTTP 400" in result.error and result.updates == []


def test_chunks_are_balanced_and_carry_context() -> None:
    t = make_transcript(TEXTS * 15)  # 90 segments
    chunks = build_chunks(t, cfg(chunk_segments=40, context_segments=2))
    assert [(c.start, c.end, c.context_start) for c in chunks] == [
        (0, 30, 0),
        (30, 60, 28),
        (60, 90, 58),
    ]
    assert build_chunks(Transcript(), cfg()) == []
    assert [c.end - c.start for c in build_chunks(t, cfg(chunk_segments=7))] == [7] * 12 + [6]


def test_chunked_run_only_updates_its_own_segments() -> None:
    t = make_transcript()
    c = cfg(chunk_segments=3, context_segments=1)
    chunks = build_chunks(t, c)
    assert [(ch.start, ch.end) for ch in chunks] == [(0, 3), (3, 6)]

    def second(req: RecordedRequest) -> str:
        prompt = req.user_prompt
        assert "Earlier segments, for context only" in prompt
        assert "[2] [SPEAKER_00] Right, and we deployed it with cloud formation" in prompt
        assert "[1] [SPEAKER_01]" not in prompt
        assert "Segments to check (indices 3 to 5):" in prompt
        return json.dumps(
            {
                "speakers": {"SPEAKER_01": "Luciano"},
                "updates": [
                    {"idx": 2, "text": "Right, and we deployed it with CloudFormation last week."},
                    {
                        "idx": 4,
                        "text": "Yes, we measured around 800 milliseconds for the Java runtime.",
                    },
                ],
            }
        )

    first = '{"identifiedSpeakers": {"SPEAKER_00": "Eoin"}, "updates": []}'
    with ScriptedLLMServer([first, second]) as server:
        results = [refine_chunk(t, ch, provider(server), c) for ch in chunks]
    assert results[0].speakers == {"SPEAKER_00": "Eoin"}
    assert [u.idx for u in results[1].updates] == [4]
    assert results[1].rejected[0].reason == "index 2 is outside this chunk (allowed 3-5)"
    out = apply_chunk_results(t, results)
    assert out.speakers == {"SPEAKER_00": "Eoin", "SPEAKER_01": "Luciano"}
    assert "Java runtime" in out.segments[4].text


def test_known_speakers_are_in_the_prompt_and_kept() -> None:
    t = make_transcript()
    t.speakers = {"SPEAKER_00": "Eoin Shanaghy"}
    c = cfg(context="AWS Bites, a podcast about AWS.")
    messages: list[Message] = build_messages(t, build_chunks(t, c)[0], c)
    user = messages[1]["content"]
    assert user.startswith("About this episode:\nAWS Bites, a podcast about AWS.")
    assert "Speakers already identified:\nSPEAKER_00: Eoin Shanaghy" in user
    results = [
        ChunkResult(Chunk(0, 0, 3, 0), speakers={"SPEAKER_00": "Owen", "SPEAKER_01": "Luciano"}),
        ChunkResult(Chunk(1, 3, 6, 3), speakers={"SPEAKER_01": "Lucy"}),
        ChunkResult(Chunk(2, 6, 9, 6), speakers={"SPEAKER_01": "Luciano"}),
    ]
    out = apply_chunk_results(t, results)
    assert out.speakers == {"SPEAKER_00": "Eoin Shanaghy", "SPEAKER_01": "Luciano"}
    assert apply_chunk_results(t, results, overwrite_names=True).speakers["SPEAKER_00"] == "Owen"
    tie = apply_chunk_results(t, results[:2])
    assert tie.speakers["SPEAKER_01"] == "Luciano"  # tie: earliest chunk wins


def test_unusable_speaker_names_rejected() -> None:
    t = make_transcript()
    c = cfg()
    reply = json.dumps(
        {"speakers": {"SPEAKER_00": "Unknown", "SPEAKER_01": "SPEAKER_01"}, "updates": []}
    )
    with ScriptedLLMServer([reply]) as server:
        result = refine_chunk(t, build_chunks(t, c)[0], provider(server), c)
    assert result.speakers == {}
    assert sorted(r.reason for r in result.rejected) == [
        "not a usable name: 'SPEAKER_01'",
        "not a usable name: 'Unknown'",
    ]


def test_stale_updates_are_skipped() -> None:
    t = make_transcript()
    stale = ChunkResult(Chunk(0, 0, 6, 0), updates=[AppliedUpdate(1, "something else", "x y")])
    assert apply_chunk_results(t, [stale]).to_dict() == t.to_dict()


def test_chunk_result_round_trips_through_json() -> None:
    t = make_transcript()
    c = cfg()
    with ScriptedLLMServer([MIXED]) as server:
        result = refine_chunk(t, build_chunks(t, c)[0], provider(server), c)
    again = ChunkResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result


def test_check_update_thresholds() -> None:
    c = RefineConfig()
    assert check_update("we use sage maker", "we use SageMaker", c) is None
    # short segments: only the consecutive check
    assert check_update("so we went there", "so we went there ok", c) is None
    assert check_update("a b", "c d e f", c) == "4 consecutive words changed (at most 3)"
    # character distance alone
    reason = check_update("a b c d e", "a b c d supercalifragilisticexpialidocious", c)
    assert reason is not None and reason.startswith("character edit distance")
    assert (
        check_update("a b c d e", "a b c d x", c.model_copy(update={"max_char_distance": 0.1}))
        is not None
    )
    assert char_distance("", "") == 0.0 and char_distance("abc", "abd") == pytest.approx(1 / 3)


def test_parse_response_variants() -> None:
    assert parse_response('{"updates": []}') == {"updates": []}
    assert parse_response('```\n{"speakers": {"A": "B"}}\n```') == {"speakers": {"A": "B"}}
    assert parse_response('noise {"x": 1} then {"updates": [1]} end') == {"updates": [1]}
    with pytest.raises(ValueError, match="no JSON object"):
        parse_response('{"x": 1}')


def test_no_provider_means_no_change() -> None:
    t = make_transcript()
    out, results = refine_transcript(t, None, RefineConfig())
    assert out is t and results == []
