"""Speaker diarization without a model hub: windows, embeddings, clustering, words.

1. Speech windows: 1.5 s windows every 0.5 s inside speech regions (energy based);
   windows never span a pause, and a short region gets one shorter window.
2. Embeddings: the Resemblyzer speaker encoder in numpy (``podscribe.encoder``).
3. Clustering: spectral clustering of the mean-centred embeddings. The speaker count
   within ``[min_speakers, max_speakers]`` is chosen by the normalised maximum eigengap
   of a pruned cosine-affinity graph (NME-SC, Park et al., IEEE SPL 2019), which also
   recognises a single speaker; windows are grouped by Ward linkage on the spectral
   embedding.
4. Smoothing: windows are re-assigned to the nearest centroid with their neighbours'
   similarities mixed in, and speakers left with almost no windows are merged away.
5. Words: each timed word takes the speaker whose windows best match its span; untimed
   words take their neighbours' speaker. Segments are split at speaker changes and
   labelled ``SPEAKER_00``, ``SPEAKER_01``... in order of first appearance.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from podscribe import encoder
from podscribe.chunking import FRAME_S, speech_spans
from podscribe.transcript import Segment, Transcript, Word, join_words

SAMPLE_RATE = 16000
MAX_CLUSTER_WINDOWS = 900  # cluster at most this many windows (even subsample beyond)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass
class Diarization:
    """The diarized transcript plus what the voice library needs."""

    transcript: Transcript
    centroids: dict[str, FloatArray] = field(default_factory=dict)  # label -> unit vector
    turns: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, label)
    num_speakers: int = 0
    silhouette: float | None = None  # of the chosen clustering; None for one speaker


def speaker_label(index: int) -> str:
    return f"SPEAKER_{index:02d}"


# --------------------------------------------------------------------------------------
# Clustering
# --------------------------------------------------------------------------------------


def _unit(x: FloatArray) -> FloatArray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: FloatArray = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def silhouette(emb: FloatArray, labels: IntArray) -> float:
    """Mean silhouette coefficient with cosine distance (0 when fewer than 2 clusters)."""
    uniq = np.unique(labels)
    if len(uniq) < 2 or len(labels) <= len(uniq):
        return 0.0
    x = _unit(emb)
    dist = 1.0 - x @ x.T
    n = len(labels)
    per_cluster = np.stack([dist[:, labels == c].sum(axis=1) for c in uniq], axis=1)
    counts = np.array([(labels == c).sum() for c in uniq], dtype=np.float64)
    own = np.searchsorted(uniq, labels)
    a_count = counts[own] - 1
    a = np.where(a_count > 0, per_cluster[np.arange(n), own] / np.maximum(a_count, 1), 0.0)
    mean_other = per_cluster / counts[None, :]
    mean_other[np.arange(n), own] = np.inf
    b = mean_other.min(axis=1)
    s = np.where(a_count > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def _centroids(emb: FloatArray, labels: IntArray, k: int) -> FloatArray:
    return _unit(np.stack([emb[labels == c].mean(axis=0) for c in range(k)]))


def _relabel(labels: IntArray) -> tuple[IntArray, int]:
    """Map cluster ids to 0..k-1 in order of first appearance."""
    mapping: dict[int, int] = {}
    for c in labels.tolist():
        mapping.setdefault(int(c), len(mapping))
    out: IntArray = np.array([mapping[int(c)] for c in labels], dtype=np.int64)
    return out, len(mapping)


def _pruning_grid(n: int, steps: int = 16) -> list[int]:
    """Candidate neighbour counts ``p`` for the binarised affinity (about 5% to 35% of n)."""
    lo = max(2, n // 20)
    hi = max(lo + 1, n * 35 // 100)
    return sorted({round(v) for v in np.linspace(lo, hi, steps)})


def _binarised_laplacian(affinity: npt.NDArray[np.float64], p: int) -> npt.NDArray[np.float64]:
    """Unnormalised Laplacian of the symmetrised top-``p``-neighbours graph."""
    n = len(affinity)
    top = np.argsort(-affinity, axis=1, kind="stable")[:, :p]
    graph = np.zeros((n, n))
    np.put_along_axis(graph, top, 1.0, axis=1)
    graph = (graph + graph.T) / 2.0
    out: npt.NDArray[np.float64] = np.diag(graph.sum(axis=1)) - graph
    return out


def _low_spectrum(
    lap: npt.NDArray[np.float64], top_k: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
    """The ``top_k + 1`` smallest eigenpairs and the largest eigenvalue of ``lap``."""
    from scipy.linalg import LinAlgError, eigh

    n = len(lap)
    try:
        lam, vec = eigh(lap, subset_by_index=[0, top_k], driver="evx")
        top = eigh(lap, eigvals_only=True, subset_by_index=[n - 1, n - 1], driver="evx")
        return lam, vec, float(top[0])
    except LinAlgError:  # degenerate spectra (disconnected graphs): full decomposition
        lam, vec = np.linalg.eigh(lap)
        return lam[: top_k + 1], vec[:, : top_k + 1], float(lam[-1])


def estimate_speakers(
    emb: FloatArray, min_speakers: int = 1, max_speakers: int = 8
) -> tuple[int, npt.NDArray[np.float64]]:
    """Speaker count by the normalised maximum eigengap (NME-SC, Park et al. 2019).

    The cosine affinity of the (mean-centred) embeddings is binarised to each window's
    ``p`` nearest neighbours and symmetrised. For every ``p`` on a grid, the largest gap
    between consecutive Laplacian eigenvalues (among the first ``max_speakers + 1``),
    divided by the largest eigenvalue, measures how clearly the graph falls into groups;
    ``p`` minimising ``p / gap`` is kept and the count is the position of its largest gap
    within ``[min_speakers, max_speakers]``. A single speaker shows up as a large first
    gap (one tightly connected graph). Returns the count and the spectral embedding
    (eigenvectors of the chosen Laplacian, smallest first) for clustering.
    """
    n = len(emb)
    x = _unit(np.asarray(emb, dtype=np.float32))
    # Centre on the recording's mean voice: what all windows share (channel, language,
    # the encoder's positive bias) says nothing about who is speaking.
    c = _unit(x - x.mean(axis=0)).astype(np.float64)
    affinity = c @ c.T
    top_k = min(max_speakers, n - 1)
    lo = max(0, min_speakers - 1)
    best: tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None
    for p in _pruning_grid(n):
        lap = _binarised_laplacian(affinity, p)
        lam, vec, lam_max = _low_spectrum(lap, top_k)
        gaps = np.diff(lam)
        if lo >= len(gaps):
            continue
        gap = float(gaps[lo:].max()) / (lam_max + 1e-10)
        ratio = p / (gap + 1e-10)
        if best is None or ratio < best[0] - 1e-9:
            best = (ratio, gaps, vec)
    if best is None:
        return max(1, min(min_speakers, n)), np.zeros((n, 0))
    _, gaps, vec = best
    k = lo + int(np.argmax(gaps[lo:])) + 1
    return min(max(k, min_speakers), max_speakers), vec


def cluster_embeddings(
    emb: FloatArray, min_speakers: int = 1, max_speakers: int = 8
) -> tuple[IntArray, float | None]:
    """Cluster window embeddings; returns labels 0..k-1 (first appearance) and silhouette.

    The count comes from ``estimate_speakers``; windows are then grouped by Ward linkage
    on their row-normalised spectral embedding (deterministic, no random start).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    if min_speakers < 1 or max_speakers < min_speakers:
        raise ValueError("need 1 <= min_speakers <= max_speakers")
    n = len(emb)
    if n == 0:
        return np.zeros(0, dtype=np.int64), None
    if n < 4 or max_speakers == 1:
        return np.zeros(n, dtype=np.int64), None
    k, vec = estimate_speakers(emb, min_speakers, max_speakers)
    if k <= 1:
        return np.zeros(n, dtype=np.int64), None
    spectral = vec[:, :k]
    spectral = spectral / np.maximum(np.linalg.norm(spectral, axis=1, keepdims=True), 1e-12)
    tree = linkage(spectral, method="ward")
    labels = fcluster(tree, k, criterion="maxclust").astype(np.int64) - 1
    labels, k = _relabel(labels)
    return labels, silhouette(np.asarray(emb, dtype=np.float32), labels)


def _smooth_labels(
    emb: FloatArray,
    labels: IntArray,
    times: FloatArray,
    min_speakers: int,
    iterations: int = 3,
) -> tuple[IntArray, FloatArray]:
    """Re-assign windows to centroids using neighbour context; merge near-empty speakers."""
    x = _unit(emb)
    k = int(labels.max()) + 1 if len(labels) else 0
    for _ in range(iterations):
        if k == 0:
            break
        cents = _centroids(x, labels, k)
        sims = x @ cents.T
        # Mix in the adjacent windows when they are contiguous in time.
        mixed = sims.copy()
        if len(x) > 1:
            adjacent = (times[1:, 0] - times[:-1, 1]) <= 0.0
            w = np.where(adjacent, 0.5, 0.0)[:, None]
            mixed[1:] += w * sims[:-1]
            mixed[:-1] += w * sims[1:]
        new = np.argmax(mixed, axis=1).astype(np.int64)
        counts = np.bincount(new, minlength=k)
        # A speaker with fewer than 2 windows (or under 2% of windows) is noise.
        tiny = [c for c in range(k) if counts[c] < max(2, 0.02 * len(new))]
        if tiny and k - len(tiny) >= max(1, min_speakers):
            keep = [c for c in range(k) if c not in tiny]
            new = np.array(keep, dtype=np.int64)[np.argmax(mixed[:, keep], axis=1)]
        new, k = _relabel(new)
        if np.array_equal(new, labels):
            break
        labels = new
    cents = _centroids(x, labels, k) if k else np.zeros((0, x.shape[1]), dtype=np.float32)
    return labels, cents


# --------------------------------------------------------------------------------------
# Assigning words
# --------------------------------------------------------------------------------------


def _score_track(
    times: FloatArray, sims: FloatArray, duration: float, step: float = FRAME_S
) -> FloatArray:
    """Per-step speaker scores: window similarities spread with triangular weights."""
    n_steps = max(1, int(np.ceil(duration / step)))
    acc = np.zeros((n_steps, sims.shape[1]), dtype=np.float64)
    weight = np.zeros(n_steps, dtype=np.float64)
    grid = (np.arange(n_steps) + 0.5) * step
    for (a, b), s in zip(times, sims, strict=True):
        i0, i1 = int(a / step), min(n_steps, int(np.ceil(b / step)))
        if i1 <= i0:
            continue
        centre, half = (a + b) / 2.0, max((b - a) / 2.0, 1e-6)
        w = np.clip(1.0 - np.abs(grid[i0:i1] - centre) / half, 0.05, None)
        acc[i0:i1] += w[:, None] * s[None, :]
        weight[i0:i1] += w
    covered = weight > 0
    acc[covered] /= weight[covered, None]
    if not covered.all() and covered.any():
        # Fill uncovered steps from the nearest covered step.
        idx = np.flatnonzero(covered)
        pos = np.searchsorted(idx, np.arange(n_steps))
        left = idx[np.clip(pos - 1, 0, len(idx) - 1)]
        right = idx[np.clip(pos, 0, len(idx) - 1)]
        here = np.arange(n_steps)
        nearest = np.where(np.abs(here - left) <= np.abs(right - here), left, right)
        acc[~covered] = acc[nearest[~covered]]
    out: FloatArray = acc.astype(np.float32)
    return out


def _word_speakers(words: list[Word], track: FloatArray, step: float = FRAME_S) -> list[int]:
    """Index of the best speaker per word (-1 for untimed words)."""
    out: list[int] = []
    n = len(track)
    for w in words:
        if w.start is None or w.end is None or n == 0:
            out.append(-1)
            continue
        i0 = min(n - 1, max(0, int(w.start / step)))
        i1 = min(n, max(i0 + 1, int(np.ceil(w.end / step))))
        out.append(int(np.argmax(track[i0:i1].mean(axis=0))))
    # Untimed words take the previous word's speaker, else the next one's.
    for i in range(len(out)):
        if out[i] < 0 and i > 0:
            out[i] = out[i - 1]
    for i in range(len(out) - 1, -1, -1):
        if out[i] < 0 and i + 1 < len(out):
            out[i] = out[i + 1]
    return [max(0, s) for s in out]


def _segment_text(words: list[Word]) -> str:
    return join_words(w.word for w in words)


def assign_word_speakers(transcript: Transcript, word_labels: list[str | None]) -> Transcript:
    """A copy of ``transcript`` with the given per-word speakers, split at speaker changes.

    ``word_labels`` follows ``transcript.words`` order. Segment speakers are the majority
    (by duration) of their words; segments are split where the speaker changes.
    """
    out = copy.deepcopy(transcript)
    it = iter(word_labels)
    segments: list[Segment] = []
    for seg in out.segments:
        if not seg.words:
            segments.append(seg)
            continue
        for w in seg.words:
            w.speaker = next(it)
        runs: list[list[Word]] = []
        for w in seg.words:
            if runs and runs[-1][-1].speaker == w.speaker:
                runs[-1].append(w)
            else:
                runs.append([w])
        if len(runs) == 1:
            seg.speaker = runs[0][0].speaker
            segments.append(seg)
            continue
        for run in runs:
            timed = [w for w in run if w.timed]
            start = timed[0].start if timed and timed[0].start is not None else seg.start
            end = timed[-1].end if timed and timed[-1].end is not None else seg.end
            segments.append(
                Segment(
                    start=start, end=end, text=_segment_text(run), words=run, speaker=run[0].speaker
                )
            )
    # Segments without words get the speaker of the nearest segment in time.
    labelled = [s for s in segments if s.speaker is not None]
    for s in segments:
        if s.speaker is None and labelled:
            s.speaker = min(
                labelled, key=lambda o: abs((o.start + o.end) - (s.start + s.end))
            ).speaker
    out.segments = segments
    return out


def _majority_fix(
    words: list[Word],
    labels: list[int],
    track: FloatArray,
    step: float = FRAME_S,
    min_run_s: float = 0.6,
) -> list[int]:
    """Absorb implausibly short speaker runs (under ``min_run_s``) into a neighbour run."""
    if not labels:
        return labels
    labels = list(labels)
    changed = True
    while changed:
        changed = False
        runs: list[tuple[int, int]] = []
        start = 0
        for i in range(1, len(labels) + 1):
            if i == len(labels) or labels[i] != labels[start]:
                runs.append((start, i))
                start = i
        if len(runs) < 2:
            break
        for r, (a, b) in enumerate(runs):
            t0 = next((w.start for w in words[a:b] if w.start is not None), None)
            t1 = next((w.end for w in reversed(words[a:b]) if w.end is not None), None)
            length = (t1 - t0) if t0 is not None and t1 is not None else 0.0
            if length >= min_run_s:
                continue
            prev_lab = labels[runs[r - 1][0]] if r > 0 else None
            next_lab = labels[runs[r + 1][0]] if r + 1 < len(runs) else None
            if prev_lab is None or next_lab is None:
                continue  # keep short runs at the very start or end
            if prev_lab == next_lab:
                target = prev_lab
            else:
                i0 = min(len(track) - 1, int((t0 or 0.0) / step))
                i1 = max(i0 + 1, int(np.ceil((t1 or 0.0) / step)))
                score = track[i0:i1].mean(axis=0)
                target = prev_lab if score[prev_lab] >= score[next_lab] else next_lab
            if target != labels[a]:
                for i in range(a, b):
                    labels[i] = target
                changed = True
                break
    return labels


# --------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------


def _region_of(words: list[Word], regions: list[tuple[float, float]]) -> list[int]:
    """Index of the speech region holding each word's midpoint (nearest one; -1 untimed)."""
    starts = np.array([a for a, _ in regions])
    out: list[int] = []
    for w in words:
        if w.start is None or w.end is None or not regions:
            out.append(-1)
            continue
        mid = (w.start + w.end) / 2.0
        i = int(np.searchsorted(starts, mid, side="right")) - 1
        if i < 0:
            i = 0
        elif (
            i + 1 < len(regions)
            and mid > regions[i][1]
            and regions[i + 1][0] - mid < mid - regions[i][1]
        ):
            i += 1  # in a pause, nearer to the next region
        out.append(i)
    return out


def _refine_boundaries(
    audio: FloatArray,
    words: list[Word],
    labels: list[int],
    cents: FloatArray,
    regions: list[tuple[float, float]],
    weights: encoder.EncoderWeights | None,
    max_shift: int = 4,
    context_s: float = 1.0,
) -> list[int]:
    """Move each speaker change inside continuous speech to the best word boundary nearby.

    A change at a pause (the two words in different speech regions) is kept. Otherwise
    each boundary up to ``max_shift`` words either side of a change (staying inside the
    two runs) is scored by embedding up to ``context_s`` of speech on each side of it:
    the audio ending with the left word should sound like the left speaker, the audio
    starting with the right word like the right speaker. The context never crosses a
    pause, so a change at a pause is scored on clean speech.
    """
    labels = list(labels)
    n = len(words)
    region = _region_of(words, regions)
    changes = [i for i in range(1, n) if labels[i] != labels[i - 1]]
    plans: list[tuple[int, list[int]]] = []
    spans: list[tuple[float, float]] = []
    for i in changes:
        if region[i] < 0 or region[i - 1] != region[i]:
            continue  # a change at a pause stays there
        left, right = labels[i - 1], labels[i]
        lo = i
        while lo - 1 > 0 and labels[lo - 2] == left and i - lo < max_shift:
            lo -= 1
        hi = i
        while hi + 1 < n and labels[hi + 1] == right and hi - i < max_shift:
            hi += 1
        cands: list[int] = []
        for j in range(lo, hi + 1):
            wl, wr = words[j - 1], words[j]
            if wl.end is None or wr.start is None or region[j - 1] < 0 or region[j] < 0:
                continue
            l_end = wl.end
            l_start = max(regions[region[j - 1]][0], l_end - context_s)
            r_start = wr.start
            r_end = min(regions[region[j]][1], r_start + context_s)
            cands.append(j)
            spans.append((l_start, max(l_end, l_start + 0.1)))
            spans.append((r_start, max(r_end, r_start + 0.1)))
        if len(cands) > 1:
            plans.append((i, cands))
        else:
            del spans[len(spans) - 2 * len(cands) :]
    if not plans:
        return labels
    emb = _unit(encoder.embed_spans(audio, spans, weights=weights))
    pos = 0
    for i, cands in plans:
        left, right = labels[i - 1], labels[i]
        m = len(cands)
        sl = emb[pos : pos + 2 * m : 2] @ cents.T
        sr = emb[pos + 1 : pos + 2 * m : 2] @ cents.T
        pos += 2 * m
        score = (sl[:, left] - sl[:, right]) + (sr[:, right] - sr[:, left])
        best = cands[int(np.argmax(score))]
        for j in range(min(cands) - 1, max(cands) + 1):
            if 0 <= j < n and labels[j] in (left, right):
                labels[j] = left if j < best else right
    return labels


def diarize(
    audio: npt.NDArray[np.float32],
    transcript: Transcript,
    min_speakers: int = 1,
    max_speakers: int = 8,
    *,
    window_s: float = 1.5,
    hop_s: float = 0.5,
    min_silence_s: float = 0.3,
    refine: bool = True,
    weights: encoder.EncoderWeights | None = None,
) -> Diarization:
    """Label every word of ``transcript`` with a speaker found in ``audio`` (16 kHz mono).

    The transcript's times must be on the same timeline as ``audio``. Windows never
    cross a pause of ``min_silence_s`` or more. Returns a new transcript (the input is
    not modified) with ``word.speaker`` and ``segment.speaker`` set, plus one
    unit-length centroid embedding per speaker label.
    """
    x = np.asarray(audio, dtype=np.float32)
    duration = len(x) / SAMPLE_RATE
    regions = speech_spans(x, min_silence_s=min_silence_s, min_speech_s=0.2)
    if not regions:
        regions = [(0.0, duration)]
    times, emb = encoder.embed_windows(x, window_s, hop_s, regions=regions, weights=weights)
    if len(emb) == 0:
        words = transcript.words
        return Diarization(
            assign_word_speakers(transcript, [speaker_label(0)] * len(words)), {}, [], 0, None
        )
    emb = _unit(emb)

    # Cluster the windows long enough to be reliable (a deterministic subsample when
    # there are very many), then give every window its nearest centroid.
    reliable = np.flatnonzero((times[:, 1] - times[:, 0]) >= min(0.75, window_s))
    if len(reliable) < 2:
        reliable = np.arange(len(emb))
    stride = max(1, int(np.ceil(len(reliable) / MAX_CLUSTER_WINDOWS)))
    pick = reliable[::stride]
    sub_labels, score = cluster_embeddings(emb[pick], min_speakers, max_speakers)
    k = int(sub_labels.max()) + 1
    cents = _centroids(emb[pick], sub_labels, k)
    labels, k = _relabel(np.argmax(emb @ cents.T, axis=1).astype(np.int64))
    labels, cents = _smooth_labels(emb, labels, times, min_speakers)
    k = len(cents)

    words = transcript.words
    track = _score_track(times, emb @ cents.T, duration)
    word_idx = _word_speakers(words, track)
    word_idx = _majority_fix(words, word_idx, track)
    if refine and k > 1:
        word_idx = _refine_boundaries(x, words, word_idx, cents, regions, weights)
        word_idx = _majority_fix(words, word_idx, track)

    # Labels in order of first appearance in the transcript (then in the audio).
    order: dict[int, int] = {}
    for c in word_idx + labels.tolist():
        order.setdefault(int(c), len(order))
    name = {c: speaker_label(i) for c, i in order.items()}
    diarized = assign_word_speakers(transcript, [name[c] for c in word_idx])
    if diarized.duration == 0.0:
        diarized.duration = round(duration, 3)

    # Speaker turns from the window labels (merged runs).
    turns: list[tuple[float, float, str]] = []
    for (a, b), c in zip(times.tolist(), labels.tolist(), strict=True):
        lab = name[int(c)]
        if turns and turns[-1][2] == lab and a <= turns[-1][1]:
            turns[-1] = (turns[-1][0], max(turns[-1][1], b), lab)
        else:
            turns.append((a, b, lab))
    centroids = {name[c]: cents[c] for c in range(k) if c in name}
    used = {w.speaker for w in diarized.words if w.speaker}
    return Diarization(
        transcript=diarized,
        centroids=centroids,
        turns=turns,
        num_speakers=len(used) if used else k,
        silhouette=score if k > 1 else None,
    )
