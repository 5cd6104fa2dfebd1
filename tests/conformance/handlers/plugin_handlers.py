"""Conformance suite "plugin" (requirements 10-1 .. 10-7).

Each handler registers instrumentation plugins through the SDK's plugin API (factories
passed to ``durable_execution(plugins=...)``); the plugins print one JSON object per
hook to plain stdout, stamped with the execution ARN from the invocation-start hook,
which is how the requirements find them through CloudWatch Logs.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from aws_durable_execution_sdk_python import (
    DurableContext,
    StepContext,
    durable_execution,
    durable_step,
)
from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    OperationEndInfo,
    OperationStartInfo,
    OperationType,
    UserFunctionEndInfo,
    UserFunctionStartInfo,
)
from aws_durable_execution_sdk_python.retries import RetryPresets
from conformance_support import HandlerTestError, fixed_retry

_print_lock = threading.Lock()


class RecordingPlugin(DurableInstrumentationPlugin):
    """Prints ``{"plugin": name, "hook": ..., "durableExecutionArn": ...}`` per hook."""

    def __init__(self, name: str, info: InvocationStartInfo, *, operations: bool, attempts: bool, faulty: bool) -> None:
        self.name = name
        self.arn = info.execution_arn
        self.operations = operations
        self.attempts = attempts
        self.faulty = faulty

    def _log(self, hook: str, **fields: Any) -> None:
        record = {"plugin": self.name, "hook": hook, **fields, "durableExecutionArn": self.arn}
        with _print_lock:
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()
        if self.faulty:
            raise RuntimeError(f"{self.name} fails in {hook} on purpose")

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        fields: dict[str, Any] = {} if self.faulty else {"first": info.is_first_invocation}
        self._log("invocation-start", **fields)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        fields: dict[str, Any] = {} if self.faulty else {"status": info.status.value}
        self._log("invocation-end", **fields)

    def on_operation_start(self, info: OperationStartInfo) -> None:
        if self.operations and info.operation_type is OperationType.STEP:
            self._log("operation-start", **({} if self.faulty else {"op": info.operation_id}))

    def on_operation_end(self, info: OperationEndInfo) -> None:
        if self.operations and info.operation_type is OperationType.STEP:
            fields = {} if self.faulty else {"op": info.operation_id, "status": info.status.value}
            self._log("operation-end", **fields)

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        if self.attempts and info.operation_type is OperationType.STEP:
            self._log("attempt-start", **({} if self.faulty else {"n": info.attempt, "op": info.operation_id}))

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        if self.attempts and info.operation_type is OperationType.STEP:
            fields = {} if self.faulty else {"n": info.attempt, "outcome": info.outcome.value, "op": info.operation_id}
            self._log("attempt-end", **fields)


class RecordingPluginFactory:
    def __init__(self, name: str, *, operations: bool = False, attempts: bool = False, faulty: bool = False) -> None:
        self.name = name
        self.operations = operations
        self.attempts = attempts
        self.faulty = faulty

    def create_plugin(self, info: InvocationStartInfo) -> RecordingPlugin:
        return RecordingPlugin(self.name, info, operations=self.operations, attempts=self.attempts, faulty=self.faulty)


@durable_step
def greet_logged(step_context: StepContext, name: Any) -> str:
    step_context.logger.info(f"Greeting step running for: {name}")
    return f"Hello, {name}!"


@durable_step
def greet(step_context: StepContext, name: Any) -> str:
    return f"Hello, {name}!"


@durable_execution(plugins=[RecordingPluginFactory("CONFPLUGIN")])
def plugin_10_1(event: Any, context: DurableContext) -> str:
    """10-1: invocation-start (first=true) and invocation-end hooks around one step."""
    return context.step(greet_logged(event))


@durable_execution(plugins=[RecordingPluginFactory("CONFPLUGIN", operations=True)])
def plugin_10_2(event: Any, context: DurableContext) -> str:
    """10-2: operation-start and operation-end hooks of a step, with its operation id."""
    return context.step(greet(event))




@durable_execution(plugins=[RecordingPluginFactory("CONFPLUGIN", attempts=True)])
def plugin_10_3(event: Any, context: DurableContext) -> str:
    """10-3: attempt hooks per step attempt; attempt 1 fails, attempt 2 succeeds."""

    def unreliable(step_context: StepContext) -> str:
        if step_context.attempt == 1:
            raise HandlerTestError("first attempt fails")
        return "Operation succeeded"

    return context.step(unreliable, config=StepConfig(retry_strategy=fixed_retry(3)))


@durable_execution(plugins=[RecordingPluginFactory("CONFPLUGIN-FAULTY", operations=True, attempts=True, faulty=True)])
def plugin_10_4(event: Any, context: DurableContext) -> str:
    """10-4: every hook logs, then raises; the execution is unaffected."""
    return context.step(greet(event))


@durable_execution(plugins=[RecordingPluginFactory("CONFPLUGIN-A"), RecordingPluginFactory("CONFPLUGIN-B")])
def plugin_10_5(event: Any, context: DurableContext) -> str:
    """10-5: two plugins, A then B, both see the invocation hooks."""
    return context.step(greet(event))


@durable_execution(plugins=[RecordingPluginFactory("CONFPLUGIN")])
def plugin_10_6(event: Any, context: DurableContext) -> None:
    """10-6: a 2 s wait; first=true on the first invocation, first=false on the replay."""
    context.wait(Duration.from_seconds(2))


@durable_execution(plugins=[RecordingPluginFactory("CONFPLUGIN")])
def plugin_10_7(event: Any, context: DurableContext) -> str:
    """10-7: a step that always raises, no retries; invocation-end reports FAILED."""

    def failing(step_context: StepContext) -> str:
        raise HandlerTestError("step always fails")

    return context.step(failing, config=StepConfig(retry_strategy=RetryPresets.none()))
