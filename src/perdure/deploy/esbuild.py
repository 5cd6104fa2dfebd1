"""TypeScript (and bundled JavaScript) functions built as ``sam build`` builds them.

A function with ``Metadata: {BuildMethod: esbuild, BuildProperties: {...}}`` is bundled
with esbuild before it is served or published; its ``CodeUri`` then stays the source and
the bundle, written to ``.perdure/build/<hash>/`` next to the template, is what runs (and
what a published version's snapshot holds). The properties are SAM's: ``EntryPoints``,
``Format`` (cjs or esm), ``Target``, ``Sourcemap``, ``Minify``, ``External``,
``Loader``, ``Banner``, ``MainFields``, ``OutExtension``. Functions with the same source
directory and properties share one build.

esbuild is the npm package: the one in the code directory's ``node_modules`` (or a parent
directory's, as npm finds it), else ``esbuild`` on ``PATH``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from perdure.deploy.node_toolchain import NodeToolchain

BUILD_DIR = Path(".perdure") / "build"
KNOWN_PROPERTIES = frozenset({
    "EntryPoints", "Format", "Target", "Sourcemap", "Minify", "External", "Loader",
    "Banner", "MainFields", "OutExtension",
})
BUILD_TIMEOUT_S = 300


class BuildError(Exception):
    """The build failed; the message carries esbuild's own (file, line and column)."""


def find_esbuild(code_dir: Path) -> Path:
    for directory in (code_dir, *code_dir.parents):
        candidate = directory / "node_modules" / ".bin" / "esbuild"
        if candidate.exists():
            return candidate
    on_path = shutil.which("esbuild")
    if on_path is None:
        raise BuildError(
            f"esbuild is not installed: run `npm install --save-dev esbuild` in {code_dir} "
            "(or a parent directory), or put esbuild on PATH"
        )
    return Path(on_path)


def _flag(properties: Mapping[str, Any], key: str) -> bool:
    value = properties.get(key)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _strings(properties: Mapping[str, Any], key: str) -> list[str]:
    value = properties.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BuildError(f"BuildProperties.{key} must be a string or a list of strings")


def esbuild_arguments(properties: Mapping[str, Any], out_dir: Path) -> list[str]:
    """esbuild's command line for SAM's BuildProperties (entry points first)."""
    unknown = sorted(set(properties) - KNOWN_PROPERTIES)
    if unknown:
        raise BuildError(f"BuildProperties: unknown {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_PROPERTIES))})")
    entries = _strings(properties, "EntryPoints")
    if not entries:
        raise BuildError("BuildProperties.EntryPoints is required (the .ts or .js files to bundle)")
    fmt = str(properties.get("Format", "cjs")).lower()
    if fmt not in ("cjs", "esm"):
        raise BuildError(f"BuildProperties.Format must be cjs or esm, got {fmt!r}")
    args = [*entries, "--bundle", "--platform=node", f"--format={fmt}", f"--outdir={out_dir}",
            f"--target={properties.get('Target', 'es2020')}", "--log-level=error", "--color=false"]
    if _flag(properties, "Sourcemap"):
        args.append("--sourcemap")
    if _flag(properties, "Minify"):
        args.append("--minify")
    args += [f"--external:{name}" for name in _strings(properties, "External")]
    args += [f"--loader:{spec}" for spec in _strings(properties, "Loader")]
    banner = properties.get("Banner")
    if isinstance(banner, str) and banner:
        args.append(f"--banner:{banner}" if banner.startswith(("js=", "css=")) else f"--banner:js={banner}")
    main_fields = _strings(properties, "MainFields")
    if main_fields:
        args.append(f"--main-fields={','.join(main_fields)}")
    for spec in _strings(properties, "OutExtension"):
        args.append(f"--out-extension:{spec}")
    return args


def build_key(code_dir: Path, properties: Mapping[str, Any]) -> str:
    text = json.dumps({"dir": str(code_dir), "properties": properties}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build(code_dir: Path, properties: Mapping[str, Any], template_dir: Path, toolchain: NodeToolchain) -> Path:
    """Bundle ``code_dir``'s entry points; returns the output directory. A failure raises
    ``BuildError`` with esbuild's message, which names the file, line and column.

    Processes that load one template at once (``perdure serve`` and its ``perdure
    worker`` processes) take turns: each build holds a lock file beside its output."""
    out_dir = template_dir / BUILD_DIR / build_key(code_dir, properties)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.with_name(out_dir.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _build_locked(code_dir, properties, out_dir, toolchain)


def _build_locked(code_dir: Path, properties: Mapping[str, Any], out_dir: Path, toolchain: NodeToolchain) -> Path:
    staging = out_dir.with_name(out_dir.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    args = esbuild_arguments(properties, staging)
    esbuild = find_esbuild(code_dir)
    env = dict(os.environ)
    env["PATH"] = toolchain.tool_path()
    try:
        result = subprocess.run(
            [str(esbuild), *args], cwd=code_dir, env=env, capture_output=True, text=True,
            timeout=BUILD_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildError(f"esbuild ({esbuild}) did not run: {exc}") from None
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip() or f"esbuild exited with status {result.returncode}"
        raise BuildError(f"esbuild failed in {code_dir}:\n{message}")
    if str(properties.get("Format", "cjs")).lower() == "esm" and not _strings(properties, "OutExtension"):
        # Node reads .js as ESM only inside a "type": "module" package, as SAM's builds do.
        (staging / "package.json").write_text('{"type": "module"}\n', encoding="utf-8")
    # Replace the previous build in one step, so a running sandbox never sees half a build.
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    staging.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return out_dir
