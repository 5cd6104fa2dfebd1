"""Synthetic two-speaker dialogues with exact ground truth, made with espeak-ng.

Each utterance is synthesised separately, its leading and trailing silence trimmed,
resampled to 16 kHz and concatenated with numpy, so the speech span of every turn is
known to the sample. Needs the ``espeak-ng`` program (``apt-get install espeak-ng``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

if TYPE_CHECKING:
    from podscribe.diarize import Diarization

SR = 16000

# Two clearly different espeak-ng voices: a low-pitched US male and a high-pitched UK female.
VOICES: dict[str, list[str]] = {
    "A": ["-v", "en-us", "-p", "35", "-s", "160"],
    "B": ["-v", "en-gb+f3", "-p", "70", "-s", "150"],
    # a third voice, for a guest nobody enrolled
    "C": ["-v", "en-gb", "-p", "45", "-s", "170"],
}


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def require_speech_stack() -> None:
    """Skip unless espeak-ng (test audio) and the speaker encoder's weights are installed
    (``scripts/setup.sh`` installs both, so the suite runs them)."""
    import pytest

    if not have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    from podscribe.encoder import EncoderError, default_weights_path

    try:
        default_weights_path()
    except EncoderError as exc:
        pytest.skip(str(exc))


def synth(text: str, voice: str) -> npt.NDArray[np.float32]:
    """One utterance at 16 kHz, float32, leading and trailing silence trimmed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "u.wav"
        subprocess.run(
            ["espeak-ng", *VOICES[voice], "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        with wave.open(str(out), "rb") as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    x = pcm.astype(np.float32) / 32768.0
    if rate != SR:
        g = np.gcd(rate, SR)
        x = resample_poly(x, SR // g, rate // g).astype(np.float32)
    loud = np.flatnonzero(np.abs(x) > 2e-3)
    if loud.size == 0:
        raise RuntimeError(f"espeak-ng produced silence for {text!r}")
    return x[loud[0] : loud[-1] + 1]


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Dialogue:
    audio: npt.NDArray[np.float32]
    turns: list[Turn]
    path: Path

    @property
    def text(self) -> str:
        return " ".join(t.text for t in self.turns)

    def speaker_at(self, t: float) -> str:
        """The true speaker at time ``t`` (the nearest turn when ``t`` is in a pause)."""
        best = min(
            self.turns,
            key=lambda turn: (
                0.0 if turn.start <= t <= turn.end else min(abs(t - turn.start), abs(t - turn.end))
            ),
        )
        return best.speaker


def make_dialogue(
    lines: list[tuple[str, str]],
    path: Path,
    pause_s: float = 0.8,
    lead_s: float = 0.5,
) -> Dialogue:
    """Concatenate ``(voice, text)`` lines with ``pause_s`` of silence between turns."""
    parts: list[npt.NDArray[np.float32]] = [np.zeros(int(lead_s * SR), dtype=np.float32)]
    turns: list[Turn] = []
    pos = len(parts[0])
    for i, (voice, text) in enumerate(lines):
        if i and pause_s > 0:
            gap = np.zeros(int(pause_s * SR), dtype=np.float32)
            parts.append(gap)
            pos += len(gap)
        u = synth(text, voice)
        turns.append(Turn(voice, text, pos / SR, (pos + len(u)) / SR))
        parts.append(u)
        pos += len(u)
    parts.append(np.zeros(int(lead_s * SR), dtype=np.float32))
    audio = np.concatenate(parts).astype(np.float32)
    write_wav(path, audio)
    return Dialogue(audio, turns, path)


def write_wav(path: Path, audio: npt.NDArray[np.float32], rate: int = SR) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


_NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}


def normalize_words(text: str) -> list[str]:
    """Lower case, no punctuation, hyphens split: the token list that WER compares."""
    text = text.lower().replace("-", " ")
    words = re.findall(r"[a-z0-9']+", text)
    return [_NUMBERS.get(w, w).strip("'") for w in words if w.strip("'")]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level Levenshtein distance over the reference length."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


def true_label_map(d: Dialogue, result: Diarization) -> dict[str, str]:
    """The optimal one-to-one map from speaker labels to true voices, by word counts."""
    from scipy.optimize import linear_sum_assignment

    words = [w for w in result.transcript.words if w.start is not None and w.end is not None]
    labels = sorted({w.speaker for w in words if w.speaker})
    truth = sorted({t.speaker for t in d.turns})
    counts = np.zeros((len(labels), len(truth)))
    for w in words:
        assert w.start is not None and w.end is not None
        counts[labels.index(str(w.speaker)), truth.index(d.speaker_at((w.start + w.end) / 2))] += 1
    rows, cols = linear_sum_assignment(-counts)
    return {labels[r]: truth[c] for r, c in zip(rows, cols, strict=True)}


def speaker_accuracy(d: Dialogue, result: Diarization) -> float:
    """Share of timed words whose (optimally mapped) label is the true speaker."""
    mapping = true_label_map(d, result)
    words = [w for w in result.transcript.words if w.start is not None and w.end is not None]
    right = sum(
        1
        for w in words
        if w.start is not None
        and w.end is not None
        and mapping.get(str(w.speaker)) == d.speaker_at((w.start + w.end) / 2)
    )
    return right / len(words)


# Dialogue texts: no digits, clear sentences, each speaker introduces themselves once.
DIALOGUE_PAUSED: list[tuple[str, str]] = [
    ("A", "Hello and welcome to the show. I'm Thomas, and I will be your host today."),
    ("B", "Thanks for having me. My name is Maria, and I work on speech recognition."),
    ("A", "Let's talk about podcasts. Why would anyone want a transcript of an episode?"),
    (
        "B",
        "A transcript makes every episode searchable, and it helps people who cannot "
        "listen to the audio.",
    ),
    ("A", "That makes sense. How do you know which person is speaking at any moment?"),
    (
        "B",
        "We compare the voice in short windows of sound, and we group the windows "
        "that sound alike.",
    ),
    ("A", "And then you give every word in the transcript a speaker label."),
    ("B", "Exactly. The labels become real names when people introduce themselves."),
    ("A", "Thank you so much for joining me today."),
    ("B", "It was a pleasure. Goodbye everyone."),
]

DIALOGUE_CONTINUOUS: list[tuple[str, str]] = [
    ("B", "Good morning. This is the second episode, and we are back in the studio."),
    ("A", "Today we are going to discuss captions for video and the web."),
    ("B", "Captions need good timing, so each line appears when the words are spoken."),
    ("A", "Short lines are easier to read than long paragraphs on a small screen."),
    ("B", "We also want to keep the names of the speakers on every line."),
    ("A", "I agree. Readers should always know who is talking."),
    ("B", "Then let us finish here and publish the episode tomorrow morning."),
    ("A", "Sounds great. See you next week."),
]

# Speech by voice A alone, with text that appears in neither dialogue (for enrolment).
SOLO_A = (
    "I record a new episode every week from my small office near the river. "
    "The microphone sits on a stand, and I try to speak slowly and clearly."
)

# Voice B alone (enrolment of a second host).
SOLO_B = (
    "Every morning I read the news before breakfast and write down ideas for the show. "
    "Later I call our guests and ask them what they would like to talk about."
)

# Host A with guest C; the host never introduces himself, the guest does.
DIALOGUE_GUEST: list[tuple[str, str]] = [
    ("A", "Hello and welcome to the show. Today I have a guest with me in the studio."),
    ("C", "Thanks for having me. My name is Daniel, and I build tools for speech."),
    ("A", "Let's talk about captions. Why do podcasts need them at all?"),
    ("C", "Captions help people who cannot listen, and they make every episode searchable."),
    ("A", "How do you decide who is speaking at any moment?"),
    ("C", "We compare short windows of sound and group the windows that sound alike."),
    ("A", "Thank you so much for joining me today."),
    ("C", "It was a pleasure. Goodbye everyone."),
]
