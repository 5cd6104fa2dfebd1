"""Times written for people: durations in progress lines, tables and summaries
(:func:`format_duration`), and timestamps within an episode in chapters, show notes and
prompts (:func:`clock`). Caption files use their own formats (:mod:`podscribe.captions`).
"""

from __future__ import annotations

__all__ = ["clock", "format_duration"]


def format_duration(seconds: float | None) -> str:
    """``8.6s``, ``1m06s``, ``1h02m03s`` (``-`` when unknown)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s"


def clock(seconds: float) -> str:
    """``MM:SS`` or ``H:MM:SS`` (whole seconds, rounded down)."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
