"""Transcription with the packaged tiny.en model on synthetic dialogues (no mocks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import speech

from podscribe.asr import (
    ModelError,
    batch_size_for,
    check_model,
    load_model,
    merge_chunks,
    packaged_model_path,
    resolve_device,
    resolve_model,
    transcribe,
)
from podscribe.chunking import chunk_spans, slice_audio
from podscribe.transcript import Transcript

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

MAX_WER = 0.12


def _text(t: Transcript) -> str:
    return " ".join(s.text for s in t.segments)


def test_wer_helper() -> None:
    assert speech.wer("Hello, world!", "hello world") == 0.0
    assert speech.wer("a b c d", "a x c") == 0.5
    assert speech.wer("co-host", "co host") == 0.0


def test_packaged_model_is_default() -> None:
    path = packaged_model_path()
    assert path is not None and (path / "model.bin").is_file()
    assert resolve_model("tiny.en") == str(path)
    assert resolve_model(path) == str(path)


def test_device_resolution() -> None:
    assert resolve_device("cpu", "auto") == ("cpu", "int8")
    assert resolve_device("cuda", "auto") == ("cuda", "float16")
    assert resolve_device("cpu", "float32") == ("cpu", "float32")
    device, ctype = resolve_device()
    assert (device, ctype) in {("cpu", "int8"), ("cuda", "float16")}


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a CTranslate2 model directory"):
        resolve_model(tmp_path)
    with pytest.raises(ModelError, match="cannot load speech model 'no-such-model-xyz'"):
        load_model("no-such-model-xyz")


@pytest.mark.parametrize("name", ["paused", "continuous"])
def test_wer_and_word_timings(
    name: str,
    dialogue: Callable[[str], speech.Dialogue],
    transcribed: Callable[[str], Transcript],
) -> None:
    d = dialogue(name)
    t = transcribed(name)
    error = speech.wer(d.text, _text(t))
    assert error <= MAX_WER, f"WER {error:.1%} on {name}: {_text(t)}"
    duration = len(d.audio) / speech.SR
    assert t.duration == pytest.approx(duration, abs=1e-3)
    words = t.words
    assert words and all(w.timed for w in words)
    last = 0.0
    for seg in t.segments:
        assert seg.text and seg.words and seg.start <= seg.end
        for w in seg.words:
            assert w.start is not None and w.end is not None
            assert 0.0 <= w.start <= w.end <= duration
            assert w.start >= last - 1e-6
            assert w.word == w.word.strip() and w.score is not None
            last = w.start
    # Each turn's first word starts close to the true turn start.
    for turn in d.turns:
        nearest = min(abs((w.start or 0.0) - turn.start) for w in words)
        assert nearest <= 0.5, f"no word near the turn starting at {turn.start:.2f}"


def test_chunked_transcription_with_offsets_and_progress(
    dialogue: Callable[[str], speech.Dialogue], whisper: WhisperModel
) -> None:
    d = dialogue("paused")
    duration = len(d.audio) / speech.SR
    spans = chunk_spans(d.audio, target_s=20.0, search_s=5.0)
    assert len(spans) >= 2
    parts = []
    for span in spans:
        chunk = slice_audio(d.audio, span)
        seen: list[float] = []
        part = transcribe(whisper, chunk, offset=span[0], progress=seen.append)
        # progress reports seconds of this chunk done, ending with its length
        assert seen == sorted(seen)
        assert seen[-1] == pytest.approx(len(chunk) / speech.SR, abs=1e-3)
        for w in part.words:
            assert w.start is not None and w.end is not None
            assert span[0] - 1e-6 <= w.start <= w.end <= span[1] + 1e-3
        parts.append(part)
    merged = merge_chunks(list(reversed(parts)))
    starts = [s.start for s in merged.segments]
    assert starts == sorted(starts)
    assert merged.duration == pytest.approx(duration, abs=1e-3)
    assert speech.wer(d.text, _text(merged)) <= MAX_WER


def test_progress_is_monotonic(
    dialogue: Callable[[str], speech.Dialogue], whisper: WhisperModel
) -> None:
    d = dialogue("second")
    clip = d.audio[: 12 * speech.SR]
    seen: list[float] = []
    t = transcribe(whisper, clip, beam_size=1, progress=seen.append)
    assert t.segments
    assert seen == sorted(seen) and seen[-1] == pytest.approx(12.0, abs=1e-3)


def test_batched_pipeline_transcribes_with_word_timings(
    dialogue: Callable[[str], speech.Dialogue], whisper: WhisperModel
) -> None:
    """faster-whisper's BatchedInferencePipeline (the GPU path), here on the CPU."""
    d = dialogue("paused")
    offset = 100.0
    t = transcribe(whisper, d.audio, offset=offset, batch_size=4)
    assert speech.wer(d.text, _text(t)) <= MAX_WER, _text(t)
    duration = len(d.audio) / speech.SR
    words = t.words
    assert words and all(w.timed for w in words)
    assert all(offset <= (w.start or 0) <= (w.end or 0) <= offset + duration for w in words)
    assert batch_size_for(0, "cuda") == 16 and batch_size_for(0, "cpu") == 0 and batch_size_for(1, "cuda") == 1


def test_model_argument_checks(tmp_path: Path) -> None:
    assert check_model("tiny.en") is None and check_model("large-v3") is None
    model_dir = packaged_model_path()
    assert model_dir is not None and check_model(str(model_dir)) is None
    assert "no model.bin" in (check_model(str(tmp_path)) or "")
    assert "not a model name" in (check_model("./no/such/dir") or "")
    assert "not a model name" in (check_model("huge-v9") or "")
