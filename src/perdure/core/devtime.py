"""Development time: ``perdure serve --time-scale N`` runs timers N times faster.

The scale travels in ``$PERDURE_TIME_SCALE`` so the server's worker processes (which
checkpoint, and so set timers, themselves) see it too. Only the delay until a timer
fires is scaled (waits, step retries, callback timeouts and heartbeats); timestamps the
handler sees (a wait's ``ScheduledEndTimestamp``) keep their real values. Off (1) by
default; never meant for production.
"""

from __future__ import annotations

import os

ENV = "PERDURE_TIME_SCALE"


def time_scale() -> float:
    """The configured scale (1.0 when unset or invalid)."""
    raw = os.environ.get(ENV)
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        return 1.0
    return value if value > 0 else 1.0


def scaled_due(now_ms: int, due_ms: int) -> int:
    """When a timer set at ``now_ms`` for ``due_ms`` fires under the time scale."""
    scale = time_scale()
    if scale == 1.0 or due_ms <= now_ms:
        return due_ms
    return now_ms + int((due_ms - now_ms) / scale)
