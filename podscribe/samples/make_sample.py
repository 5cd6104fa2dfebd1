#!/usr/bin/env python3
"""Generate samples/episode.ogg: a short synthetic two-host podcast episode.

Two espeak-ng voices, "Eoin" (US English, low pitch) and "Luciano" (British English,
female variant, high pitch), introduce themselves and talk about podcast transcription.
Every utterance is synthesised on its own, trimmed, resampled to 16 kHz and joined with
short pauses, then encoded as Opus in Ogg (about 24 kbit/s) with PyAV. The turn times
are written to samples/episode.turns.json as ground truth.

Needs: espeak-ng (apt-get install espeak-ng), numpy, scipy and av (installed with
faster-whisper). Run from anywhere: ``python podscribe/samples/make_sample.py``.
The output is deterministic for a given espeak-ng version.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

HERE = Path(__file__).resolve().parent
SR = 16000
VOICES = {
    "Eoin": ["-v", "en-us", "-p", "35", "-s", "160"],
    "Luciano": ["-v", "en-gb+f3", "-p", "70", "-s", "150"],
}
SCRIPT: list[tuple[str, str]] = [
    ("Eoin", "Hello and welcome to the podcast. I'm Eoin, and I am here with my co-host."),
    ("Luciano", "Hi everyone, my name is Luciano. Today we are talking about transcription."),
    ("Eoin", "Every episode we publish needs a transcript, and captions for the video."),
    ("Luciano", "Doing that by hand takes hours. So we built a pipeline that does it for us."),
    ("Eoin", "First the audio is turned into text by a speech recognition model."),
    ("Luciano", "The model also gives us a time for every single word."),
    ("Eoin", "Then we find out who is speaking, by comparing the sound of our voices."),
    ("Luciano", "And the names come from the introductions at the start of the show."),
    ("Eoin", "After that, a set of rules fixes words that the model often gets wrong."),
    ("Luciano", "Finally we split the text into short captions that are easy to read."),
    ("Luciano", "We also keep a library of voices, so the pipeline knows us in every episode."),
    ("Eoin", "And it all runs on a laptop, with no internet connection at all."),
    ("Eoin", "That is all for today. Thanks for listening, and see you next time."),
    ("Luciano", "Bye everyone."),
]
PAUSE_S = 0.6
LEAD_S = 0.5


def synth(text: str, speaker: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "u.wav"
        subprocess.run(
            ["espeak-ng", *VOICES[speaker], "-w", str(out), text], check=True, capture_output=True
        )
        with wave.open(str(out), "rb") as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    x = pcm.astype(np.float32) / 32768.0
    g = np.gcd(rate, SR)
    x = resample_poly(x, SR // g, rate // g).astype(np.float32)
    loud = np.flatnonzero(np.abs(x) > 2e-3)
    trimmed: np.ndarray = x[loud[0] : loud[-1] + 1]
    return trimmed


def encode_ogg_opus(audio: np.ndarray, path: Path, bitrate: int = 24000) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    with av.open(str(path), mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=SR)
        stream.bit_rate = bitrate
        stream.layout = "mono"
        frame_len = 320  # 20 ms
        pts = 0
        for start in range(0, len(pcm), frame_len):
            chunk = pcm[start : start + frame_len]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
            frame.sample_rate = SR
            frame.pts = pts
            frame.time_base = Fraction(1, SR)
            pts += len(chunk)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main() -> None:
    parts = [np.zeros(int(LEAD_S * SR), dtype=np.float32)]
    pos = len(parts[0])
    turns = []
    for i, (speaker, text) in enumerate(SCRIPT):
        if i:
            parts.append(np.zeros(int(PAUSE_S * SR), dtype=np.float32))
            pos += int(PAUSE_S * SR)
        u = synth(text, speaker)
        turns.append(
            {
                "speaker": speaker,
                "start": round(pos / SR, 3),
                "end": round((pos + len(u)) / SR, 3),
                "text": text,
            }
        )
        parts.append(u)
        pos += len(u)
    parts.append(np.zeros(int(LEAD_S * SR), dtype=np.float32))
    audio = np.concatenate(parts)
    encode_ogg_opus(audio, HERE / "episode.ogg")
    (HERE / "episode.turns.json").write_text(json.dumps(turns, indent=1) + "\n")
    print(
        f"wrote {HERE / 'episode.ogg'}: {len(audio) / SR:.1f} s, "
        f"{(HERE / 'episode.ogg').stat().st_size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
