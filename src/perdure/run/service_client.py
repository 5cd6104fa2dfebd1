"""The SDK's ``DurableServiceClient`` backed directly by the engine.

Worker processes hand this to the official SDK (through its
``DurableExecutionInvocationInputWithClient`` hook), so a checkpoint is one
database transaction: no HTTP and no boto3 on the hot path. Errors are raised as
the SDK's own exception types, classified exactly as it classifies AWS errors; a
database that is briefly unreachable is a 5xx, on which the SDK ends the invocation
to be retried (never the execution).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_durable_execution_sdk_python.exceptions import CheckpointError, GetExecutionStateError
from aws_durable_execution_sdk_python.lambda_service import (
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    Operation,
    OperationUpdate,
    StateOutput,
)

from perdure.core import Engine
from perdure.errors import ServiceError
from perdure.store import TransientStoreError


class EngineServiceClient:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: list[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        try:
            response = self._engine.checkpoint(
                durable_execution_arn, checkpoint_token, [u.to_dict() for u in updates], client_token
            )
        except ServiceError as exc:
            raise CheckpointError.from_exception(_as_client_error(exc)) from None
        except TransientStoreError as exc:
            raise CheckpointError.from_exception(_as_client_error(ServiceError(str(exc)))) from None
        state = response["NewExecutionState"]
        return CheckpointOutput(
            checkpoint_token=response.get("CheckpointToken"),
            new_execution_state=CheckpointUpdatedExecutionState(
                operations=[operation_from_wire(op) for op in state["Operations"]],
                next_marker=state.get("NextMarker"),
            ),
        )

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> StateOutput:
        try:
            response = self._engine.get_state(durable_execution_arn, checkpoint_token, next_marker or None, max_items)
        except ServiceError as exc:
            raise GetExecutionStateError.from_exception(_as_client_error(exc)) from None
        except TransientStoreError as exc:
            raise GetExecutionStateError.from_exception(_as_client_error(ServiceError(str(exc)))) from None
        return StateOutput(
            operations=[operation_from_wire(op) for op in response["Operations"]],
            next_marker=response.get("NextMarker"),
        )


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def operation_from_wire(op: dict[str, Any]) -> Operation:
    """``Operation.from_json_dict`` without its deep copy (the engine's dicts are fresh)."""
    for key in ("StartTimestamp", "EndTimestamp"):
        if key in op:
            op[key] = _ms(op[key])
    details = op.get("StepDetails")
    if details and "NextAttemptTimestamp" in details:
        details["NextAttemptTimestamp"] = _ms(details["NextAttemptTimestamp"])
    details = op.get("WaitDetails")
    if details and "ScheduledEndTimestamp" in details:
        details["ScheduledEndTimestamp"] = _ms(details["ScheduledEndTimestamp"])
    return Operation.from_dict(op)


class _ClientError(Exception):
    """Carries a service error in botocore's ``response`` shape for the SDK's classifier."""

    def __init__(self, message: str, response: dict[str, Any]) -> None:
        super().__init__(message)
        self.response = response


def _as_client_error(exc: ServiceError) -> _ClientError:
    response = {
        "Error": {"Code": exc.code, "Message": exc.message},
        "ResponseMetadata": {"HTTPStatusCode": exc.status},
    }
    return _ClientError(f"An error occurred ({exc.code}): {exc.message}", response)
