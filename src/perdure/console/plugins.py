"""Pages other packages add to the console (podscribe's review page is one).

A package declares an entry point in the ``perdure.console`` group naming a callable
that returns a :class:`ConsolePlugin`. Its routes are mounted at
``/console/x/<name>/``; ``links`` puts buttons on an execution's page (for example
"Review transcript" while a run waits for its reviewer). A plugin may also define
``panels(console, execution, operations) -> list[(title, markupsafe.Markup)]``: sections
shown on the execution page under the timeline (run in a thread; keep them quick).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from starlette.routing import BaseRoute

from perdure.store import ExecutionRow

if TYPE_CHECKING:
    from perdure.console.app import Console

log = logging.getLogger("perdure.console")

GROUP = "perdure.console"


class ConsolePlugin(Protocol):
    name: str
    template_dir: Path | None

    def routes(self, console: Console) -> Sequence[BaseRoute]:
        """Routes mounted under ``/console/x/<name>``."""

    def links(self, console: Console, execution: ExecutionRow, operations: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
        """(label, url) buttons for an execution's page; empty when none applies."""


def load_plugins() -> list[ConsolePlugin]:
    """Every plugin installed packages declare; one that fails to load is logged and skipped."""
    found: list[ConsolePlugin] = []
    for entry in entry_points(group=GROUP):
        try:
            found.append(entry.load()())
        except Exception:
            log.exception("console plugin %s failed to load", entry.name)
    return found
