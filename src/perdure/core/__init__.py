"""The service side of the durable-execution contract: the engine (every state change in
one store transaction), the pure transition rules, history events, pausing, the clock
and development time. It knows nothing of HTTP, processes or the console.

May import: ``perdure.errors``, ``store`` and ``deploy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure import lazy_exports

if TYPE_CHECKING:
    from perdure.core.batch import OPEN, Batch, Listener
    from perdure.core.devtime import ENV, scaled_due
    from perdure.core.engine import (
        ACCOUNT,
        MAX_INPUT_BYTES,
        NO_DETAIL,
        REGION,
        Engine,
        Invocation,
        Outcome,
        open_engine,
    )

DOORS = {
    "batch": ["OPEN", "Batch", "Listener"],
    "devtime": ["ENV", "scaled_due"],
    "engine": ["ACCOUNT", "MAX_INPUT_BYTES", "NO_DETAIL", "REGION", "Engine", "Invocation", "Outcome", "open_engine"],
}
__all__ = [
    "ACCOUNT",
    "ENV",
    "MAX_INPUT_BYTES",
    "NO_DETAIL",
    "OPEN",
    "REGION",
    "Batch",
    "Engine",
    "Invocation",
    "Listener",
    "Outcome",
    "open_engine",
    "scaled_due",
]
__getattr__ = lazy_exports(__name__, DOORS)
