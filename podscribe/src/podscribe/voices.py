"""A voice library: named voiceprints reused across episodes.

A library is a directory of JSON files, one per voice (``<slug>.json``)::

    {"name": "Eoin", "embedding": [256 floats], "count": 3,
     "encoder": "resemblyzer-0.1.4", "updated": "2025-01-01T12:00:00+00:00"}

The default directory is ``$PODSCRIBE_VOICES`` if set, else
``$XDG_DATA_HOME/podscribe/voices`` (``~/.local/share/podscribe/voices``).

Matching compares diarization centroids with voiceprints by cosine similarity and
assigns names one-to-one (Hungarian assignment on the similarity matrix), keeping only
pairs at or above the threshold, so no two speakers share a name.

``DEFAULT_THRESHOLD`` is 0.85. Measured with the Resemblyzer encoder on synthetic
espeak-ng voices: a voiceprint against the centroid of the same voice in another
recording scored 0.956-0.982; against a different voice 0.868-0.915 (synthetic voices
are unusually alike to this encoder; human voices of different speakers usually score
lower). One-to-one assignment resolves speakers when all of them are enrolled; when a
speaker may be absent from the library, raise the threshold (0.93 separated the
synthetic voices of those tests) to avoid naming a stranger after the closest enrolled
voice. On real speech (``bench/voice_similarity.py --real``, six people) the same
speaker scored 0.885-0.936 and different speakers at most 0.833; see "Voice threshold"
in podscribe/README.md.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from podscribe import encoder
from podscribe.audio import PathLike, load_audio
from podscribe.chunking import speech_only

DEFAULT_THRESHOLD = 0.85
ENCODER_ID = "resemblyzer-0.1.4"

FloatArray = npt.NDArray[np.float32]


class VoiceError(ValueError):
    """A voice library operation failed (bad name, unknown voice, corrupt file)."""


@dataclass(frozen=True)
class Voiceprint:
    name: str
    embedding: FloatArray  # unit length, 256 values
    count: int = 1  # how many recordings were averaged into it
    encoder: str = ENCODER_ID
    updated: str = ""
    path: Path | None = None


def default_library_dir() -> Path:
    """``$PODSCRIBE_VOICES``, else ``$XDG_DATA_HOME/podscribe/voices``."""
    env = os.environ.get("PODSCRIBE_VOICES")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "podscribe" / "voices"


def _dir(library_dir: PathLike | None) -> Path:
    return Path(library_dir) if library_dir is not None else default_library_dir()


def slug(name: str) -> str:
    """A file-safe key for a voice name (case-insensitive, accents folded)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    key = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    if not key:
        raise VoiceError(f"voice name {name!r} has no letters or digits")
    return key


def _unit(v: npt.ArrayLike) -> FloatArray:
    x = np.asarray(v, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(x))
    if not np.isfinite(norm) or norm == 0.0:
        raise VoiceError("voiceprint embedding is zero or not finite")
    out: FloatArray = (x / norm).astype(np.float32)
    return out


def _read(path: Path) -> Voiceprint:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Voiceprint(
            name=str(data["name"]),
            embedding=_unit(data["embedding"]),
            count=int(data.get("count", 1)),
            encoder=str(data.get("encoder", ENCODER_ID)),
            updated=str(data.get("updated", "")),
            path=path,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VoiceError(f"{path}: not a valid voiceprint ({exc})") from exc


def _write(vp: Voiceprint, library: Path) -> Voiceprint:
    library.mkdir(parents=True, exist_ok=True)
    path = library / f"{slug(vp.name)}.json"
    payload = {
        "name": vp.name,
        "embedding": [round(float(v), 7) for v in vp.embedding],
        "count": vp.count,
        "encoder": vp.encoder,
        "updated": vp.updated,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return Voiceprint(vp.name, vp.embedding, vp.count, vp.encoder, vp.updated, path)


def get_voice(name: str, library_dir: PathLike | None = None) -> Voiceprint | None:
    """The voiceprint stored under ``name`` (case-insensitive), or None."""
    path = _dir(library_dir) / f"{slug(name)}.json"
    return _read(path) if path.is_file() else None


def enroll_embedding(
    name: str,
    embedding: npt.ArrayLike,
    library_dir: PathLike | None = None,
    *,
    merge: bool = True,
) -> Voiceprint:
    """Store a voiceprint from an embedding (e.g. a diarization centroid).

    With ``merge`` and an existing voice of that name, the new embedding is averaged
    into it (weighted by how many recordings it already holds); otherwise it replaces it.
    """
    name = name.strip()
    if not name:
        raise VoiceError("voice name is empty")
    vec = _unit(embedding)
    if vec.shape != (encoder.EMBED,):
        raise VoiceError(f"expected a {encoder.EMBED}-value embedding, got {vec.shape[0]}")
    library = _dir(library_dir)
    count = 1
    existing = get_voice(name, library) if merge else None
    if existing is not None:
        vec = _unit(existing.embedding * existing.count + vec)
        count = existing.count + 1
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return _write(Voiceprint(name, vec, count, ENCODER_ID, now), library)


def embed_voice(audio: npt.NDArray[np.float32]) -> FloatArray:
    """A voiceprint embedding of one speaker's audio (16 kHz mono), pauses removed."""
    speech = speech_only(audio)
    if len(speech) < encoder.SAMPLE_RATE:  # under a second of speech
        speech = np.asarray(audio, dtype=np.float32)
    return encoder.embed_utterance(speech)


def enroll(
    name: str,
    audio_path: PathLike,
    library_dir: PathLike | None = None,
    *,
    merge: bool = True,
) -> Voiceprint:
    """Enrol (or update) ``name`` from a recording of that one speaker."""
    return enroll_embedding(name, embed_voice(load_audio(audio_path)), library_dir, merge=merge)


def list_voices(library_dir: PathLike | None = None) -> list[Voiceprint]:
    """All voiceprints in the library, sorted by name (empty if there is no library)."""
    library = _dir(library_dir)
    if not library.is_dir():
        return []
    return sorted((_read(p) for p in library.glob("*.json")), key=lambda v: v.name.lower())


def remove(name: str, library_dir: PathLike | None = None) -> bool:
    """Delete a voice; returns False if there was none of that name."""
    path = _dir(library_dir) / f"{slug(name)}.json"
    if not path.is_file():
        return False
    path.unlink()
    return True


def load_library(library_dir: PathLike | None = None) -> dict[str, FloatArray]:
    """``{name: embedding}`` for ``match``."""
    return {v.name: v.embedding for v in list_voices(library_dir)}


def similarities(
    centroids: Mapping[str, npt.ArrayLike], library: Mapping[str, npt.ArrayLike]
) -> dict[str, dict[str, float]]:
    """Cosine similarity of every speaker centroid to every library voice."""
    return {
        label: {name: float(_unit(c) @ _unit(v)) for name, v in library.items()}
        for label, c in centroids.items()
    }


def match(
    centroids: Mapping[str, npt.ArrayLike],
    library: Mapping[str, npt.ArrayLike],
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, str]:
    """Name diarized speakers from the library: ``{label: name}``.

    Speakers and voices are paired one-to-one to maximise the total cosine similarity
    (Hungarian assignment), then pairs below ``threshold`` are dropped, so no two
    speakers get the same name and a speaker with no close voice stays unnamed.
    """
    from scipy.optimize import linear_sum_assignment

    labels = list(centroids)
    names = list(library)
    if not labels or not names:
        return {}
    sims = np.array(
        [[float(_unit(centroids[lab]) @ _unit(library[n])) for n in names] for lab in labels]
    )
    rows, cols = linear_sum_assignment(-sims)
    return {
        labels[r]: names[c]
        for r, c in sorted(zip(rows.tolist(), cols.tolist(), strict=True))
        if sims[r, c] >= threshold
    }
