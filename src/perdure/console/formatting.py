"""Jinja filters: times, durations and JSON as the pages show them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

PAYLOAD_CUT = 32 * 1024


def utc_text(ms: int | float | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def timestamp(ms: int | float | None) -> Markup:
    """A <time> element: UTC on the server; the page's script shows local time and keeps
    UTC in the tooltip. Same width either way, so nothing jumps."""
    if ms is None:
        return Markup('<span class="muted">-</span>')
    iso = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    text = utc_text(ms)
    return Markup(f'<time datetime="{iso}" data-ms="{int(ms)}" title="{text}">{text}</time>')


def duration(ms: int | float | None) -> str:
    """1.25 s, 3 min 4 s, 2 h 5 min, 3 d 4 h."""
    if ms is None:
        return "-"
    ms = max(0, int(ms))
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def pretty(value: Any) -> tuple[str, bool]:
    """JSON text (or a value) indented for reading; True when it was cut to PAYLOAD_CUT."""
    if value is None:
        return "", False
    if isinstance(value, str):
        try:
            text = json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except (json.JSONDecodeError, ValueError):
            text = value
    else:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > PAYLOAD_CUT:
        return text[:PAYLOAD_CUT], True
    return text, False


def event_json(details: Any, limit: int = 4096) -> str:
    """An event's details for the history table: compact JSON cut at ``limit`` characters
    (one encoding per event: the history table shows up to 200 of them)."""
    text = json.dumps(details, ensure_ascii=False, default=str)
    if len(text) > limit:
        return text[:limit] + f" ... cut ({len(text)} characters in all)"
    return text


def status_class(status: str | None) -> str:
    return "st-" + (status or "unknown").lower().replace(" ", "-")


def register(env: Any) -> None:
    env.filters["ts"] = timestamp
    env.filters["utc"] = utc_text
    env.filters["duration"] = duration
    env.filters["status_class"] = status_class
    env.filters["event_json"] = event_json
