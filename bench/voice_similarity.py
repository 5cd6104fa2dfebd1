"""Voiceprint similarities: same speaker versus different speakers, to set
``speakers.voice_threshold``.

    python bench/voice_similarity.py                 # espeak-ng voices (needs espeak-ng)
    python bench/voice_similarity.py --dir SPEAKERS  # real recordings: SPEAKERS/NAME/*.wav

With ``--dir``, each sub-directory is one speaker and each audio file one recording
(any format FFmpeg reads; a few seconds to a minute each). Every recording is embedded
the way the pipeline embeds a diarized speaker (``podscribe.voices.embed_voice``) and
every pair is compared: the figures printed are the cosine similarities of pairs of
recordings by the same speaker and by different speakers, and the threshold that would
separate them on this data.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "podscribe" / "tests"))

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm"}

TEXTS = [
    "Hello and welcome to the show. Today we talk about how captions are made for podcasts.",
    "The weather was cold this morning, so I took the bus instead of riding my bicycle to work.",
    "A good transcript makes every episode searchable and helps people who cannot listen.",
]

ESPEAK_VOICES = {
    "us-low": ["-v", "en-us", "-p", "35", "-s", "160"],
    "gb-f3-high": ["-v", "en-gb+f3", "-p", "70", "-s", "150"],
    "us-m3": ["-v", "en-us+m3", "-p", "50", "-s", "175"],
    "gb-low": ["-v", "en-gb", "-p", "40", "-s", "165"],
    "us-f2": ["-v", "en-us+f2", "-p", "60", "-s", "155"],
}


def espeak_recordings() -> dict[str, list[np.ndarray]]:
    from podscribe.audio import load_audio

    out: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in ESPEAK_VOICES.items():
            for k, text in enumerate(TEXTS):
                path = Path(tmp) / f"{name}-{k}.wav"
                subprocess.run(["espeak-ng", *args, "-w", str(path), text], check=True, capture_output=True)
                out.setdefault(name, []).append(load_audio(path))
    return out


def dir_recordings(root: Path) -> dict[str, list[np.ndarray]]:
    from podscribe.audio import load_audio

    out: dict[str, list[np.ndarray]] = {}
    for speaker in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(speaker.iterdir()):
            if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES:
                out.setdefault(speaker.name, []).append(load_audio(f))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, help="one sub-directory of recordings per speaker")
    args = ap.parse_args()
    from podscribe.voices import embed_voice

    recordings = dir_recordings(args.dir) if args.dir else espeak_recordings()
    source = str(args.dir) if args.dir else f"espeak-ng, {len(ESPEAK_VOICES)} voices x {len(TEXTS)} sentences"
    emb = {(name, k): embed_voice(a) for name, clips in recordings.items() for k, a in enumerate(clips)}
    same, diff = [], []
    for (a, ea), (b, eb) in itertools.combinations(emb.items(), 2):
        sim = float(np.dot(ea, eb) / (np.linalg.norm(ea) * np.linalg.norm(eb)))
        (same if a[0] == b[0] else diff).append(sim)
    print(f"data: {source}")
    for label, xs in (("same speaker", same), ("different speakers", diff)):
        if xs:
            q = np.percentile(xs, [0, 5, 50, 95, 100])
            print(f"{label:<19} pairs {len(xs):4d}  min {q[0]:.3f}  p5 {q[1]:.3f}  median {q[2]:.3f}  p95 {q[3]:.3f}  max {q[4]:.3f}")
    if same and diff:
        print(f"separating threshold on this data: above {max(diff):.3f} (highest different pair), "
              f"at most {min(same):.3f} (lowest same pair)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
