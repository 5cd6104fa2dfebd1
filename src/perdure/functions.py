"""What perdure knows about a function: where its handler lives and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TIMEOUT_S = 3.0  # Lambda's (and SAM's) default function timeout
DEFAULT_RETENTION_DAYS = 14


@dataclass(frozen=True)
class FunctionSpec:
    """One deployable function, as read from a SAM template or built in code.

    ``handler`` is ``module.function`` (Lambda style, dots) or ``module:function``;
    ``code_uri`` is put on ``sys.path`` before the module is imported.
    """

    name: str
    handler: str
    code_uri: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    environment: dict[str, str] = field(default_factory=dict)
    durable: bool = True
    execution_timeout_s: float | None = None
    retention_days: int = DEFAULT_RETENTION_DAYS

    @property
    def module_and_attr(self) -> tuple[str, str]:
        if ":" in self.handler:
            module, attr = self.handler.split(":", 1)
        else:
            module, _, attr = self.handler.rpartition(".")
        if not module or not attr:
            raise ValueError(f"handler {self.handler!r} must look like module.function")
        return module, attr
