"""Speaker encoder and diarization on synthetic dialogues with exact ground truth."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest
import speech

from podscribe import encoder
from podscribe.diarize import (
    Diarization,
    assign_word_speakers,
    cluster_embeddings,
    diarize,
    estimate_speakers,
    silhouette,
)
from podscribe.transcript import Segment, Transcript, Word

# --------------------------------------------------------------------------- encoder


def test_mel_filterbank_shape_and_area() -> None:
    fb = encoder.mel_filterbank()
    assert fb.shape == (40, 201)
    assert (fb >= 0).all()
    # Slaney area normalisation: every triangle has unit area (bins are 40 Hz apart).
    assert np.allclose(fb[5:].sum(axis=1) * 40.0, 1.0, atol=0.05)
    # Reference peaks from librosa.filters.mel(sr=16000, n_fft=400, n_mels=40), 0.11.0.
    assert fb[0].max() == pytest.approx(0.012404521, rel=1e-5)
    assert fb[20].max() == pytest.approx(0.0071919174, rel=1e-5)
    assert fb[39].max() == pytest.approx(0.0017249404, rel=1e-5)


def test_mel_spectrogram_frames() -> None:
    x = np.zeros(16000, dtype=np.float32)
    x[8000] = 1.0
    mel = encoder.mel_spectrogram(x)
    assert mel.shape == (101, 40)
    # An impulse shows up only in the frames whose window covers it.
    active = np.flatnonzero(mel.sum(axis=1) > 0)
    assert active.min() >= 48 and active.max() <= 52


def test_checkpoint_loads_without_torch() -> None:
    try:
        path = encoder.default_weights_path()
    except encoder.EncoderError as exc:
        pytest.skip(str(exc))
    state = encoder.load_torch_checkpoint(path)["model_state"]
    assert state["lstm.weight_ih_l0"].shape == (1024, 40)
    assert state["linear.weight"].shape == (256, 256)
    assert state["lstm.weight_hh_l2"].dtype == np.float32
    weights = encoder.load_weights()
    assert len(weights.layers) == 3


def test_embeddings_are_unit_and_speaker_specific(
    dialogue: Callable[[str], speech.Dialogue],
) -> None:
    d = dialogue("paused")
    a = [t for t in d.turns if t.speaker == "A"]
    b = [t for t in d.turns if t.speaker == "B"]

    def emb(t: speech.Turn) -> np.ndarray:
        return encoder.embed_utterance(d.audio[int(t.start * 16000) : int(t.end * 16000)])

    ea, ea2, eb = emb(a[0]), emb(a[1]), emb(b[0])
    assert np.linalg.norm(ea) == pytest.approx(1.0, abs=1e-5)
    assert float(ea @ ea2) > float(ea @ eb)
    times, windows = encoder.embed_windows(d.audio, 1.5, 0.75)
    assert windows.shape == (len(times), 256)
    assert np.allclose(np.linalg.norm(windows, axis=1), 1.0, atol=1e-5)
    assert times[0, 0] == 0.0 and times[-1, 1] == pytest.approx(len(d.audio) / 16000, abs=0.01)


# --------------------------------------------------------------------------- clustering


def _blobs(centres: int, per: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = np.abs(rng.standard_normal((centres, 256)))
    points, truth = [], []
    for c in range(centres):
        points.append(means[c] + spread * rng.standard_normal((per, 256)))
        truth += [c] * per
    x = np.concatenate(points).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(truth)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_speaker_count_is_estimated(k: int) -> None:
    x, truth = _blobs(k, 40, spread=0.35, seed=k)
    count, _ = estimate_speakers(x, 1, 8)
    assert count == k
    labels, score = cluster_embeddings(x, 1, 8)
    assert len(set(labels.tolist())) == k
    assert labels[0] == 0  # first appearance gets 0
    if k > 1:
        assert score is not None and score > 0.1
        # every true group falls in one cluster
        for c in range(k):
            assert len(set(labels[truth == c].tolist())) == 1


def test_speaker_bounds_are_respected() -> None:
    x, _ = _blobs(3, 30, spread=0.35, seed=7)
    assert len(set(cluster_embeddings(x, 1, 2)[0].tolist())) <= 2
    assert len(set(cluster_embeddings(x, 2, 2)[0].tolist())) == 2
    assert len(set(cluster_embeddings(x, 4, 8)[0].tolist())) == 4
    assert len(set(cluster_embeddings(x, 1, 1)[0].tolist())) == 1
    with pytest.raises(ValueError):
        cluster_embeddings(x, 3, 2)


def test_silhouette() -> None:
    x, truth = _blobs(2, 20, spread=0.2)
    assert silhouette(x, truth.astype(np.int64)) > 0.3
    assert silhouette(x, np.zeros(len(x), dtype=np.int64)) == 0.0


# --------------------------------------------------------------------------- dialogues


def _check_result(d: speech.Dialogue, t_in: Transcript, result: Diarization) -> None:
    t = result.transcript
    assert result.num_speakers == 2
    assert set(result.centroids) == {"SPEAKER_00", "SPEAKER_01"}
    for c in result.centroids.values():
        assert np.linalg.norm(c) == pytest.approx(1.0, abs=1e-5)
    words = t.words
    assert len(words) == len(t_in.words)  # nothing lost or added
    assert all(w.speaker in result.centroids for w in words)
    assert words[0].speaker == "SPEAKER_00"  # labels by first appearance
    for seg in t.segments:  # segments were split at speaker changes
        assert seg.speaker is not None
        assert {w.speaker for w in seg.words} == {seg.speaker}
        assert seg.text == " ".join(w.word for w in seg.words) or len(
            [s for s in t_in.segments if s.text == seg.text]
        )
    assert all(w.speaker is None for w in t_in.words)  # input untouched


def test_paused_dialogue(
    dialogue: Callable[[str], speech.Dialogue],
    transcribed: Callable[[str], Transcript],
    diarized: Callable[[str], Diarization],
) -> None:
    d, result = dialogue("paused"), diarized("paused")
    _check_result(d, transcribed("paused"), result)
    accuracy = speech.speaker_accuracy(d, result)
    assert accuracy >= 0.95, f"speaker accuracy {accuracy:.1%} with pauses"


def test_dialogue_without_pauses(
    dialogue: Callable[[str], speech.Dialogue],
    transcribed: Callable[[str], Transcript],
    diarized: Callable[[str], Diarization],
) -> None:
    d, result = dialogue("continuous"), diarized("continuous")
    _check_result(d, transcribed("continuous"), result)
    accuracy = speech.speaker_accuracy(d, result)
    assert accuracy >= 0.90, f"speaker accuracy {accuracy:.1%} without pauses"


def test_single_voice_is_one_speaker() -> None:
    if not speech.have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    gap = np.zeros(8000, dtype=np.float32)
    x = np.concatenate(
        [np.concatenate([speech.synth(text, "B"), gap]) for _, text in speech.DIALOGUE_PAUSED]
    )
    result = diarize(x, Transcript())
    assert result.num_speakers == 1 and list(result.centroids) == ["SPEAKER_00"]
    forced = diarize(x, Transcript(), min_speakers=2, max_speakers=2)
    assert len(forced.centroids) == 2


def test_untimed_words_take_a_neighbours_speaker(
    dialogue: Callable[[str], speech.Dialogue],
    transcribed: Callable[[str], Transcript],
    diarized: Callable[[str], Diarization],
) -> None:
    t = copy.deepcopy(transcribed("paused"))
    seg = t.segments[1]
    seg.words[1].start = seg.words[1].end = None  # like WhisperX's unaligned digits
    seg.words.append(Word("42"))
    result = diarize(dialogue("paused").audio, t)
    out = next(s for s in result.transcript.segments if s.start >= seg.start - 1e-6)
    assert out.words[1].speaker == out.words[0].speaker
    assert all(w.speaker is not None for w in result.transcript.words)
    reference = diarized("paused").transcript.words
    assert result.transcript.words[0].speaker == reference[0].speaker


def test_assign_word_speakers_splits_segments() -> None:
    words = [
        Word("hi", 0.0, 0.2),
        Word("there.", 0.3, 0.5),
        Word("Hello", 0.9, 1.1),
        Word("back", 1.2, 1.4),
    ]
    t = Transcript([Segment(0.0, 1.4, "hi there. Hello back", words), Segment(2.0, 2.5, "(music)")])
    out = assign_word_speakers(t, ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01", "SPEAKER_01"])
    assert [(s.speaker, s.text) for s in out.segments] == [
        ("SPEAKER_00", "hi there."),
        ("SPEAKER_01", "Hello back"),
        ("SPEAKER_01", "(music)"),
    ]
    assert out.segments[1].start == 0.9 and out.segments[1].end == 1.4
    assert t.segments[0].speaker is None
