"""The execution page's logs panel: what the handler logged, each line once.

Built in as a console plugin (its ``panels`` hook): the lines come from the same store
as ``perdure logs`` and the CloudWatch Logs API (``perdure.logs.reader``). Lines written
again while the handler replayed are in the page but hidden until "show replayed lines"
is ticked (a CSS toggle: nothing to load).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape
from starlette.routing import BaseRoute

from perdure.console.formatting import timestamp
from perdure.logs import execution_rows
from perdure.store import ExecutionRow

if TYPE_CHECKING:
    from perdure.console.app import Console

MAX_LINES = 500  # the newest; `perdure logs ARN` has them all

_STYLE = (
    "<style>"
    "#show-replay:not(:checked) ~ table tr.replay{display:none}"
    "table.logs td{font-family:var(--mono,monospace);font-size:.85em;vertical-align:top}"
    "table.logs tr.replay td{opacity:.6}"
    "table.logs td.msg{white-space:pre-wrap;word-break:break-word}"
    "</style>"
)


class LogsPanel:
    """The console plugin that shows an execution's log lines."""

    name = "logs"
    template_dir: Path | None = None

    def routes(self, console: Console) -> Sequence[BaseRoute]:
        return []

    def links(self, console: Console, execution: ExecutionRow, operations: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
        return []

    def panels(self, console: Console, execution: ExecutionRow, operations: Sequence[dict[str, Any]]) -> list[tuple[str, Markup]]:
        rows = execution_rows(console.engine.store, execution.arn)
        if not rows:
            return [("Logs", Markup('<p class="muted">Nothing logged yet.</p>'))]
        shown = rows[-MAX_LINES:]
        replayed = sum(1 for r in rows if r.replay)
        parts = [_STYLE]
        note = f"{len(rows)} line{'s' if len(rows) != 1 else ''}"
        if len(rows) > len(shown):
            note += f", the newest {len(shown)} here (all: <code>perdure logs {escape(execution.arn)}</code>)"
        parts.append(f'<p class="muted">{note}</p>')
        parts.append(
            f'<input type="checkbox" id="show-replay"> <label for="show-replay">show {replayed} '
            "replayed line(s) (written again while the handler replayed)</label>"
        )
        parts.append('<table class="logs"><thead><tr><th>time</th><th>level</th><th>operation</th><th>message</th></tr></thead><tbody>')
        for row in shown:
            message = row.body.get("message", "")
            text = message if isinstance(message, str) else str(message)
            parts.append(
                f'<tr class="{"replay" if row.replay else ""}">'
                f"<td>{timestamp(row.ts_ms)}</td>"
                f"<td>{escape(row.level)}</td>"
                f"<td>{escape(row.operation_name or row.operation_id or '')}</td>"
                f'<td class="msg">{escape(text)}</td></tr>'
            )
        parts.append("</tbody></table>")
        return [("Logs", Markup("".join(parts)))]
