#!/usr/bin/env bash
# One-command GPU check for podscribe, from the repository root of a machine with CUDA:
#
#     bench/gpu_check.sh [MODEL] [AUDIO]
#
# MODEL: a Whisper size name in the local cache or a CTranslate2 model directory
# (default: the packaged tiny.en). AUDIO: default podscribe/samples/episode.ogg, whose
# known text gives a WER. Prints, then exits non-zero if any check failed:
#   1. CTranslate2 sees a CUDA device (and nvidia-smi's view of it);
#   2. the model loads on CUDA with compute_type float16;
#   3. the same audio decoded sequentially and with faster-whisper's
#      BatchedInferencePipeline (batch 16): wall time, real-time factor, WER;
#   4. the whole pipeline (`podscribe transcribe`, asr.device = "cuda") on the audio,
#      with its per-step times.
# Uses .venv/bin/python when there is one (scripts/setup.sh makes it), else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
MODEL="${1:-tiny.en}"
AUDIO="${2:-podscribe/samples/episode.ogg}"

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi

"$PY" - "$MODEL" "$AUDIO" <<'EOF'
import json, sys, time
from pathlib import Path

import ctranslate2

model_arg, audio_path = sys.argv[1], sys.argv[2]
n = ctranslate2.get_cuda_device_count()
print(f"[1] CUDA devices seen by CTranslate2 {ctranslate2.__version__}: {n}")
if n == 0:
    sys.exit("FAIL: no CUDA device (check the driver and the CUDA/cuDNN libraries CTranslate2 needs)")

from faster_whisper import BatchedInferencePipeline, WhisperModel

from podscribe.asr import resolve_model
from podscribe.audio import load_audio

t0 = time.monotonic()
model = WhisperModel(resolve_model(model_arg), device="cuda", compute_type="float16", local_files_only=True)
print(f"[2] {model_arg} loaded on cuda/float16 in {time.monotonic() - t0:.1f} s")

audio = load_audio(audio_path)
duration = len(audio) / 16000
turns = Path("podscribe/samples/episode.turns.json")
reference = " ".join(t["text"] for t in json.loads(turns.read_text())) if audio_path.endswith("episode.ogg") else None


def wer(ref: str, hyp: str) -> float:
    import re
    r, h = re.findall(r"[a-z0-9']+", ref.lower()), re.findall(r"[a-z0-9']+", hyp.lower())
    prev = list(range(len(h) + 1))
    for i, a in enumerate(r, 1):
        cur = [i] + [0] * len(h)
        for j, b in enumerate(h, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b))
        prev = cur
    return prev[-1] / max(1, len(r))


opts = dict(language="en", beam_size=5, word_timestamps=True, vad_filter=True)
for label, run in (
    ("sequential", lambda: model.transcribe(audio, **opts)),
    ("batched x16", lambda: BatchedInferencePipeline(model).transcribe(audio, batch_size=16, **opts)),
):
    list(run()[0])  # warm-up (segments are decoded lazily)
    t0 = time.monotonic()
    segments, _info = run()
    text = " ".join(s.text.strip() for s in segments)
    wall = time.monotonic() - t0
    score = f", WER {wer(reference, text):.1%}" if reference else ""
    print(f"[3] {label:<12} {wall:6.2f} s for {duration:.0f} s of audio (real-time factor {wall / duration:.4f}{score})")
EOF

STATE="$(mktemp -d)"
trap 'rm -rf "$STATE"' EXIT
printf '[asr]\nmodel = "%s"\ndevice = "cuda"\ncompute_type = "float16"\n' "$MODEL" > "$STATE/gpu.toml"
echo "[4] the whole pipeline on the GPU:"
"$PY" -m podscribe.app.cli transcribe "$AUDIO" --config "$STATE/gpu.toml" --state-dir "$STATE/state" --out "$STATE/out" --plain
echo "gpu check passed"
