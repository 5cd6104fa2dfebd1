"""History events in the service's shapes.

Every event has EventType, EventId (1, 2, 3... per execution), EventTimestamp and a
``<EventType>Details`` key, ``{}`` when there is nothing to say. Payloads are JSON
text, exactly as checkpointed.
"""

from __future__ import annotations

from typing import Any

SUBTYPE_OF_TYPE = {"WAIT": "Wait", "CALLBACK": "Callback", "STEP": "Step"}


def make_event(event_type: str, event_id: int, now_ms: int, op: dict[str, Any] | None, details: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"EventType": event_type, "EventId": event_id, "EventTimestamp": now_ms}
    if op is not None:
        sub_type = op.get("SubType") or SUBTYPE_OF_TYPE.get(op["Type"])
        if sub_type and op["Type"] != "EXECUTION":
            event["SubType"] = sub_type
        event["Id"] = op["Id"]
        if op.get("ParentId"):
            event["ParentId"] = op["ParentId"]
        if op.get("Name"):
            event["Name"] = op["Name"]
    event[f"{event_type}Details"] = details
    return event


def to_wire(value: Any) -> Any:
    """Epoch-millisecond ``*Timestamp`` fields become epoch seconds, as rest-json sends
    them (the HTTP API and the Runtime API servers answer with this)."""
    if isinstance(value, dict):
        return {
            k: (v / 1000 if k.endswith("Timestamp") and isinstance(v, int) else to_wire(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    return value


def payload(value: str | None) -> dict[str, Any]:
    """An EventResult/EventInput: ``{"Payload": text, "Truncated": false}``."""
    return {"Truncated": False} if value is None else {"Payload": value, "Truncated": False}


def error_payload(error: dict[str, Any] | None) -> dict[str, Any]:
    return {"Payload": error or {}, "Truncated": False}


def strip_payloads(event: dict[str, Any]) -> dict[str, Any]:
    """The event without inputs, results and error payloads (IncludeExecutionData=false)."""
    out = dict(event)
    key = f"{event['EventType']}Details"
    details = dict(out.get(key) or {})
    for field in ("Input", "Result", "Error"):
        if field in details:
            details[field] = {"Truncated": False}
    out[key] = details
    return out
