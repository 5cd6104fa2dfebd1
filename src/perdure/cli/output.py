"""How ``perdure`` commands print: tables for people, JSON for scripts, and the
formatting of times, payloads, events and what an execution waits on."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, Final


def strip_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def decode_payload(raw: bytes) -> Any:
    """An invoke response payload: parsed JSON when it is JSON, else its text."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return jsonable(raw)


def payload_display(raw: bytes) -> str:
    if not raw:
        return ""
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return str(jsonable(raw))


def fmt_time(value: Any, *, date: bool = True) -> str:
    if not isinstance(value, dt.datetime):
        return "" if value is None else str(value)
    moment: dt.datetime = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f" if date else "%H:%M:%S.%f")[:-3]
    return text + ("Z" if date and moment.tzinfo is not None else "")


def fmt_seconds(value: Any) -> str | None:
    return None if value is None else f"{value} s"


def fmt_days(value: Any) -> str | None:
    return None if value is None else f"{value} days"


def error_text(error: Any) -> str | None:
    if not isinstance(error, Mapping) or not error:
        return None
    kind = error.get("ErrorType") or "Error"
    message = error.get("ErrorMessage")
    return f"{kind}: {message}" if message else str(kind)


def short_id(value: Any) -> str:
    text = "" if value is None else str(value)
    return text[:12] + "…" if len(text) > 13 else text


def event_label(event: Mapping[str, Any]) -> str:
    label = str(event.get("EventType") or "")
    if event.get("SubType"):
        label += f" ({event['SubType']})"
    if label.startswith("TimerAdvanced"):
        label += " [development: fired early by `perdure executions advance`]"
    return label


KEEP_WHOLE: Final = frozenset({"ErrorType"})
MAX_VALUE_CHARS: Final = 80


def event_details(event: Mapping[str, Any]) -> str:
    """A one-line summary of an event's ``<EventType>Details``."""
    details = event.get(f"{event.get('EventType')}Details")
    if not isinstance(details, Mapping):
        details = next(
            (v for k, v in event.items() if k.endswith("Details") and isinstance(v, Mapping)),
            {},
        )
    parts: list[str] = []
    for path, value in flatten(details):
        leaf = path.rsplit(".", 1)[-1]
        if isinstance(value, dt.datetime):
            text = fmt_time(value)
        elif isinstance(value, str):
            text = display_payload(value) or "" if value.startswith('{"t":') else value
        else:
            text = json.dumps(jsonable(value), ensure_ascii=False)
        if leaf not in KEEP_WHOLE and len(text) > MAX_VALUE_CHARS:
            text = text[: MAX_VALUE_CHARS - 1] + "…"
        parts.append(f"{path}={text}")
    return "  ".join(parts)


def flatten(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item and set(item) <= {"Payload", "Truncated"}:
            # EventInput / EventResult / EventError: show the payload under the outer name.
            payload = item.get("Payload")
            if isinstance(payload, Mapping):
                payload = error_text(payload) if key == "Error" else payload
            if item.get("Truncated"):
                path += "(truncated)"
            if payload not in (None, {}, []):
                yield path, payload
        elif isinstance(item, Mapping) and item:
            yield from flatten(item, path + ".")
        elif item not in (None, {}, []):
            yield path, item


PIPE_WIDTH: Final = 1000

STATUS_STYLES: Final = {
    "RUNNING": "cyan",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "STOPPED": "yellow",
    "PAUSING": "yellow",
    "PAUSED": "yellow",
    "DELETING": "dim",
}


class Styled(str):
    """Text shown with a rich style in tables."""

    style: str = ""


def styled_status(status: Any) -> Any:
    if status is None:
        return None
    styled = Styled(status)
    styled.style = STATUS_STYLES.get(str(status), "")
    return styled


class Output:
    """Tables for people, JSON for scripts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json: bool = bool(getattr(args, "json", False))
        self._stream: IO[str] = sys.stdout

    def print_json(self, value: Any) -> None:
        self._stream.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")

    def note(self, text: str) -> None:
        self._stream.write(text + "\n")

    def _console(self) -> Any:
        from rich.console import Console

        width = None
        if not self._stream.isatty() and not os.environ.get("COLUMNS"):
            width = PIPE_WIDTH  # piped or redirected: do not wrap tables at 80 columns
        return Console(file=self._stream, highlight=False, width=width)

    @staticmethod
    def _cell(value: Any) -> Any:
        from rich.text import Text

        if value is None:
            return Text("")
        return Text(str(value), style=getattr(value, "style", ""))

    def key_values(self, rows: Sequence[tuple[str, Any]]) -> None:
        """Aligned ``key  value`` lines, never wrapped (ARNs stay copyable)."""
        from rich.text import Text

        console = self._console()
        width = max((len(key) for key, _ in rows), default=0)
        for key, value in rows:
            line = Text(key.ljust(width + 2), style="bold")
            line.append_text(self._cell(value))
            console.print(line, soft_wrap=True)

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        no_wrap: Sequence[str] = (),
    ) -> None:
        from rich.table import Table

        table = Table(*headers, header_style="bold")
        for column in table.columns:
            column.overflow = "fold"
            column.no_wrap = column.header in no_wrap
        for row in rows:
            table.add_row(*(self._cell(value) for value in row))
        self._console().print(table)


# --------------------------------------------------------------------------- payloads for people


def unwrap_envelope(value: Any) -> Any:
    """The SDK's serialisation envelope (``{"t": "m", "v": {...}}``) unwrapped for display."""
    if isinstance(value, dict):
        if set(value) == {"t", "v"} and isinstance(value["t"], str):
            inner = value["v"]
            if isinstance(inner, dict):
                return {k: unwrap_envelope(v) for k, v in inner.items()}
            if isinstance(inner, list):
                return [unwrap_envelope(v) for v in inner]
            return inner
        return {k: unwrap_envelope(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_envelope(v) for v in value]
    return value


def display_payload(text: Any) -> str | None:
    """A JSON payload as compact JSON for people, the SDK's envelope unwrapped."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        return json.dumps(jsonable(text), ensure_ascii=False)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return json.dumps(unwrap_envelope(value), ensure_ascii=False)


def epoch_time(value: Any) -> str:
    """An epoch-seconds number (perdure's own routes) as a UTC time."""
    if not isinstance(value, int | float):
        return ""
    return fmt_time(dt.datetime.fromtimestamp(value, dt.UTC))


def in_how_long(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    import time

    left = value - time.time()
    if left <= 0:
        return "due now"
    if left < 120:
        return f"in {left:.0f} s"
    if left < 7200:
        return f"in {left / 60:.0f} min"
    return f"in {left / 3600:.1f} h"


def pending_lines(state: Mapping[str, Any], arn: str) -> list[str]:
    """What an execution waits on, one line each, with the command that moves it on."""
    ref = arn.rsplit("/", 1)[-1]  # the execution id: unique, and no $ for the shell

    def label(kind: str, item: Mapping[str, Any]) -> str:
        return f"{kind} {item['Name']}" if item.get("Name") else kind

    lines: list[str] = []
    for wait in state.get("Waits") or []:
        due = wait.get("DueTimestamp")
        lines.append(f"{label('wait', wait)}: due {epoch_time(due)} ({in_how_long(due)});"
                     f" skip it: perdure executions advance {ref}")
    for callback in state.get("Callbacks") or []:
        lines.append(f"{label('callback', callback)}: id {callback.get('CallbackId')}; complete it:"
                     f" perdure callback succeed {callback.get('CallbackId')} --payload 'true'")
    for retry in state.get("Retries") or []:
        error = error_text(retry.get("Error"))
        when = retry.get("NextAttemptTimestamp")
        text = f"retry of {label('step', retry)}: attempt {int(retry.get('Attempt') or 0) + 1}"
        if when:
            text += f" at {epoch_time(when)} ({in_how_long(when)}); skip the delay: perdure executions advance {ref}"
        if error:
            text += f" (after {error})"
        lines.append(text)
    for invoke in state.get("Invokes") or []:
        lines.append(f"{label('invoke', invoke)}: execution {invoke.get('DurableExecutionArn')}")
    for step in state.get("Steps") or []:
        lines.append(f"{label('step', step)}: running")
    retry = state.get("InvocationRetry")
    if retry:
        due = retry.get("NextInvocationTimestamp")
        lines.append(f"re-invoke after {retry.get('FailedInvocations')} failed invocation(s): at {epoch_time(due)}"
                     f" ({in_how_long(due)}); skip the delay: perdure executions advance {ref}")
    return lines
