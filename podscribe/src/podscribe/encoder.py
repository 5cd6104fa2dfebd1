"""Speaker embeddings in plain numpy: Resemblyzer's voice encoder without torch.

This is an independent numpy implementation of the speaker encoder shipped by
Resemblyzer 0.1.4 (Resemble AI, Apache-2.0, https://github.com/resemble-ai/Resemblyzer),
itself the GE2E encoder of "Generalized End-to-End Loss for Speaker Verification"
(Wan et al., 2018). The network and its pretrained weights (``resemblyzer/pretrained.pt``,
installed with ``pip install --no-deps resemblyzer==0.1.4``) are Resemblyzer's; the
code here is ours. The architecture, as read from the package's ``hparams.py``,
``audio.py`` and ``voice_encoder.py``:

* 16 kHz mono audio, loudness raised (never lowered) to -30 dBFS;
* a 40-band mel *power* spectrogram (not log): 25 ms Hann window (n_fft 400), 10 ms
  hop (160 samples), centred frames, Slaney-style mel filters with Slaney area
  normalisation over 0-8 kHz (what ``librosa.filters.mel`` gives by default);
* a 3-layer LSTM (256 units), the last layer's final hidden state, a linear layer to
  256 dimensions, ReLU and L2 normalisation;
* an utterance embedding is the L2-normalised mean of embeddings of 1.6 s partial
  windows (160 frames) taken at 1.3 partials per second.

The checkpoint is read without torch: ``pretrained.pt`` is torch's legacy
serialization (a few pickles followed by raw tensor storages); torch's newer zip
format (``archive/data.pkl`` plus ``archive/data/<key>``) is read too. A restricted
unpickler admits only the handful of globals that a state dict needs and rebuilds
every tensor as a numpy array.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import util as importlib_util
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
HIDDEN = 256
EMBED = 256
LAYERS = 3
TARGET_DBFS = -30.0
_INT16_MAX = 2**15 - 1


class EncoderError(RuntimeError):
    """The speaker encoder's weights are missing or unreadable."""


# --------------------------------------------------------------------------------------
# Reading a torch checkpoint without torch
# --------------------------------------------------------------------------------------

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


class _Storage:
    """A tensor storage whose bytes may arrive after the pickle that names it."""

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype
        self.data: npt.NDArray[Any] | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def resolve(self) -> npt.NDArray[Any]:
        data = self.storage.data
        if data is None:
            raise EncoderError("checkpoint names a tensor storage that it does not contain")
        if not self.size:
            return np.array(data[self.offset])
        span = 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if self.offset + span > data.size:
            raise EncoderError("checkpoint tensor runs past the end of its storage")
        base = data[self.offset :]
        view = np.lib.stride_tricks.as_strided(
            base, shape=self.size, strides=tuple(s * data.itemsize for s in self.stride)
        )
        return np.array(view, copy=True)


def _rebuild_tensor(
    storage: _Storage, offset: int, size: Any, stride: Any, *_rest: Any
) -> _TensorRef:
    return _TensorRef(
        storage, int(offset), tuple(int(n) for n in size), tuple(int(s) for s in stride)
    )


def _rebuild_parameter(data: Any, *_rest: Any) -> Any:
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Admits only what a plain state dict needs; anything else is refused."""

    def __init__(
        self,
        file: IO[bytes],
        storages: dict[str, _Storage],
        zip_reader: Callable[[str, _Storage, int], None] | None = None,
    ) -> None:
        super().__init__(file)
        self._storages = storages
        self._zip_reader = zip_reader

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"checkpoint refers to a forbidden global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        storage = self._storages.get(key)
        if storage is None:
            storage = _Storage(storage_type.dtype)
            self._storages[key] = storage
            if self._zip_reader is not None:
                self._zip_reader(key, storage, numel)
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # legacy storage view: (view_key, offset, size)
            raise pickle.UnpicklingError("storage views are not supported")
        return storage


def _resolve(obj: Any) -> Any:
    if isinstance(obj, _TensorRef):
        return obj.resolve()
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v) for v in obj)
    return obj


def _load_legacy(raw: bytes) -> Any:
    f = io.BytesIO(raw)
    magic = pickle.load(f)
    if magic != 0x1950A86A20F9469CFC6C:
        raise EncoderError("not a torch checkpoint (bad magic number)")
    pickle.load(f)
    sys_info = pickle.load(f)
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise EncoderError("big-endian torch checkpoints are not supported")
    storages: dict[str, _Storage] = {}
    obj = _StateDictUnpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
        storage = storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        nbytes = numel * storage.dtype.itemsize
        buf = f.read(nbytes)
        if len(buf) != nbytes:
            raise EncoderError("torch checkpoint is truncated")
        storage.data = np.frombuffer(buf, dtype=storage.dtype)
    return _resolve(obj)


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise EncoderError(f"{path}: zip checkpoint without data.pkl")
        prefix = pkl[: -len("data.pkl")]

        def read_storage(key: str, storage: _Storage, numel: int) -> None:
            buf = zf.read(f"{prefix}data/{key}")
            storage.data = np.frombuffer(buf, dtype=storage.dtype)[:numel]

        with zf.open(pkl) as f:
            obj = _StateDictUnpickler(io.BytesIO(f.read()), {}, read_storage).load()
    return _resolve(obj)


def load_torch_checkpoint(path: str | Path) -> Any:
    """Read a torch ``.pt`` checkpoint of plain tensors into numpy arrays, without torch."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        return _load_legacy(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, struct.error) as exc:
        raise EncoderError(f"{path}: cannot read torch checkpoint: {exc}") from exc


def default_weights_path() -> Path:
    """Where ``pip install --no-deps resemblyzer==0.1.4`` put ``pretrained.pt``."""
    spec = importlib_util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            "the speaker encoder weights are missing: "
            "run `pip install --no-deps resemblyzer==0.1.4`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise EncoderError(f"{path}: resemblyzer is installed but pretrained.pt is missing")
    return path


# --------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    w_ih_t: FloatArray  # (input, 4H), gates i, f, g, o as in torch.nn.LSTM
    w_hh_t: FloatArray  # (H, 4H)
    bias: FloatArray  # (4H,)


@dataclass(frozen=True)
class EncoderWeights:
    layers: tuple[_Layer, ...]
    linear_w_t: FloatArray  # (H, E)
    linear_b: FloatArray  # (E,)


def _f32(a: Any) -> FloatArray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def load_weights(path: str | Path | None = None) -> EncoderWeights:
    """Load (and cache) the encoder weights; ``None`` means Resemblyzer's pretrained.pt."""
    resolved = Path(path) if path is not None else default_weights_path()
    return _load_weights_cached(str(resolved.resolve()))


@lru_cache(maxsize=4)
def _load_weights_cached(path: str) -> EncoderWeights:
    if not Path(path).is_file():
        raise EncoderError(f"{path}: speaker encoder weights not found")
    ckpt = load_torch_checkpoint(path)
    state = ckpt.get("model_state", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise EncoderError(f"{path}: checkpoint holds no state dict")
    try:
        layers = tuple(
            _Layer(
                w_ih_t=_f32(state[f"lstm.weight_ih_l{k}"].T),
                w_hh_t=_f32(state[f"lstm.weight_hh_l{k}"].T),
                bias=_f32(state[f"lstm.bias_ih_l{k}"] + state[f"lstm.bias_hh_l{k}"]),
            )
            for k in range(LAYERS)
        )
        weights = EncoderWeights(layers, _f32(state["linear.weight"].T), _f32(state["linear.bias"]))
    except KeyError as exc:
        raise EncoderError(f"{path}: checkpoint lacks tensor {exc}") from exc
    if weights.layers[0].w_ih_t.shape != (N_MELS, 4 * HIDDEN) or weights.linear_w_t.shape != (
        HIDDEN,
        EMBED,
    ):
        raise EncoderError(f"{path}: unexpected tensor shapes for the speaker encoder")
    return weights


def _sigmoid(x: FloatArray) -> FloatArray:
    # 0.5 * (1 + tanh(x / 2)) is the logistic function without overflow warnings.
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def forward(mels: FloatArray, weights: EncoderWeights | None = None) -> FloatArray:
    """Embed a batch of mel spectrograms ``(batch, frames, 40)`` -> ``(batch, 256)``.

    Same computation as Resemblyzer's ``VoiceEncoder.forward``: 3-layer LSTM, the last
    layer's final hidden state, linear, ReLU, L2 normalisation.
    """
    w = weights if weights is not None else load_weights()
    x = np.asarray(mels, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != N_MELS:
        raise ValueError(f"expected mels of shape (batch, frames, {N_MELS}), got {x.shape}")
    batch, frames, _ = x.shape
    h = np.zeros((batch, HIDDEN), dtype=np.float32)
    for layer in w.layers:
        # Input projections for every time step at once; only the recurrence is serial.
        gx = (x.reshape(batch * frames, -1) @ layer.w_ih_t + layer.bias).reshape(
            batch, frames, 4 * HIDDEN
        )
        h = np.zeros((batch, HIDDEN), dtype=np.float32)
        c = np.zeros((batch, HIDDEN), dtype=np.float32)
        outputs = np.empty((batch, frames, HIDDEN), dtype=np.float32)
        for t in range(frames):
            g = gx[:, t, :] + h @ layer.w_hh_t
            i_gate = _sigmoid(g[:, :HIDDEN])
            f_gate = _sigmoid(g[:, HIDDEN : 2 * HIDDEN])
            g_gate = np.tanh(g[:, 2 * HIDDEN : 3 * HIDDEN])
            o_gate = _sigmoid(g[:, 3 * HIDDEN :])
            c = f_gate * c + i_gate * g_gate
            h = o_gate * np.tanh(c)
            outputs[:, t, :] = h
        x = outputs
    raw = np.maximum(h @ w.linear_w_t + w.linear_b, 0.0)
    norm = np.linalg.norm(raw, axis=1, keepdims=True)
    out: FloatArray = (raw / np.maximum(norm, 1e-12)).astype(np.float32)
    return out


# --------------------------------------------------------------------------------------
# Front end
# --------------------------------------------------------------------------------------


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / f_sp
    high = hz >= min_log_hz
    mel[high] = min_log_mel + np.log(hz[high] / min_log_hz) / logstep
    return mel


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * f_sp
    high = mel >= min_log_mel
    hz[high] = min_log_hz * np.exp(logstep * (mel[high] - min_log_mel))
    return hz


@lru_cache(maxsize=2)
def mel_filterbank(
    sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> FloatArray:
    """Triangular mel filters ``(n_mels, 1 + n_fft // 2)``, Slaney scale and area norm."""
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges_mel = np.linspace(
        _hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sample_rate / 2.0]))[0], n_mels + 2
    )
    edges = _mel_to_hz(edges_mel)
    widths = np.diff(edges)
    rising = (fft_freqs[None, :] - edges[:-2, None]) / widths[:-1, None]
    falling = (edges[2:, None] - fft_freqs[None, :]) / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    out: FloatArray = filters.astype(np.float32)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def _hann() -> npt.NDArray[np.float64]:
    n = np.arange(N_FFT)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)  # periodic Hann


def mel_spectrogram(wav: npt.ArrayLike, gain: float = 1.0) -> FloatArray:
    """Mel power spectrogram ``(frames, 40)``; frame ``i`` is centred on sample ``160 i``.

    Frames are centred with zero padding of ``n_fft // 2`` at both ends (librosa's
    default since 0.10), giving ``1 + len(wav) // 160`` frames. The waveform is read a
    block at a time (times ``gain``), so a memory-mapped episode is never copied whole.
    """
    x = np.asarray(wav)
    if x.ndim != 1:
        raise ValueError("expected a mono waveform")
    half = N_FFT // 2
    n_frames = 1 + (len(x) + 2 * half - N_FFT) // HOP
    filters = mel_filterbank()
    out = np.empty((n_frames, N_MELS), dtype=np.float32)
    window = _hann()
    block = 4096  # frames per block keeps memory flat on long episodes
    offsets = np.arange(N_FFT)[None, :]
    for start in range(0, n_frames, block):
        stop = min(n_frames, start + block)
        lo, hi = start * HOP - half, (stop - 1) * HOP + N_FFT - half
        seg = np.zeros(hi - lo, dtype=np.float32)
        a, b = max(lo, 0), min(hi, len(x))
        if b > a:
            piece = np.asarray(x[a:b], dtype=np.float32)
            seg[a - lo : b - lo] = piece if gain == 1.0 else (piece * np.float32(gain)).astype(np.float32)
        idx = (np.arange(stop - start) * HOP)[:, None] + offsets
        spec = np.fft.rfft(seg[idx] * window, axis=1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        out[start:stop] = power @ filters.T
    return out


def volume_gain(wav: npt.ArrayLike, target_dbfs: float = TARGET_DBFS) -> float:
    """The factor that raises (never lowers) the loudness to ``target_dbfs``; computed a
    block at a time."""
    x = np.asarray(wav)
    total = 0.0
    for i in range(0, x.size, 960_000):
        block = np.asarray(x[i : i + 960_000], dtype=np.float64) * _INT16_MAX
        total += float(np.dot(block, block))
    rms = float(np.sqrt(total / x.size)) if x.size else 0.0
    if rms <= 0.0:
        return 1.0
    change = target_dbfs - 20.0 * np.log10(rms / _INT16_MAX)
    return 1.0 if change <= 0 else float(10.0 ** (change / 20.0))


def normalize_volume(wav: npt.ArrayLike, target_dbfs: float = TARGET_DBFS) -> FloatArray:
    """Raise (never lower) the loudness to ``target_dbfs``, as Resemblyzer's preprocessing."""
    x = np.asarray(wav, dtype=np.float32)
    gain = volume_gain(x, target_dbfs)
    if gain == 1.0:
        return x
    out: FloatArray = (x * np.float32(gain)).astype(np.float32)
    return out


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def _batches(mels: FloatArray, starts: list[int], frames: int, size: int) -> Iterator[FloatArray]:
    for i in range(0, len(starts), size):
        yield np.stack([mels[s : s + frames] for s in starts[i : i + size]])


def embed_frames(
    mels: FloatArray,
    starts: list[int],
    frames: int,
    weights: EncoderWeights | None = None,
    batch_size: int = 64,
) -> FloatArray:
    """Embed windows of ``frames`` mel frames starting at the given frame indices."""
    if not starts:
        return np.zeros((0, EMBED), dtype=np.float32)
    w = weights if weights is not None else load_weights()
    need = max(starts) + frames
    if need > len(mels):
        mels = np.pad(mels, ((0, need - len(mels)), (0, 0)))
    parts = [forward(b, w) for b in _batches(mels, starts, frames, batch_size)]
    return np.concatenate(parts, axis=0)


def _window_starts(first: int, last: int, frames: int, hop: int) -> list[int]:
    """Start frames of windows covering ``[first, last)``; the last one ends at ``last``."""
    if last - first <= frames:
        return [first]
    starts = list(range(first, last - frames + 1, hop))
    if starts[-1] + frames < last:
        starts.append(last - frames)
    return starts


def embed_spans(
    audio: npt.ArrayLike,
    spans: Sequence[tuple[float, float]],
    *,
    normalize: bool = True,
    weights: EncoderWeights | None = None,
) -> FloatArray:
    """Embed each ``(start_s, end_s)`` span of 16 kHz mono audio -> ``(n, 256)``.

    The mel spectrogram is computed once over the whole audio and each span is fed to the
    network as it is (spans of equal length are batched). Spans under 10 ms get one frame.
    """
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError("expected mono audio")
    if not spans:
        return np.zeros((0, EMBED), dtype=np.float32)
    mels = mel_spectrogram(x, volume_gain(x) if normalize else 1.0)
    w = weights if weights is not None else load_weights()
    frame_spans = []
    for a, b in spans:
        f0 = max(0, round(a * SAMPLE_RATE / HOP))
        f1 = max(f0 + 1, round(b * SAMPLE_RATE / HOP))
        frame_spans.append((f0, f1 - f0))
    out = np.zeros((len(spans), EMBED), dtype=np.float32)
    by_length: dict[int, list[int]] = {}
    for i, (_f0, n) in enumerate(frame_spans):
        by_length.setdefault(n, []).append(i)
    for n, idx in sorted(by_length.items()):
        emb = embed_frames(mels, [frame_spans[i][0] for i in idx], n, w)
        out[idx] = emb
    return out


def embed_windows(
    audio: npt.ArrayLike,
    window_s: float = 1.5,
    hop_s: float = 0.75,
    *,
    regions: Sequence[tuple[float, float]] | None = None,
    normalize: bool = True,
    weights: EncoderWeights | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Embed overlapping windows of 16 kHz mono audio.

    Returns ``(times, embeddings)``: ``times`` is ``(n, 2)`` with each window's start and
    end in seconds, ``embeddings`` is ``(n, 256)``, L2-normalised. Windows advance by
    ``hop_s`` and the last one is aligned to the end so the tail is covered. With
    ``regions`` (e.g. speech between pauses), windows stay inside each region and a
    region shorter than ``window_s`` gets one window of its own length.
    """
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError("expected mono audio")
    if window_s <= 0 or hop_s <= 0:
        raise ValueError("window_s and hop_s must be positive")
    if x.size == 0:
        return np.zeros((0, 2), dtype=np.float32), np.zeros((0, EMBED), dtype=np.float32)
    frames = max(1, round(window_s * SAMPLE_RATE / HOP))
    hop = max(1, round(hop_s * SAMPLE_RATE / HOP))
    total = len(x) // HOP  # frames inside the audio
    bounds = (
        [(0, total)]
        if regions is None
        else [
            (max(0, round(a * SAMPLE_RATE / HOP)), min(total, round(b * SAMPLE_RATE / HOP)))
            for a, b in regions
        ]
    )
    spans: list[tuple[float, float]] = []
    for first, last in bounds:
        if last <= first:
            continue
        for s in _window_starts(first, last, frames, hop):
            e = min(s + frames, last) if regions is not None else s + frames
            spans.append((s * HOP / SAMPLE_RATE, e * HOP / SAMPLE_RATE))
    if not spans:
        return np.zeros((0, 2), dtype=np.float32), np.zeros((0, EMBED), dtype=np.float32)
    emb = embed_spans(x, spans, normalize=normalize, weights=weights)
    duration = len(x) / SAMPLE_RATE
    times = np.array([[a, min(b, duration)] for a, b in spans], dtype=np.float32)
    return times, emb


def partial_starts(n_samples: int, rate: float = 1.3, min_coverage: float = 0.75) -> list[int]:
    """Start frames of Resemblyzer's 1.6 s partial utterances for ``embed_utterance``."""
    if not 0 < min_coverage <= 1:
        raise ValueError("min_coverage must be in (0, 1]")
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round((SAMPLE_RATE / rate) / HOP))
    if not 0 < step <= PARTIAL_FRAMES:
        raise ValueError("rate out of range")
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    last = starts[-1] * HOP
    coverage = (n_samples - last) / (PARTIAL_FRAMES * HOP)
    if coverage < min_coverage and len(starts) > 1:
        starts.pop()
    return starts


def embed_utterance(
    audio: npt.ArrayLike,
    *,
    normalize: bool = True,
    rate: float = 1.3,
    min_coverage: float = 0.75,
    weights: EncoderWeights | None = None,
) -> FloatArray:
    """One L2-normalised 256-d embedding for a whole utterance (16 kHz mono).

    The mean of 1.6 s partial embeddings, as Resemblyzer's ``embed_utterance``. Long
    silences are not trimmed here: pass speech (see ``chunking.speech_only``).
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("expected non-empty mono audio")
    if normalize:
        x = normalize_volume(x)
    starts = partial_starts(len(x), rate, min_coverage)
    need = (starts[-1] + PARTIAL_FRAMES) * HOP
    if need >= len(x):
        x = np.pad(x, (0, need - len(x)))
    mels = mel_spectrogram(x)
    partials = embed_frames(mels, starts, PARTIAL_FRAMES, weights)
    mean = partials.mean(axis=0)
    out: FloatArray = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    return out
