"""Errors perdure answers with, in the Lambda service's shapes.

Each carries the exception name botocore maps to a modeled error, the HTTP status
the service uses for it, and whether the message key is ``message`` or ``Message``
(the service model spells it both ways).
"""

from __future__ import annotations


class ServiceError(Exception):
    code = "ServiceException"
    status = 500
    error_kind = "Service"
    message_key = "Message"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_body(self) -> dict[str, str]:
        return {"Type": self.error_kind, self.message_key: self.message}


class InvalidParameterValue(ServiceError):
    code = "InvalidParameterValueException"
    status = 400
    error_kind = "User"
    message_key = "message"


class ResourceNotFound(ServiceError):
    code = "ResourceNotFoundException"
    status = 404
    error_kind = "User"


class ResourceConflict(ServiceError):
    code = "ResourceConflictException"
    status = 409
    error_kind = "User"
    message_key = "message"


class CallbackTimeout(ServiceError):
    code = "CallbackTimeoutException"
    status = 400
    error_kind = "User"


class RequestTooLarge(ServiceError):
    code = "RequestTooLargeException"
    status = 413
    error_kind = "User"
    message_key = "message"


class TooManyRequests(ServiceError):
    code = "TooManyRequestsException"
    status = 429
    error_kind = "User"
    message_key = "message"


class UnsupportedOperation(ServiceError):
    """A Lambda API operation perdure does not implement (not a missing resource)."""

    code = "UnsupportedOperationException"
    status = 501
    error_kind = "User"
    message_key = "message"
