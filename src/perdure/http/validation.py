"""Request validation against botocore's ``lambda`` service model.

The model already says what each operation accepts: member types, required members,
enums, lengths, numeric ranges and patterns. Checking request bodies against it turns
every malformed request into a ``ValidationException`` naming the member, before any
of it reaches the engine (which then only has to check what the model cannot say:
tokens, states, sizes across members). Unknown members are ignored, as AWS does.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from perdure.errors import ServiceError

MAX_MESSAGE_ECHO = 120  # characters of a client's input quoted back in an error


class ValidationError(ServiceError):
    code = "ValidationException"
    status = 400
    error_kind = "User"
    message_key = "message"


def echo(value: Any) -> str:
    """A client's input, quoted in an error message without echoing it whole."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= MAX_MESSAGE_ECHO else text[:MAX_MESSAGE_ECHO] + "...")


@functools.cache
def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("lambda")


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:  # a Java-only construct: the other checks still apply
        return None


def validate_body(operation: str, body: dict[str, Any]) -> None:
    """Check the JSON body members of ``operation``'s input; raise ``ValidationError``."""
    shape = _model().operation_model(operation).input_shape
    for name, member in shape.members.items():
        if member.serialization.get("location") or name not in body:
            continue
        _check(member, body[name], name)
    for name in shape.required_members:
        member = shape.members[name]
        if not member.serialization.get("location") and body.get(name) is None:
            raise ValidationError(f"{name} is required")


def check_value(operation: str, member: str, value: Any) -> None:
    """Check one input member of ``operation`` (a path or query value, already decoded)."""
    _check(_model().operation_model(operation).input_shape.members[member], value, member)


def _check(shape: Any, value: Any, where: str) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if value is None:
        return
    if kind == "structure":
        if not isinstance(value, dict):
            raise ValidationError(f"{where} must be an object")
        for name in shape.required_members:
            if value.get(name) is None:
                raise ValidationError(f"{where}.{name} is required")
        for name, member in shape.members.items():
            if name in value:
                _check(member, value[name], f"{where}.{name}")
    elif kind == "list":
        if not isinstance(value, list):
            raise ValidationError(f"{where} must be a list")
        _length(meta, len(value), where, "items")
        for index, item in enumerate(value):
            _check(shape.member, item, f"{where}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            raise ValidationError(f"{where} must be an object")
        for key, item in value.items():
            _check(shape.value, item, f"{where}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            raise ValidationError(f"{where} must be a string")
        if "enum" in meta and value not in meta["enum"]:
            raise ValidationError(f"{where} must be one of {', '.join(meta['enum'])}; got {echo(value)}")
        _length(meta, len(value), where, "characters")
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and value and not pattern.fullmatch(value):
            raise ValidationError(f"{where} {echo(value)} does not match the pattern {meta['pattern']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(f"{where} must be an integer; got {echo(value)}")
        _range(meta, value, where)
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError(f"{where} must be a finite number; got {echo(value)}")
        _range(meta, value, where)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ValidationError(f"{where} must be true or false; got {echo(value)}")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError(f"{where} must be a timestamp; got {echo(value)}")
    elif kind == "blob" and not isinstance(value, str):
        raise ValidationError(f"{where} must be a base64 string")


def _length(meta: dict[str, Any], size: int, where: str, unit: str) -> None:
    if "min" in meta and size < meta["min"]:
        raise ValidationError(f"{where} must have at least {meta['min']} {unit}")
    if "max" in meta and size > meta["max"]:
        raise ValidationError(f"{where} must have at most {meta['max']} {unit}; got {size}")


def _range(meta: dict[str, Any], value: float, where: str) -> None:
    if "min" in meta and value < meta["min"]:
        raise ValidationError(f"{where} must be at least {meta['min']}; got {value}")
    if "max" in meta and value > meta["max"]:
        raise ValidationError(f"{where} must be at most {meta['max']}; got {echo(value)}")
