"""Audio loading, its errors, and chunking at silences (real files, no mocks)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import speech

from podscribe.audio import AudioError, audio_info, check_audio, load_audio, rms_dbfs
from podscribe.chunking import (
    FRAME_S,
    chunk_spans,
    frame_levels,
    silence_threshold,
    silences,
    slice_audio,
    speech_only,
    speech_spans,
)

SR = 16000
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "episode.ogg"


def _noise(seconds: float, level: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * SR)) * level).astype(np.float32)


# --------------------------------------------------------------------------- loading


def test_load_wav_is_16k_mono_float32(tmp_path: Path) -> None:
    x = _noise(1.5)
    speech.write_wav(tmp_path / "n.wav", x)
    y = load_audio(tmp_path / "n.wav")
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == len(x)
    assert np.max(np.abs(y - x)) < 1e-3


def test_load_resamples_other_rates(tmp_path: Path) -> None:
    t = np.arange(int(44100 * 2.0)) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    speech.write_wav(tmp_path / "tone.wav", tone, rate=44100)
    y = load_audio(tmp_path / "tone.wav")
    assert abs(len(y) - 2 * SR) <= 16
    info = audio_info(tmp_path / "tone.wav")
    assert info.sample_rate == 44100 and info.channels == 1
    assert abs(info.duration - 2.0) < 0.01


def test_load_sample_episode_ogg() -> None:
    info = audio_info(SAMPLE)
    assert info.codec == "opus" and 60 <= info.duration <= 90
    y = load_audio(SAMPLE)
    assert abs(len(y) / SR - info.duration) < 0.1
    assert SAMPLE.stat().st_size < 1_000_000


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp3"
    with pytest.raises(AudioError, match=r"nope\.mp3: file not found"):
        load_audio(path)
    with pytest.raises(AudioError, match="file not found"):
        audio_info(path)


def test_directory_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(tmp_path)


def test_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("these are show notes, not audio\n" * 20)
    with pytest.raises(AudioError, match=r"notes\.mp3: not a readable audio file"):
        load_audio(path)
    with pytest.raises(AudioError, match="not a readable audio file"):
        audio_info(path)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: file is empty \(0 bytes\)"):
        load_audio(path)


def test_wav_without_samples(tmp_path: Path) -> None:
    path = tmp_path / "nothing.wav"
    speech.write_wav(path, np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError, match=r"nothing\.wav: audio is empty"):
        load_audio(path)


def test_silent_file(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    speech.write_wav(path, np.zeros(3 * SR, dtype=np.float32))
    with pytest.raises(AudioError, match=r"silence\.wav: audio is silent \(RMS -inf dBFS"):
        load_audio(path)


def test_hiss_below_threshold_is_silent(tmp_path: Path) -> None:
    path = tmp_path / "hiss.wav"
    speech.write_wav(path, _noise(2.0, level=10 ** (-72 / 20)))
    with pytest.raises(AudioError, match="silent"):
        load_audio(path)
    # A quiet but real recording passes.
    speech.write_wav(path, _noise(2.0, level=10 ** (-45 / 20)))
    assert len(load_audio(path)) == 2 * SR


def test_check_audio_and_rms() -> None:
    assert rms_dbfs(np.zeros(10)) == float("-inf")
    assert abs(rms_dbfs(np.full(100, 0.5)) - 20 * np.log10(0.5)) < 1e-6
    with pytest.raises(AudioError, match="episode: audio is empty"):
        check_audio(np.zeros(0), "episode")
    check_audio(_noise(0.5))


# --------------------------------------------------------------------------- chunking


def _bursts(pattern: list[tuple[float, bool]]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Noise bursts (True) and digital silence (False); returns audio and burst spans."""
    parts, spans, pos = [], [], 0.0
    for i, (seconds, loud) in enumerate(pattern):
        parts.append(_noise(seconds, seed=i) if loud else np.zeros(int(seconds * SR), np.float32))
        if loud:
            spans.append((pos, pos + seconds))
        pos += seconds
    return np.concatenate(parts), spans


def _inside(t: float, spans: list[tuple[float, float]], margin: float = 0.0) -> bool:
    return any(a + margin < t < b - margin for a, b in spans)


def test_silences_and_speech_spans() -> None:
    x, _ = _bursts([(1.0, True), (0.5, False), (2.0, True), (0.2, False), (1.0, True)])
    gaps = silences(x, min_silence_s=0.3)
    assert len(gaps) == 1
    assert abs(gaps[0][0] - 1.0) <= FRAME_S and abs(gaps[0][1] - 1.5) <= FRAME_S
    spans = speech_spans(x, min_silence_s=0.3)
    assert len(spans) == 2 and abs(spans[1][1] - 4.7) < 0.03
    trimmed = speech_only(x, min_silence_s=0.3, keep_s=0.0)
    assert abs(len(trimmed) / SR - 4.2) < 0.05


def test_chunks_cut_in_the_longest_nearby_silence() -> None:
    # Speech every 4 s with a 1 s pause, plus a short 0.4 s pause near each target.
    pattern: list[tuple[float, bool]] = []
    for _ in range(10):
        pattern += [(2.0, True), (0.4, False), (1.6, True), (1.0, False)]
    x, loud = _bursts(pattern)
    spans = chunk_spans(x, target_s=10.0, search_s=3.0)
    assert spans[0][0] == 0.0 and abs(spans[-1][1] - len(x) / SR) < 1e-3
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end == start  # contiguous, no gaps or overlaps
    for _, cut in spans[:-1]:
        assert not _inside(cut, loud), f"cut at {cut} is inside a burst"
        # the 1 s pauses win over the 0.4 s ones
        assert any(abs(cut - (b + 0.5)) < 0.05 for _, b in loud)
    for a, b in spans[:-1]:
        assert 7.0 <= b - a <= 13.0
    assert chunk_spans(x, target_s=10.0, search_s=3.0) == spans  # deterministic


def test_chunks_fall_back_to_quietest_point_without_silence() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(30 * SR) / SR
    envelope = 0.05 + 0.05 * (1 + np.sin(2 * np.pi * t / 7.0))
    x = (rng.standard_normal(len(t)) * envelope).astype(np.float32)
    spans = chunk_spans(x, target_s=10.0, search_s=2.0)
    assert len(spans) == 3
    for a, b in spans[:-1]:
        assert 8.0 - 1e-6 <= b - a <= 12.0 + 1e-6


def test_short_audio_is_one_chunk() -> None:
    x = _noise(5.0)
    assert chunk_spans(x, target_s=300.0) == [(0.0, 5.0)]
    assert chunk_spans(np.zeros(0, np.float32)) == []
    with pytest.raises(ValueError):
        chunk_spans(x, target_s=0)


def test_chunks_never_cut_inside_speech(dialogue: Callable[[str], speech.Dialogue]) -> None:
    for name in ("paused", "continuous"):
        d = dialogue(name)
        spans = chunk_spans(d.audio, target_s=8.0, search_s=3.0)
        assert len(spans) >= 4
        levels = frame_levels(d.audio)
        threshold = silence_threshold(levels)
        for _, cut in spans[:-1]:
            # The cut lies in a pause: the frames around it carry no speech energy.
            f = int(cut / FRAME_S)
            assert levels[max(0, f - 1) : f + 2].max() <= threshold, f"{name}: cut at {cut}"
            if name == "paused":
                assert not _inside(cut, [(t.start, t.end) for t in d.turns])
        pieces = [slice_audio(d.audio, s) for s in spans]
        assert sum(len(p) for p in pieces) == len(d.audio)
