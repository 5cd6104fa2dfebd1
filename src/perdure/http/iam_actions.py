"""Which IAM action each Lambda API request asks for, read from botocore's ``lambda``
service model (the same model the API serves), so a route and its action cannot drift."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from urllib.parse import unquote

__all__ = ["ROUTES", "Route", "match_route"]

# IAM spells an operation's action as its name, except these.
_ACTION_NAMES: Final = {"Invoke": "InvokeFunction"}
# Labels that may hold a "/" (execution ARNs do; botocore sends them encoded, others may not).
_GREEDY: Final = {"DurableExecutionArn"}


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    action: str
    literal_chars: int


@lru_cache(maxsize=1)
def _routes() -> tuple[Route, ...]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = str(http["requestUri"]).split("?", 1)[0]
        parts = re.split(r"\{([A-Za-z]+)\+?\}", uri)
        regex = ""
        for index, part in enumerate(parts):
            if index % 2 == 0:
                regex += re.escape(part)
            else:
                regex += f"(?P<{part}>{'.+' if part in _GREEDY else '[^/]+'})"
        literal = sum(len(p) for p in parts[::2])
        action = f"lambda:{_ACTION_NAMES.get(name, name)}"
        routes.append(Route(str(http["method"]), re.compile(f"^{regex}$"), action, literal))
    # The longest literal first: ".../{arn}/history" before ".../{arn}".
    return tuple(sorted(routes, key=lambda r: -r.literal_chars))


ROUTES: Final = _routes()


def match_route(method: str, raw_path: str) -> tuple[str, dict[str, str]] | None:
    """(action, decoded path labels) of a request, or None for a path Lambda has not."""
    for route in ROUTES:
        if route.method != method:
            continue
        match = route.pattern.match(raw_path)
        if match:
            return route.action, {k: unquote(v) for k, v in match.groupdict().items()}
    return None
