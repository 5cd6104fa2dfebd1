"""The service side of the durable-execution contract: the engine (every state change in
one store transaction), the pure transition rules, history events, pausing, the clock
and development time. It knows nothing of HTTP, processes or the console.

Imports ``perdure.errors``, ``perdure.clock``, ``store`` and ``deploy``; used by
``logs`` and every package above it (``ops`` and ``run`` drive executions through
the engine's public methods only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure import lazy_exports

if TYPE_CHECKING:
    from perdure.core.batch import OPEN, Batch, Listener, execution_not_found, require_execution
    from perdure.core.devtime import ENV, scaled_due
    from perdure.core.engine import (
        ACCOUNT,
        MAX_INPUT_BYTES,
        REGION,
        Engine,
        Invocation,
        Outcome,
        open_engine,
    )
    from perdure.core.history import to_wire
    from perdure.core.transitions import TERMINAL, Effects, apply_update, public_operation

DOORS = {
    "batch": ["OPEN", "Batch", "Listener", "execution_not_found", "require_execution"],
    "devtime": ["ENV", "scaled_due"],
    "history": ["to_wire"],
    "transitions": ["TERMINAL", "Effects", "apply_update", "public_operation"],
    "engine": ["ACCOUNT", "MAX_INPUT_BYTES", "REGION", "Engine", "Invocation", "Outcome", "open_engine"],
}
__all__ = [
    "ACCOUNT",
    "ENV",
    "MAX_INPUT_BYTES",
    "OPEN",
    "REGION",
    "TERMINAL",
    "Batch",
    "Effects",
    "Engine",
    "Invocation",
    "Listener",
    "Outcome",
    "apply_update",
    "execution_not_found",
    "open_engine",
    "public_operation",
    "require_execution",
    "scaled_due",
    "to_wire",
]
__getattr__ = lazy_exports(__name__, DOORS)
