"""Helpers shared by the conformance handlers.

Nothing here talks to a backend: these are the small pieces several requirements
need (a crash that looks like a Lambda runtime exit, a once-per-execution marker
that survives that crash, custom serdes, and retry/wait strategies with fixed,
jitter-free delays so histories are deterministic).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python.config import Duration, JitterStrategy
from aws_durable_execution_sdk_python.retries import (
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from aws_durable_execution_sdk_python.waits import (
    WaitStrategyConfig,
    create_wait_strategy,
)

STATE_DIR_ENV = "CONFORMANCE_STATE_DIR"


class TransientError(Exception):
    """An error a retry strategy is expected to recognise by type."""


class HandlerTestError(Exception):
    """The error the conformance handlers raise on purpose."""


# --- crash / once-per-execution ------------------------------------------------


def _state_dir() -> Path:
    base = os.environ.get(STATE_DIR_ENV) or os.path.join(
        tempfile.gettempdir(), "perdure-conformance-state"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def first_time(execution_arn: str, tag: str) -> bool:
    """True the first time (execution, tag) is seen, on this machine, across processes.

    The marker is a file created with O_EXCL, so it survives the handler process
    being killed, which an in-memory flag would not.
    """
    digest = hashlib.sha256(f"{execution_arn}\0{tag}".encode()).hexdigest()[:32]
    try:
        fd = os.open(_state_dir() / digest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def crash_process(state: Any | None = None) -> None:
    """Die the way a Lambda runtime does on process.exit: no cleanup, exit status 1.

    ``state`` (the SDK's execution state, ``DurableContext.state``) is flushed first
    when given, so asynchronously queued checkpoints (an at-least-once step START)
    reach the backend before the process disappears.
    """
    if state is not None:
        # An empty synchronous checkpoint waits for everything queued before it.
        state.create_checkpoint()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


# --- retry / wait strategies ---------------------------------------------------


def fixed_retry(max_attempts: int, delay_s: int = 1, backoff: float = 1.0):
    """Retry every error, ``max_attempts`` attempts in all, no jitter."""
    return create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=max_attempts,
            initial_delay=Duration.from_seconds(delay_s),
            max_delay=Duration.from_minutes(5),
            backoff_rate=backoff,
            jitter_strategy=JitterStrategy.NONE,
        )
    )


def fixed_poll(should_continue, delay_s: int = 1, max_attempts: int = 60):
    """A wait_for_condition strategy polling every ``delay_s`` seconds, no jitter."""
    return create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=should_continue,
            max_attempts=max_attempts,
            initial_delay=Duration.from_seconds(delay_s),
            max_delay=Duration.from_seconds(delay_s),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )


# --- serdes --------------------------------------------------------------------


def _upper_strings(value: Any) -> Any:
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, list):
        return [_upper_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _upper_strings(v) for k, v in value.items()}
    return value


class UppercaseJsonSerDes(SerDes[Any]):
    """JSON, with every string value upper-cased on the way out."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps(_upper_strings(value))

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)


class UppercaseRawSerDes(SerDes[str]):
    """A string stored as its upper-cased raw text (not JSON)."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return str(value).upper()

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data


class PrefixSerDes(SerDes[str]):
    """A string stored as ``<prefix><value>``; reading strips the prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return f"{self.prefix}{value}"

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        if not data.startswith(self.prefix):
            raise ValueError(f"payload {data[:40]!r} lacks prefix {self.prefix!r}")
        return data[len(self.prefix) :]


class WrappedJsonSerDes(SerDes[Any]):
    """A value stored as the JSON envelope ``{"wrapped": value}``."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps({"wrapped": value})

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)["wrapped"]


class PlainJsonSerDes(SerDes[Any]):
    """Plain JSON both ways."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)
