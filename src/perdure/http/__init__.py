"""HTTP, both sides: the Lambda API (boto3's ``lambda`` client), perdure's own routes
(``/perdure/v1``), the functions, CloudWatch Logs and CloudFormation APIs, SigV4
authentication, the request guard, validation against botocore's model, connection
deadlines, synchronous invokes, idempotency, ``perdure serve``'s server, and the
client of perdure's own API.

May import every package but ``cli``, which is its only user besides
``perdure.testing``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure import lazy_exports

if TYPE_CHECKING:
    from perdure.http.auth import load_auth
    from perdure.http.client import PerdureClient, PerdureError
    from perdure.http.request_guard import is_loopback
    from perdure.http.server import run_server

DOORS = {
    "auth": ["load_auth"],
    "client": ["PerdureClient", "PerdureError"],
    "request_guard": ["is_loopback"],
    "server": ["run_server"],
}
__all__ = [
    "PerdureClient",
    "PerdureError",
    "is_loopback",
    "load_auth",
    "run_server",
]
__getattr__ = lazy_exports(__name__, DOORS)
