"""Snapshots of a function's code and settings: what a published version is made of.

A snapshot is one zip of the function's code directory (or code zip) under ``code/``
and of each local layer under ``layers/N/``, plus the settings as JSON (handler,
environment, limits, logging...). The zip lives in the database, so a version never
changes when files on disk do, and every machine sharing the database can run it:
each extracts it once into its local code cache, a directory per code hash.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from perdure.deploy.functions import DEFAULT_MEMORY_MB, FunctionSpec

MAX_SNAPSHOT_BYTES: Final = 256 * 1024 * 1024  # Lambda's unzipped limit is 250 MB
# Never part of a snapshot: caches, virtual environments, version control.
SKIPPED_DIRS: Final = frozenset({
    "__pycache__", ".git", ".hg", ".venv", "venv", "node_modules", ".aws-sam",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".idea", ".vscode",
})
SKIPPED_SUFFIXES: Final = (".pyc", ".pyo")
_FIXED_TIME: Final = (1980, 1, 1, 0, 0, 0)  # zip entries carry no real dates: same code, same hash


class SnapshotError(ValueError):
    """The function's code cannot be snapshotted (missing, too large)."""


@dataclass(frozen=True)
class Snapshot:
    code_sha256: str  # base64 SHA-256 of the zip, as Lambda reports CodeSha256
    code_size: int
    code: bytes  # the zip
    config: str  # JSON settings (``config_of``)


def config_of(spec: FunctionSpec) -> dict[str, Any]:
    """The settings a version keeps (everything but where the code is). The runtime,
    memory size and source maps are written only where they differ from a Python
    function's defaults, so a Python function's settings read as they always have."""
    config: dict[str, Any] = {
        "Handler": spec.handler,
        "Timeout": spec.timeout_s,
        "Environment": dict(sorted(spec.environment.items())),
        "Durable": spec.durable,
        "ExecutionTimeout": spec.execution_timeout_s,
        "RetentionPeriodInDays": spec.retention_days,
        "LogicalId": spec.logical_id,
        "LogGroup": spec.log_group,
        "LogFormat": spec.log_format,
        "AutoPublishAlias": spec.auto_publish_alias,
        "Description": spec.description,
        "Layers": len(spec.layers),
        "Source": str(spec.code_uri) if spec.code_uri else None,
    }
    if spec.runtime is not None:
        config["Runtime"] = spec.runtime
    if spec.memory_mb != DEFAULT_MEMORY_MB:
        config["MemorySize"] = spec.memory_mb
    if spec.source_maps:
        config["SourceMaps"] = True
    return config


def spec_from_config(name: str, version: int, config: str, root: Path | None) -> FunctionSpec:
    """The FunctionSpec of a version whose snapshot is extracted at ``root``."""
    data = json.loads(config)
    layers = tuple(root / "layers" / str(i) for i in range(int(data.get("Layers") or 0))) if root else ()
    return FunctionSpec(
        name=name,
        handler=data["Handler"],
        code_uri=root / "code" if root else None,
        timeout_s=float(data["Timeout"]),
        environment=dict(data["Environment"]),
        durable=bool(data["Durable"]),
        execution_timeout_s=data.get("ExecutionTimeout"),
        retention_days=int(data["RetentionPeriodInDays"]),
        logical_id=data.get("LogicalId"),
        layers=layers,
        log_group=data.get("LogGroup"),
        log_format=data.get("LogFormat") or "Text",
        auto_publish_alias=data.get("AutoPublishAlias"),
        description=data.get("Description") or "",
        version=str(version),
        runtime=data.get("Runtime"),
        memory_mb=int(data.get("MemorySize") or DEFAULT_MEMORY_MB),
        source_maps=bool(data.get("SourceMaps")),
    )


def _files(root: Path, skipped: frozenset[str] = SKIPPED_DIRS) -> list[tuple[str, Path]]:
    """(name in the zip, path) of every file under ``root``, sorted, caches left out."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in skipped)
        for filename in sorted(filenames):
            if filename.endswith(SKIPPED_SUFFIXES):
                continue
            path = Path(dirpath) / filename
            found.append((path.relative_to(root).as_posix(), path))
    return found


def _add_tree(archive: zipfile.ZipFile, source: Path, prefix: str, total: list[int], skipped: frozenset[str] = SKIPPED_DIRS) -> None:
    if source.is_file():  # a code .zip: its entries, re-rooted
        with zipfile.ZipFile(source) as inner:
            for info in sorted(inner.infolist(), key=lambda i: i.filename):
                if info.is_dir():
                    continue
                _write(archive, f"{prefix}{info.filename}", inner.read(info), 0o644, total)
        return
    for name, path in _files(source, skipped):
        mode = path.stat().st_mode
        _write(archive, f"{prefix}{name}", path.read_bytes(), 0o755 if mode & stat.S_IXUSR else 0o644, total)


def _write(archive: zipfile.ZipFile, name: str, data: bytes, mode: int, total: list[int]) -> None:
    total[0] += len(data)
    if total[0] > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(
            f"the code is larger than {MAX_SNAPSHOT_BYTES // (1024 * 1024)} MB unzipped; "
            "point CodeUri at the handler's own directory"
        )
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def take_snapshot(spec: FunctionSpec) -> Snapshot:
    """Zip the function's code and layers as they are on disk now."""
    if spec.code_uri is None:
        raise SnapshotError(f"{spec.name}: no code directory to snapshot")
    buffer = io.BytesIO()
    total = [0]
    # A Node function's dependencies are part of its code, as in the zip Lambda runs.
    skipped = SKIPPED_DIRS - {"node_modules"} if spec.language != "python" else SKIPPED_DIRS
    try:
        with zipfile.ZipFile(buffer, "w") as archive:
            _add_tree(archive, spec.code_uri, "code/", total, skipped)
            for index, layer in enumerate(spec.layers):
                _add_tree(archive, layer, f"layers/{index}/", total, skipped)
    except OSError as exc:
        raise SnapshotError(f"{spec.name}: cannot read its code: {exc}") from exc
    code = buffer.getvalue()
    digest = base64.b64encode(hashlib.sha256(code).digest()).decode()
    return Snapshot(digest, len(code), code, json.dumps(config_of(spec), sort_keys=True))


def cache_dir_for(db_url: str) -> Path:
    """Where this machine extracts versions: ``$PERDURE_CODE_CACHE``, else beside a
    SQLite database (``app.db`` -> ``app.db.code/``), else a directory per database
    under ``$XDG_CACHE_HOME/perdure/code``."""
    configured = os.environ.get("PERDURE_CODE_CACHE", "").strip()
    if configured:
        return Path(configured)
    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///")).expanduser()
        return path.with_name(path.name + ".code")
    # One directory per database: pruning deletes what that database no longer keeps.
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "perdure" / "code" / hashlib.sha256(db_url.encode()).hexdigest()[:16]


def cache_key(code_sha256: str) -> str:
    """A directory name for a code hash (base64 has ``/`` and ``+``)."""
    return code_sha256.replace("/", "_").replace("+", "-").rstrip("=")


def extract(cache: Path, code_sha256: str, code_b64: str) -> Path:
    """Extract a snapshot into ``cache`` (once: a directory per hash); returns it."""
    target = cache / cache_key(code_sha256)
    if (target / ".complete").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(code_b64))) as archive:
        for info in archive.infolist():
            destination = (staging / info.filename).resolve()
            if not destination.is_relative_to(staging.resolve()):
                raise SnapshotError(f"snapshot entry {info.filename!r} escapes its directory")
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(archive.read(info))
            destination.chmod((info.external_attr >> 16) & 0o777 or 0o644)
    (staging / "code").mkdir(exist_ok=True)
    (staging / ".complete").touch()
    try:
        staging.rename(target)
    except OSError:  # another process extracted it first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def sweep(cache: Path, live: set[str]) -> list[str]:
    """Delete extracted snapshots whose code no version keeps; returns their names."""
    keep = {cache_key(sha) for sha in live}
    removed: list[str] = []
    if not cache.is_dir():
        return removed
    for entry in cache.iterdir():
        if entry.name.startswith(".") or entry.name in keep or not entry.is_dir():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return removed


def with_version(spec: FunctionSpec, version: int) -> FunctionSpec:
    return replace(spec, version=str(version))
