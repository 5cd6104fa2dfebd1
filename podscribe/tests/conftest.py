"""Shared, session-scoped fixtures: synthetic dialogues, the default model, results.

Everything expensive (speech synthesis, model load, transcription, diarization) is done
once per session and shared. The speech tests need ``espeak-ng`` (apt) and the speaker
encoder weights (``pip install --no-deps resemblyzer==0.1.4``); without them they are
skipped with the reason shown in the summary.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from podscribe.diarize import Diarization
    from podscribe.transcript import Transcript

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

# name -> (lines, pause between turns in seconds)
DIALOGUES: dict[str, tuple[list[tuple[str, str]], float]] = {
    "paused": (speech.DIALOGUE_PAUSED, 0.8),
    "continuous": (speech.DIALOGUE_PAUSED, 0.0),
    "second": (speech.DIALOGUE_CONTINUOUS, 0.8),
    "guest": (speech.DIALOGUE_GUEST, 0.8),
}


def _require_espeak() -> None:
    if not speech.have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")


def _require_encoder() -> None:
    from podscribe.encoder import EncoderError, default_weights_path

    try:
        default_weights_path()
    except EncoderError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def dialogue(speech_dir: Path) -> Callable[[str], speech.Dialogue]:
    """``dialogue(name)``: a synthetic dialogue, generated once per session."""
    cache: dict[str, speech.Dialogue] = {}

    def get(name: str) -> speech.Dialogue:
        _require_espeak()
        if name not in cache:
            lines, pause = DIALOGUES[name]
            cache[name] = speech.make_dialogue(lines, speech_dir / f"{name}.wav", pause_s=pause)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def whisper() -> WhisperModel:
    """The default model (packaged tiny.en), loaded once."""
    from podscribe.asr import load_model

    return load_model()


@pytest.fixture(scope="session")
def transcribed(
    dialogue: Callable[[str], speech.Dialogue], whisper: WhisperModel
) -> Callable[[str], Transcript]:
    """``transcribed(name)``: the dialogue's transcript with default settings, cached."""
    from podscribe.asr import transcribe

    cache: dict[str, Transcript] = {}

    def get(name: str) -> Transcript:
        if name not in cache:
            cache[name] = transcribe(whisper, dialogue(name).audio)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def diarized(
    dialogue: Callable[[str], speech.Dialogue], transcribed: Callable[[str], Transcript]
) -> Callable[[str], Diarization]:
    """``diarized(name)``: the dialogue's diarization with default settings, cached."""
    from podscribe.diarize import diarize

    cache: dict[str, Diarization] = {}

    def get(name: str) -> Diarization:
        _require_encoder()
        if name not in cache:
            cache[name] = diarize(dialogue(name).audio, transcribed(name))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def sample_episode(whisper: WhisperModel) -> tuple[Path, Diarization]:
    """The committed sample episode, transcribed and diarized once."""
    from podscribe.asr import transcribe
    from podscribe.audio import load_audio
    from podscribe.diarize import diarize

    _require_encoder()
    path = SAMPLES / "episode.ogg"
    audio = load_audio(path)
    return path, diarize(audio, transcribe(whisper, audio))
