"""Failed steps and invocations keep their stack trace.

AWS's ErrorObject has a ``StackTrace`` (a list of lines), but the SDK fills it only for
errors that already carry one: an exception raised by a step, a child context or the
handler itself is recorded with ``StackTrace`` empty, so ``get`` and ``history`` can
say what failed but not where. ``install()``, called in perdure's worker processes,
makes the SDK's ``ErrorObject.from_exception`` add the formatted traceback (its last
``MAX_LINES`` lines) when the SDK gave none. Nothing else about the error changes, and
on replay the SDK reads the field back as it does for AWS's.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from typing import Any

MAX_LINES = 40


def format_stack(exc: BaseException) -> list[str]:
    """The traceback of ``exc`` as lines (innermost last), at most ``MAX_LINES``."""
    lines = [line for chunk in traceback.format_exception(exc) for line in chunk.rstrip("\n").split("\n")]
    return lines[-MAX_LINES:]


def install() -> None:
    from aws_durable_execution_sdk_python.lambda_service import ErrorObject

    original = ErrorObject.__dict__["from_exception"].__func__
    if getattr(original, "_perdure", False):
        return

    def from_exception(cls: Any, exception: BaseException) -> Any:
        error = original(cls, exception)
        if error.stack_trace is None and exception.__traceback__ is not None:
            error = replace(error, stack_trace=format_stack(exception))
        return error

    from_exception._perdure = True  # type: ignore[attr-defined]
    ErrorObject.from_exception = classmethod(from_exception)  # type: ignore[method-assign,assignment]
