"""What every stage shares: the execution input, retry policies, the artifact store
cache and small helpers. Stage bodies are plain functions of keys and configs; each runs
inside one durable step (see :mod:`podscribe.pipeline`)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.retries import RetryDecision
from aws_durable_execution_sdk_python.serdes import JsonSerDes

from podscribe.artifacts import ArtifactStore, canonical_json
from podscribe.audio import AudioError
from podscribe.config import Config, ConfigError, parse_config

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


def audio_stem(audio: str) -> str:
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
        stem=audio_stem(audio),
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


def fatal_errors() -> tuple[type[BaseException], ...]:
    from podscribe.asr import ModelError
    from podscribe.encoder import EncoderError

    return (AudioError, ConfigError, InputError, ModelError, EncoderError, MemoryError)


# --------------------------------------------------------------------------------------
# shared helpers (run inside steps)


_stores: dict[str, ArtifactStore] = {}
_stores_lock = threading.Lock()


def store_for(url: str) -> ArtifactStore:
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = ArtifactStore(url)
        return store


def cached_json(
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


def load_audio_artifact(store: ArtifactStore, key: str) -> npt.NDArray[np.float32]:
    if store.local:
        arr = np.load(store.local_path(key), mmap_mode="r", allow_pickle=False)
    else:
        arr = np.load(io.BytesIO(store.get_bytes(key)), allow_pickle=False)
    return arr  # type: ignore[no-any-return]



def cpu_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)



def local_copy(url: str, workdir: str) -> str:
    """A local path for an audio URL (fsspec), downloaded into ``workdir``."""
    if "://" not in url:
        return url
    if url.startswith("file://"):
        return url[len("file://") :]
    import fsspec

    target = os.path.join(workdir, audio_stem(url) + "".join(PurePosixPath(url).suffixes[-1:]))
    try:
        with fsspec.open(url, "rb") as src, open(target, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    except FileNotFoundError:
        raise AudioError(f"{url}: file not found") from None
    return target


def now_s() -> float:
    return round(time.time(), 3)


# --------------------------------------------------------------------------------------
# stage bodies (plain functions of keys and configs; each runs inside one step)


def digest_of(*parts: Any) -> str:
    """A cache key part: SHA-256 (32 hex digits) of the parts as canonical JSON."""
    return hashlib.sha256(canonical_json(list(parts))).hexdigest()[:32]

