"""Node function projects for tests: written into a temporary directory, with the
repository's ``node_modules`` (AWS's JS SDK, esbuild) linked in, as an npm project
would have its own."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"


def node_project(tmp_path: Path, files: dict[str, str], template: str) -> Path:
    """Write ``files`` (relative paths) and ``template.yaml``; returns the template."""
    if not (NODE_MODULES / "@aws" / "durable-execution-sdk-js").is_dir():
        raise AssertionError(f"{NODE_MODULES} has no @aws/durable-execution-sdk-js: run `make setup` (npm ci)")
    link = tmp_path / "node_modules"
    if not link.exists():
        link.symlink_to(NODE_MODULES, target_is_directory=True)
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(template), encoding="utf-8")
    return path


def package_json(**fields: object) -> str:
    return json.dumps({"name": "fixture", "private": True, **fields})
