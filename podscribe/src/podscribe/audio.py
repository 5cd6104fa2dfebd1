"""Audio input: decode any common format to 16 kHz mono float32, with clear errors.

Decoding uses PyAV (FFmpeg libraries bundled in its wheels, installed with
faster-whisper), so no ``ffmpeg`` program is needed. Every failure is an
``AudioError`` whose message names the file and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
# Audio quieter than this (RMS, dB relative to full scale) is treated as silent. Real
# recordings sit around -40 to -15 dBFS; -60 dBFS is hiss or digital silence.
SILENCE_DBFS = -60.0

AudioArray = npt.NDArray[np.float32]
PathLike = str | os.PathLike[str]


class AudioError(ValueError):
    """The input is not usable audio: missing, not audio, empty or silent."""


@dataclass(frozen=True)
class AudioInfo:
    path: str
    duration: float  # seconds
    sample_rate: int  # of the first audio stream, before resampling
    channels: int
    codec: str
    container: str


#: samples handled at a time by the whole-file loops (1 minute at 16 kHz)
BLOCK = 960_000


def _dbfs(sum_squares: float, count: int) -> float:
    if count == 0 or sum_squares <= 0:
        return float("-inf")
    return 20.0 * float(np.log10(float(np.sqrt(sum_squares / count))))


def rms_dbfs(audio: npt.ArrayLike) -> float:
    """Loudness as RMS in dB relative to full scale (``-inf`` for all zeros or no samples).
    Computed a block at a time, so a memory-mapped episode is never copied whole."""
    x = np.asarray(audio)
    total = 0.0
    for i in range(0, x.size, BLOCK):
        block = np.asarray(x.reshape(-1)[i : i + BLOCK], dtype=np.float64)
        total += float(np.dot(block, block))
    return _dbfs(total, x.size)


def check_audio(
    audio: npt.ArrayLike, name: str = "audio", silence_dbfs: float = SILENCE_DBFS
) -> None:
    """Raise ``AudioError`` when decoded audio is empty or silent."""
    x = np.asarray(audio)
    if x.size == 0:
        raise AudioError(f"{name}: audio is empty (zero length, no samples)")
    level = rms_dbfs(x)
    if level < silence_dbfs:
        shown = "-inf" if level == float("-inf") else f"{level:.1f}"
        raise AudioError(
            f"{name}: audio is silent (RMS {shown} dBFS, below the {silence_dbfs:.0f} dBFS "
            "threshold)"
        )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")


def audio_info(path: PathLike) -> AudioInfo:
    """Duration and format of an audio file, read from its headers (no full decode)."""
    import av  # deferred: PyAV loads the FFmpeg libraries

    p = Path(path)
    _check_file(p)
    try:
        with av.open(str(p), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{p}: no audio stream in the file")
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000  # av.time_base
            else:
                duration = 0.0
            ctx = stream.codec_context
            return AudioInfo(
                path=str(p),
                duration=duration,
                sample_rate=int(ctx.sample_rate or 0),
                channels=int(ctx.channels or 0),
                codec=str(ctx.name),
                container=str(container.format.name),
            )
    except AudioError:
        raise
    except Exception as exc:  # PyAV raises many error types for unreadable input
        raise AudioError(f"{p}: not a readable audio file ({exc})") from exc


def load_audio(path: PathLike, *, silence_dbfs: float = SILENCE_DBFS) -> AudioArray:
    """Decode an audio (or video) file to 16 kHz mono float32 in [-1, 1].

    Raises ``AudioError`` if the file is missing, empty (0 bytes or no samples), not
    decodable audio, or silent (RMS below ``silence_dbfs``).
    """
    from faster_whisper.audio import decode_audio  # deferred: imports PyAV

    p = Path(path)
    _check_file(p)
    try:
        decoded = decode_audio(str(p), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises many error types for unreadable input
        raise AudioError(f"{p}: not a readable audio file ({exc})") from exc
    audio = np.ascontiguousarray(np.asarray(decoded, dtype=np.float32))
    check_audio(audio, str(p), silence_dbfs)
    return audio


@dataclass(frozen=True)
class DecodedFile:
    """Audio decoded to a ``.npy`` file: 16 kHz mono float32."""

    path: str
    samples: int
    sha256: str  # of the float32 samples' bytes
    level_dbfs: float


def decode_to_npy(
    path: PathLike, dest: PathLike, *, silence_dbfs: float = SILENCE_DBFS
) -> DecodedFile:
    """Decode an audio (or video) file to a 16 kHz mono float32 ``.npy`` file, streaming:
    memory stays at a few megabytes whatever the length. The samples are exactly
    :func:`load_audio`'s. Raises ``AudioError`` like :func:`load_audio`."""
    import hashlib

    import av

    p = Path(path)
    _check_file(p)
    raw = Path(str(dest) + ".raw")
    digest = hashlib.sha256()
    count, sum_squares = 0, 0.0
    try:
        resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        with av.open(str(p), mode="r", metadata_errors="ignore") as container, open(raw, "wb") as out:
            if not container.streams.audio:
                raise AudioError(f"{p}: no audio stream in the file")
            fifo = av.audio.fifo.AudioFifo()

            def write(frames: list[Any]) -> None:
                nonlocal count, sum_squares
                for frame in frames:
                    block = frame.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
                    data = block.tobytes()
                    digest.update(data)
                    out.write(data)
                    count += block.size
                    sum_squares += float(np.dot(block.astype(np.float64), block))

            for frame in _valid_frames(container.decode(audio=0)):
                frame.pts = None
                fifo.write(frame)
                if fifo.samples >= 500_000:
                    write(resampler.resample(fifo.read()))
            if fifo.samples > 0:
                write(resampler.resample(fifo.read()))
            write(resampler.resample(None))
    except AudioError:
        raw.unlink(missing_ok=True)
        raise
    except Exception as exc:  # PyAV raises many error types for unreadable input
        raw.unlink(missing_ok=True)
        raise AudioError(f"{p}: not a readable audio file ({exc})") from exc
    level = _dbfs(sum_squares, count)
    try:
        if count == 0:
            raise AudioError(f"{p}: audio is empty (zero length, no samples)")
        if level < silence_dbfs:
            shown = "-inf" if level == float("-inf") else f"{level:.1f}"
            raise AudioError(
                f"{p}: audio is silent (RMS {shown} dBFS, below the {silence_dbfs:.0f} dBFS threshold)"
            )
        with open(dest, "wb") as npy, open(raw, "rb") as src:
            header = {"descr": "<f4", "fortran_order": False, "shape": (count,)}
            np.lib.format.write_array_header_1_0(npy, header)
            while chunk := src.read(1 << 22):
                npy.write(chunk)
    finally:
        raw.unlink(missing_ok=True)
    return DecodedFile(str(dest), count, digest.hexdigest(), level)


def _valid_frames(frames: Any) -> Any:
    import av

    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def duration_of(audio: npt.ArrayLike, sample_rate: int = SAMPLE_RATE) -> float:
    """Length in seconds of a decoded waveform."""
    return float(np.asarray(audio).shape[0]) / sample_rate
