"""The voice library: enrol, list, remove, and naming speakers across episodes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import speech

from podscribe.diarize import Diarization
from podscribe.naming import names_from_intros
from podscribe.voices import (
    DEFAULT_THRESHOLD,
    VoiceError,
    default_library_dir,
    enroll,
    enroll_embedding,
    get_voice,
    list_voices,
    load_library,
    match,
    remove,
    slug,
)


def _vec(seed: int) -> np.ndarray:
    v = np.abs(np.random.default_rng(seed).standard_normal(256)).astype(np.float32)
    return v / np.linalg.norm(v)


def test_library_crud(tmp_path: Path) -> None:
    lib = tmp_path / "voices"
    assert list_voices(lib) == []
    vp = enroll_embedding("Eoin Shanaghy", _vec(1), lib)
    assert vp.path == lib / "eoin-shanaghy.json" and vp.count == 1
    data = json.loads(vp.path.read_text())
    assert data["name"] == "Eoin Shanaghy" and len(data["embedding"]) == 256
    enroll_embedding("Luciano", _vec(2), lib)
    assert [v.name for v in list_voices(lib)] == ["Eoin Shanaghy", "Luciano"]
    # Enrolling again merges (a running mean), unless told to replace.
    merged = enroll_embedding("eoin shanaghy", _vec(3), lib)
    assert merged.count == 2
    assert float(merged.embedding @ _vec(1)) > 0.5 and float(merged.embedding @ _vec(3)) > 0.5
    replaced = enroll_embedding("Eoin Shanaghy", _vec(3), lib, merge=False)
    assert replaced.count == 1
    got = get_voice("EOIN SHANAGHY", lib)
    assert got is not None and float(got.embedding @ _vec(3)) == pytest.approx(1.0, abs=1e-5)
    assert set(load_library(lib)) == {"Eoin Shanaghy", "Luciano"}
    assert remove("Luciano", lib) is True
    assert remove("Luciano", lib) is False
    assert [v.name for v in list_voices(lib)] == ["Eoin Shanaghy"]


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(VoiceError):
        slug("!!!")
    with pytest.raises(VoiceError, match="empty"):
        enroll_embedding("  ", _vec(1), tmp_path)
    with pytest.raises(VoiceError, match="256"):
        enroll_embedding("X", np.ones(10), tmp_path)
    with pytest.raises(VoiceError, match="zero"):
        enroll_embedding("X", np.zeros(256), tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(VoiceError, match=r"broken\.json: not a valid voiceprint"):
        list_voices(tmp_path)


def test_default_library_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PODSCRIBE_VOICES", str(tmp_path / "v"))
    assert default_library_dir() == tmp_path / "v"
    monkeypatch.delenv("PODSCRIBE_VOICES")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_library_dir() == tmp_path / "data" / "podscribe" / "voices"


def test_match_is_one_to_one_with_threshold() -> None:
    a, b, c = _vec(1), _vec(2), _vec(3)
    library = {"Ann": a, "Bob": b}
    noisy_a = a + 0.05 * _vec(9)
    # Two speakers close to Ann: only the closer one gets the name.
    assert match({"S0": noisy_a, "S1": a}, {"Ann": a}) == {"S1": "Ann"}
    assert match({"S0": b, "S1": a}, library) == {"S0": "Bob", "S1": "Ann"}
    # A voice below the threshold stays unnamed.
    assert match({"S0": c}, library, threshold=0.99) == {}
    assert match({}, library) == {} and match({"S0": a}, {}) == {}
    assert 0.5 < DEFAULT_THRESHOLD < 1.0


def test_voices_carry_over_between_episodes(
    tmp_path: Path,
    dialogue: Callable[[str], speech.Dialogue],
    diarized: Callable[[str], Diarization],
) -> None:
    # Episode 1: names from the introductions, voiceprints from the centroids.
    first = diarized("paused")
    names = names_from_intros(first.transcript)
    assert sorted(names.values()) == ["Maria", "Thomas"]
    lib = tmp_path / "voices"
    for label, name in names.items():
        enroll_embedding(name, first.centroids[label], lib)
    # Episode 2: different text, same two voices.
    d2, second = dialogue("second"), diarized("second")
    named = match(second.centroids, load_library(lib))
    truth = speech.true_label_map(d2, second)
    voice_of = {"Thomas": "A", "Maria": "B"}
    assert {label: voice_of[name] for label, name in named.items()} == truth


def test_enroll_from_a_recording(
    tmp_path: Path,
    dialogue: Callable[[str], speech.Dialogue],
    diarized: Callable[[str], Diarization],
) -> None:
    clip = tmp_path / "thomas.wav"
    speech.write_wav(clip, speech.synth(speech.SOLO_A, "A"))
    lib = tmp_path / "voices"
    vp = enroll("Thomas", clip, lib)
    assert vp.count == 1 and np.linalg.norm(vp.embedding) == pytest.approx(1.0, abs=1e-5)
    d2, second = dialogue("second"), diarized("second")
    named = match(second.centroids, load_library(lib))
    truth = speech.true_label_map(d2, second)
    assert list(named.values()) == ["Thomas"]
    (label,) = named
    assert truth[label] == "A"
