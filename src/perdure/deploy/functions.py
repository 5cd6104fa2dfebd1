"""What perdure knows about a function: where its handler lives and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TIMEOUT_S = 3.0  # Lambda's (and SAM's) default function timeout
MAX_EXECUTION_TIMEOUT_S = 31_622_400  # 366 days, the longest a durable execution may run
DEFAULT_RETENTION_DAYS = 14
DEFAULT_MEMORY_MB = 128  # Lambda's (and SAM's) default MemorySize
# Runtimes perdure runs. Python handlers run inside perdure's worker processes; the others
# run as processes of their own that talk to perdure through the Lambda Runtime API.
PYTHON_RUNTIMES = ("python3.11", "python3.12", "python3.13", "python3.14")
NODE_RUNTIMES = ("nodejs22.x", "nodejs24.x")
CUSTOM_RUNTIMES = ("provided.al2023", "provided.al2")


@dataclass(frozen=True)
class FunctionSpec:
    """One deployable function, as read from a SAM template or built in code.

    ``handler`` is ``module.function`` (Lambda style, dots) or ``module:function``;
    ``code_uri`` is put on ``sys.path`` before the module is imported, then each of
    ``layers`` (a layer's directory, and its ``python/`` subdirectory when it has one,
    as Lambda puts ``/opt/python`` on the path).

    ``name`` is what the function answers to (a template's ``FunctionName``, else its
    logical id); ``logical_id`` is the template's resource id, which also names it.
    ``version`` is ``$LATEST`` for the function as the template describes it, or the
    number of a published version, whose ``code_uri`` is that version's snapshot.

    ``runtime`` is the template's ``Runtime`` (``None``: Python, in process). For Node
    (``nodejs22.x``, ``nodejs24.x``) ``handler`` is ``path/file.export`` inside
    ``code_uri`` (which, for a function built with esbuild, is the build's output), and
    ``layers`` go on ``NODE_PATH`` as ``nodejs/node_modules``; for a custom runtime
    (``provided.*``) ``code_uri`` holds an executable ``bootstrap``. ``source_maps``:
    stack traces name the TypeScript sources (the build wrote source maps).
    ``build_source``: for a function built with esbuild, the directory the build reads
    (the template's ``CodeUri``), which ``perdure serve --watch`` watches.
    """

    name: str
    handler: str
    code_uri: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    environment: dict[str, str] = field(default_factory=dict)
    durable: bool = True
    execution_timeout_s: float | None = None
    retention_days: int = DEFAULT_RETENTION_DAYS
    logical_id: str | None = None
    layers: tuple[Path, ...] = ()
    log_group: str | None = None  # LoggingConfig.LogGroup (default /aws/lambda/<name>)
    log_format: str = "Text"  # LoggingConfig.LogFormat: Text or JSON
    auto_publish_alias: str | None = None
    description: str = ""
    version: str = "$LATEST"
    runtime: str | None = None
    memory_mb: int = DEFAULT_MEMORY_MB
    source_maps: bool = False
    build_source: Path | None = None

    @property
    def language(self) -> str:
        """``python``, ``nodejs`` or ``provided``: how its handler is run."""
        if self.runtime is None or self.runtime.startswith("python"):
            return "python"
        return "nodejs" if self.runtime.startswith("nodejs") else "provided"

    @property
    def in_process(self) -> bool:
        """Whether perdure's worker processes call the handler themselves (Python)."""
        return self.language == "python"

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"

    @property
    def key(self) -> str:
        """``name:version``: what a worker process is bound to."""
        return f"{self.name}:{self.version}"

    @property
    def module_and_attr(self) -> tuple[str, str]:
        if ":" in self.handler:
            module, attr = self.handler.split(":", 1)
        else:
            module, _, attr = self.handler.rpartition(".")
        if not module or not attr:
            raise ValueError(f"handler {self.handler!r} must look like module.function")
        return module, attr
