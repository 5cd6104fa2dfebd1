"""perdure: a self-hosted runtime for AWS Lambda durable functions.

Handlers written with the official ``aws-durable-execution-sdk-python`` run unchanged;
state lives in SQLite (default) or PostgreSQL. ``perdure serve`` is the
Lambda-compatible HTTP API; to embed perdure in a program, use the names below::

    from perdure import Runtime, load_template

The role packages, lowest first (a package imports only those before it):
``errors`` (a module), ``store``, ``deploy``, ``core``, ``logs``, ``ops``, ``run``,
``console``, ``http``, ``cli``, and ``testing`` (the pytest plugin). Each package's
``__all__`` is its public door: other packages use only those names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perdure.clock import Clock
    from perdure.core import Engine, open_engine
    from perdure.deploy import FunctionSpec, load_template
    from perdure.http import PerdureClient
    from perdure.run import Runtime
    from perdure.store import ExecutionRow

__version__ = "0.1.0"

__all__ = [
    "Clock", "Engine", "ExecutionRow", "FunctionSpec", "PerdureClient", "Runtime",
    "__version__", "lazy_exports", "load_template", "open_engine",
]


def lazy_exports(package: str, doors: Mapping[str, Sequence[str]]) -> Callable[[str], Any]:
    """A package's module ``__getattr__``: each public name in ``doors`` (module ->
    names) is imported from its module on first use. Importing one module of a package
    then does not import the rest: worker processes and the CLI start without the HTTP
    server's or the SDK's imports. (The package's ``TYPE_CHECKING`` imports name the
    same things for type checkers.)"""
    where = {name: module for module, names in doors.items() for name in names}

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return getattr_


__getattr__ = lazy_exports("perdure", {
    "clock": ["Clock"],
    "core": ["Engine", "open_engine"],
    "deploy": ["FunctionSpec", "load_template"],
    "http": ["PerdureClient"],
    "run": ["Runtime"],
    "store": ["ExecutionRow"],
})
