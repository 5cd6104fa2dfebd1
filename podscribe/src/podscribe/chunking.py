"""Energy-based speech/silence detection and splitting long audio at silences.

Pure numpy and deterministic. Frames of 20 ms get a level in dBFS; a frame is silent
when it is below an adaptive threshold derived from the recording's own noise floor and
loudness. Long audio is cut into chunks of about ``target_s`` seconds, each cut in the
middle of the longest silence found within ``search_s`` seconds of the target point.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
FRAME_S = 0.02
_FLOOR_DB = -100.0

Span = tuple[float, float]


def frame_levels(
    audio: npt.ArrayLike, frame_s: float = FRAME_S, sample_rate: int = SAMPLE_RATE
) -> npt.NDArray[np.float64]:
    """RMS level in dBFS of consecutive non-overlapping frames (the tail is one more frame)."""
    x = np.asarray(audio)
    n = max(1, round(frame_s * sample_rate))
    frames = -(-len(x) // n)
    if frames == 0:
        return np.zeros(0)
    # a block of whole frames at a time: a memory-mapped episode is never copied whole
    power = np.empty(frames)
    step = n * max(1, 960_000 // n)
    for i in range(0, len(x), step):
        block = np.asarray(x[i : i + step], dtype=np.float64)
        whole = len(block) // n
        f0 = i // n
        if whole:
            power[f0 : f0 + whole] = np.mean(block[: whole * n].reshape(whole, n) ** 2, axis=1)
        if len(block) % n:  # the last frame's mean over its real samples only
            power[f0 + whole] = float(np.mean(block[whole * n :] ** 2))
    levels: npt.NDArray[np.float64] = 10.0 * np.log10(np.maximum(power, 10 ** (_FLOOR_DB / 10)))
    return levels


def silence_threshold(levels: npt.NDArray[np.float64]) -> float:
    """An adaptive silence threshold in dBFS for the given frame levels.

    A quarter of the way from the noise floor (10th percentile) to the speech level
    (95th percentile), but never more than 40 dB below the speech level and never
    below -70 dBFS.
    """
    if levels.size == 0:
        return _FLOOR_DB
    floor = float(np.percentile(levels, 10))
    loud = float(np.percentile(levels, 95))
    return max(floor + 0.25 * (loud - floor), loud - 40.0, -70.0)


def speech_mask(
    audio: npt.ArrayLike,
    frame_s: float = FRAME_S,
    threshold_db: float | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> npt.NDArray[np.bool_]:
    """Per-frame speech flags (True = above the silence threshold)."""
    levels = frame_levels(audio, frame_s, sample_rate)
    thr = silence_threshold(levels) if threshold_db is None else threshold_db
    mask: npt.NDArray[np.bool_] = levels > thr
    return mask


def _runs(mask: npt.NDArray[np.bool_], value: bool) -> list[tuple[int, int]]:
    """Half-open index ranges where ``mask == value``."""
    m = np.concatenate(([False], mask == value, [False])).astype(np.int8)
    d = np.diff(m)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def silences(
    audio: npt.ArrayLike,
    min_silence_s: float = 0.3,
    frame_s: float = FRAME_S,
    threshold_db: float | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> list[Span]:
    """Silent stretches of at least ``min_silence_s`` seconds, as (start_s, end_s)."""
    x = np.asarray(audio)
    mask = speech_mask(x, frame_s, threshold_db, sample_rate)
    dur = len(x) / sample_rate
    min_frames = max(1, int(np.ceil(min_silence_s / frame_s - 1e-9)))
    return [
        (s * frame_s, min(dur, e * frame_s)) for s, e in _runs(mask, False) if e - s >= min_frames
    ]


def speech_spans(
    audio: npt.ArrayLike,
    min_silence_s: float = 0.3,
    min_speech_s: float = 0.1,
    frame_s: float = FRAME_S,
    sample_rate: int = SAMPLE_RATE,
) -> list[Span]:
    """Speech regions: the complement of silences of ``min_silence_s`` or longer."""
    x = np.asarray(audio)
    dur = len(x) / sample_rate
    spans: list[Span] = []
    pos = 0.0
    for s, e in silences(x, min_silence_s, frame_s, None, sample_rate):
        if s - pos >= min_speech_s:
            spans.append((pos, s))
        pos = e
    if dur - pos >= min_speech_s:
        spans.append((pos, dur))
    return spans


def speech_only(
    audio: npt.ArrayLike,
    min_silence_s: float = 0.3,
    keep_s: float = 0.1,
    sample_rate: int = SAMPLE_RATE,
) -> npt.NDArray[np.float32]:
    """The audio with long silences removed (``keep_s`` kept at each speech edge)."""
    x = np.asarray(audio, dtype=np.float32)
    dur = len(x) / sample_rate
    pieces = [
        x[int(max(0.0, s - keep_s) * sample_rate) : int(min(dur, e + keep_s) * sample_rate)]
        for s, e in speech_spans(x, min_silence_s, sample_rate=sample_rate)
    ]
    return np.concatenate(pieces) if pieces else x[:0]


def chunk_spans(
    audio: npt.ArrayLike,
    target_s: float = 300.0,
    search_s: float = 30.0,
    min_silence_s: float = 0.3,
    sample_rate: int = SAMPLE_RATE,
) -> list[Span]:
    """Split audio into consecutive chunks of about ``target_s`` seconds, cutting at silences.

    Each cut is placed in the middle of the longest silence (of at least
    ``min_silence_s``) that lies within ``target_s +/- search_s`` of the chunk's start;
    ties go to the silence closest to the target. Only when that window holds no silence
    at all is the cut placed at its quietest 100 ms. A remainder shorter than
    ``target_s + search_s`` becomes the last chunk. The spans cover the whole audio
    without gaps or overlaps: ``[(0, c1), (c1, c2), ..., (cn, duration)]``.
    """
    if target_s <= 0 or search_s < 0:
        raise ValueError("target_s must be positive and search_s non-negative")
    x = np.asarray(audio)
    dur = len(x) / sample_rate
    if dur == 0:
        return []
    levels = frame_levels(x, FRAME_S, sample_rate)
    thr = silence_threshold(levels)
    mask = levels > thr
    min_frames = max(1, int(np.ceil(min_silence_s / FRAME_S - 1e-9)))
    quiet = [(s, e) for s, e in _runs(mask, False) if e - s >= min_frames]
    # Smoothed level for the fallback cut: mean over 100 ms.
    k = 5
    smooth = np.convolve(levels, np.ones(k) / k, mode="same")

    spans: list[Span] = []
    start = 0.0
    while dur - start > target_s + search_s:
        lo, hi = start + max(target_s - search_s, FRAME_S), start + target_s + search_s
        target = start + target_s
        best: tuple[float, float, float] | None = None  # (-length, distance, cut)
        for s, e in quiet:
            s_t, e_t = s * FRAME_S, e * FRAME_S
            # The part of this silence inside the search window.
            a, b = max(s_t, lo), min(e_t, hi)
            if b - a < min_silence_s:
                continue
            cut = (a + b) / 2.0
            key = (-(b - a), abs(cut - target), cut)
            if best is None or key < best:
                best = key
        if best is not None:
            cut = best[2]
        else:
            f_lo, f_hi = int(lo / FRAME_S), max(int(lo / FRAME_S) + 1, int(hi / FRAME_S))
            window = smooth[f_lo:f_hi]
            cut = (f_lo + int(np.argmin(window)) + 0.5) * FRAME_S
        cut = round(min(max(cut, start + FRAME_S), dur), 3)
        spans.append((start, cut))
        start = cut
    spans.append((start, dur))
    return spans


def slice_audio(
    audio: npt.NDArray[np.float32], span: Span, sample_rate: int = SAMPLE_RATE
) -> npt.NDArray[np.float32]:
    """The samples of ``audio`` inside ``span`` (seconds)."""
    a = round(span[0] * sample_rate)
    b = round(span[1] * sample_rate)
    return audio[max(0, a) : max(0, b)]
