"""Peak memory of the stages that grow with episode length, on a multi-hour episode.

    python bench/long_episode.py [--hours 3] [--chunks 1] [--stages decode,transcribe,diarize] [--keep DIR]

Builds a synthetic episode of ``--hours`` (a two-voice espeak-ng dialogue of about two
minutes with known turns, repeated, written as Opus), then runs the pipeline's own stage
functions on it in this process, sampling the resident memory every 50 ms:

* ``decode``: decode the whole file to 16 kHz mono, store it, cut it into chunks;
* ``transcribe``: the first ``--chunks`` chunks (each chunk is one step; the others are
  the same work on other audio, so they are not all run here: on 2 CPU cores a 3-hour
  episode takes about 20 minutes to transcribe with tiny.en);
* ``diarize``: embeddings and clustering over the *whole* episode, with a transcript
  made from the known turns (words spread evenly over each turn).

Prints the peak per stage and overall. The target is under 1.5 GB for 3 hours.
Needs espeak-ng.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "podscribe" / "tests"))

LINES = [
    ("A", "Hello and welcome to the show. I'm Thomas, and this is a very long episode."),
    ("B", "Thanks for having me. My name is Maria, and I work on speech recognition."),
    ("A", "Let's talk about podcasts. Why would anyone want a transcript of an episode?"),
    ("B", "A transcript makes every episode searchable, and it helps people who cannot listen."),
    ("A", "How do you know which person is speaking at any moment in a recording?"),
    ("B", "We compare the voice in short windows of sound and group the windows that sound alike."),
    ("A", "And then every word in the transcript gets a speaker label, and later a name."),
    ("B", "Exactly. The labels become real names when people introduce themselves."),
]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.05)

    def __enter__(self) -> Sampler:
        self.peak = rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def build_episode(hours: float, workdir: Path) -> tuple[Path, list[tuple[float, float, str, str]]]:
    """An Opus file of ``hours`` and its turns ``(start, end, voice, text)``."""
    import av
    import speech

    block = speech.make_dialogue(LINES, workdir / "block.wav", pause_s=0.6)
    reps = max(1, round(hours * 3600 / (len(block.audio) / speech.SR)))
    turns = []
    length = len(block.audio) / speech.SR
    for r in range(reps):
        turns += [(t.start + r * length, t.end + r * length, t.speaker, t.text) for t in block.turns]
    path = workdir / "long.opus"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libopus", rate=48000)
        stream.layout = "mono"  # type: ignore[attr-defined]
        pcm = (np.clip(block.audio, -1, 1) * 32767).astype("<i2")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for _ in range(reps):
            frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
            frame.sample_rate = speech.SR
            for f in resampler.resample(frame):
                for packet in stream.encode(f):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path, turns


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--chunks", type=int, default=1, help="chunks to transcribe (default 1)")
    ap.add_argument("--stages", default="decode,transcribe,diarize", help="comma-separated subset (decode always runs)")
    ap.add_argument("--keep", type=Path, help="keep the episode and artifacts here")
    args = ap.parse_args()

    from podscribe.stages.common import parse_input
    from podscribe.stages.speech import decode_stage, diarize_stage, transcribe_stage
    from podscribe.transcript import Segment, Transcript, Word

    tmp = tempfile.TemporaryDirectory()
    work = args.keep or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    saved = work / f"long-{args.hours:g}h.json"
    if args.keep and saved.is_file():  # reuse the episode built by an earlier run
        path, turns = work / "long.opus", [tuple(t) for t in json.loads(saved.read_text())]
    else:
        path, turns = build_episode(args.hours, work)
        saved.write_text(json.dumps(turns))
    print(f"episode: {turns[-1][1] / 3600:.2f} h, {len(turns)} turns, {path.stat().st_size / 1e6:.0f} MB Opus "
          f"(built in {time.monotonic() - t0:.0f} s); baseline RSS {rss_mb():.0f} MB", flush=True)
    p = parse_input({"audio": str(path), "artifacts": str(work / "artifacts"), "config": {}, "run_id": "ps-long"})
    peaks: dict[str, float] = {}

    with Sampler() as s:
        t0 = time.monotonic()
        decoded = decode_stage(p)
    peaks["decode"] = s.peak
    print(f"decode      {time.monotonic() - t0:6.0f} s  peak RSS {s.peak:6.0f} MB  ({len(decoded['spans'])} chunks)", flush=True)

    stages = set(args.stages.split(","))
    with Sampler() as s:
        t0 = time.monotonic()
        for i, span in enumerate(decoded["spans"][: args.chunks if "transcribe" in stages else 0]):
            transcribe_stage(p, decoded, i, span)
    peaks["transcribe"] = s.peak
    print(f"transcribe  {time.monotonic() - t0:6.0f} s  peak RSS {s.peak:6.0f} MB  ({args.chunks} chunk(s) of {len(decoded['spans'])})", flush=True)

    if "diarize" not in stages:
        print(f"peak RSS over the stages: {max(peaks.values()):.0f} MB for {turns[-1][1] / 3600:.2f} h of audio")
        tmp.cleanup()
        return 0
    segments = []
    for start, end, _voice, text in turns:
        tokens = text.split()
        step = (end - start) / len(tokens)
        words = [Word(w, start + k * step, start + (k + 1) * step) for k, w in enumerate(tokens)]
        segments.append(Segment(start, end, text, words))
    store = __import__("podscribe.artifacts", fromlist=["ArtifactStore"]).ArtifactStore(p.artifacts)
    store.put_transcript("runs/ps-long/transcript.asr.json", Transcript(segments, duration=turns[-1][1]))
    merged = {"key": "runs/ps-long/transcript.asr.json", "sha": "long"}
    with Sampler() as s:
        t0 = time.monotonic()
        diarized = diarize_stage(p, decoded, merged)
    peaks["diarize"] = s.peak
    print(f"diarize     {time.monotonic() - t0:6.0f} s  peak RSS {s.peak:6.0f} MB  ({len(diarized['speakers'])} speakers)", flush=True)
    print(f"peak RSS over the stages: {max(peaks.values()):.0f} MB for {turns[-1][1] / 3600:.2f} h of audio")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
