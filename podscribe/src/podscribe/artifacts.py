"""The artifact store: where large data lives, so that checkpoints only hold keys.

``ArtifactStore(url)`` takes a local directory (the default, writes are
atomic: a temporary file in the same directory, then a rename) or any fsspec
URL (``memory://``, ``s3://bucket/prefix`` with s3fs installed, ``gcs://``,
...). Keys are relative POSIX paths such as ``runs/r1/transcript.json``;
``..``, absolute paths and backslashes are refused.

:func:`content_key` gives content-addressed keys (SHA-256), and
:meth:`ArtifactStore.put_content` writes such a blob only once, which makes a
replayed durable step idempotent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from podscribe.transcript import Transcript

__all__ = [
    "ArtifactNotFoundError",
    "ArtifactStore",
    "canonical_json",
    "content_key",
    "validate_key",
]

_CHUNK = 1 << 20


class ArtifactNotFoundError(FileNotFoundError):
    """No artifact under that key."""


def validate_key(key: str) -> str:
    """``key`` if it is a safe relative POSIX path, else ``ValueError``."""
    if not isinstance(key, str) or not key:
        raise ValueError("artifact key must be a non-empty string")
    if "\\" in key or "\x00" in key:
        raise ValueError(f"artifact key {key!r} contains a backslash or NUL")
    if key.startswith("/") or "://" in key:
        raise ValueError(f"artifact key {key!r} must be relative")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"artifact key {key!r} has an empty, '.' or '..' part")
    return key


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces), for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def content_key(data: bytes, *, prefix: str = "blobs", suffix: str = "") -> str:
    """``{prefix}/{sha[:2]}/{sha}{suffix}`` for the SHA-256 of ``data``."""
    digest = hashlib.sha256(data).hexdigest()
    key = (
        f"{prefix.strip('/')}/{digest[:2]}/{digest}{suffix}"
        if prefix
        else f"{digest[:2]}/{digest}{suffix}"
    )
    return validate_key(key)


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


class ArtifactStore:
    """Bytes, text and JSON under string keys, in a local directory or an fsspec filesystem."""

    def __init__(
        self, url: str | os.PathLike[str] = ".podscribe/artifacts", **storage_options: Any
    ) -> None:
        text = os.fspath(url)
        if not text:
            raise ValueError("artifact store URL must not be empty")
        self.local = _is_local(text)
        if self.local:
            path = text[len("file://") :] if text.startswith("file://") else text
            self._root = Path(path).expanduser().resolve()
            self.url = str(self._root)
            self._fs: Any = None
            self._base = ""
        else:
            from fsspec.core import url_to_fs

            self._fs, base = url_to_fs(text, **storage_options)
            self._base = str(base).rstrip("/")
            self.url = text.rstrip("/")

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    # -- locations -------------------------------------------------------------

    def _path(self, key: str) -> str:
        validate_key(key)
        return f"{self._base}/{key}" if self._base else key

    def local_path(self, key: str) -> Path:
        """The file of ``key`` in a local store (``ValueError`` for remote stores)."""
        validate_key(key)
        if not self.local:
            raise ValueError(f"{self!r} is not a local directory")
        return self._root.joinpath(*key.split("/"))

    def uri_for(self, key: str) -> str:
        """Where ``key`` lives: an absolute path (local) or a full URL (fsspec)."""
        if self.local:
            return str(self.local_path(key))
        return str(self._fs.unstrip_protocol(self._path(key)))

    # -- bytes -------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key`` (replacing it); returns ``key``."""
        if self.local:
            self._atomic_write(self.local_path(key), [data])
        else:
            path = self._path(key)
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            if parent:
                with contextlib.suppress(Exception):  # object stores have no directories
                    self._fs.makedirs(parent, exist_ok=True)
            self._fs.pipe_file(path, bytes(data))
        return key

    def get_bytes(self, key: str) -> bytes:
        try:
            if self.local:
                return self.local_path(key).read_bytes()
            return bytes(self._fs.cat_file(self._path(key)))
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"artifact {key!r} not found in {self.url}") from None
        except IsADirectoryError:
            raise ArtifactNotFoundError(f"artifact {key!r} in {self.url} is a directory") from None

    def exists(self, key: str) -> bool:
        if self.local:
            return self.local_path(key).is_file()
        path = self._path(key)
        return bool(self._fs.exists(path)) and not bool(self._fs.isdir(path))

    def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether it existed."""
        if not self.exists(key):
            return False
        if self.local:
            self.local_path(key).unlink(missing_ok=True)
        else:
            self._fs.rm_file(self._path(key))
        return True

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (a folder, e.g. ``"runs/r1"``), sorted."""
        if prefix:
            validate_key(prefix.rstrip("/"))
        if self.local:
            root = self._root.joinpath(*prefix.strip("/").split("/")) if prefix else self._root
            if not root.is_dir():
                return []
            keys = [
                p.relative_to(self._root).as_posix()
                for p in root.rglob("*")
                if p.is_file() and not p.name.startswith(".tmp-")
            ]
            return sorted(keys)
        base = self._path(prefix.strip("/")) if prefix else self._base
        if base and not self._fs.isdir(base):
            return []
        found = self._fs.find(base or "/")
        return sorted(_rel(str(f), self._base) for f in found)

    # -- text and JSON ---------------------------------------------------------

    def put_text(self, key: str, text: str) -> str:
        return self.put_bytes(key, text.encode("utf-8"))

    def get_text(self, key: str) -> str:
        return self.get_bytes(key).decode("utf-8")

    def put_json(self, key: str, obj: Any, *, indent: int | None = 2) -> str:
        return self.put_bytes(
            key, (json.dumps(obj, indent=indent, ensure_ascii=False) + "\n").encode("utf-8")
        )

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def put_transcript(self, key: str, transcript: Transcript) -> str:
        return self.put_json(key, transcript.to_dict())

    def get_transcript(self, key: str) -> Transcript:
        return Transcript.from_dict(self.get_json(key))

    # -- content addressing ----------------------------------------------------

    def put_content(self, data: bytes, *, prefix: str = "blobs", suffix: str = "") -> str:
        """Store ``data`` under its :func:`content_key` unless already there; returns the key."""
        key = content_key(data, prefix=prefix, suffix=suffix)
        if not self.exists(key):
            self.put_bytes(key, data)
        return key

    # -- files -----------------------------------------------------------------

    def put_file(self, key: str, source: str | os.PathLike[str]) -> str:
        """Copy a local file in (streamed, for audio); returns ``key``."""
        with open(source, "rb") as src:
            if self.local:
                self._atomic_write(self.local_path(key), iter(lambda: src.read(_CHUNK), b""))
            else:
                path = self._path(key)
                with self._fs.open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
        return key

    def get_file(self, key: str, dest: str | os.PathLike[str]) -> Path:
        """Copy ``key`` to a local file (atomically); returns its path."""
        out = Path(dest)
        if self.local:
            src_path = self.local_path(key)
            if not src_path.is_file():
                raise ArtifactNotFoundError(f"artifact {key!r} not found in {self.url}")
            with open(src_path, "rb") as src:
                self._atomic_write(out, iter(lambda: src.read(_CHUNK), b""))
            return out
        if not self.exists(key):
            raise ArtifactNotFoundError(f"artifact {key!r} not found in {self.url}")
        with self._fs.open(self._path(key), "rb") as src:
            self._atomic_write(out, iter(lambda: src.read(_CHUNK), b""))
        return out

    @staticmethod
    def _atomic_write(path: Path, chunks: Iterator[bytes] | list[bytes]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _rel(path: str, base: str) -> str:
    p = PurePosixPath("/" + path.lstrip("/"))
    b = PurePosixPath("/" + base.lstrip("/"))
    return p.relative_to(b).as_posix()
