"""Finding executions the way people name them: by full ARN, by execution name, or by
a unique prefix of the execution id; and listing across every function.

ARNs are long and carry ``$LATEST``, which a shell eats inside double quotes; the CLI
(and the console) accept what a person remembers instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from perdure.core import Engine
from perdure.errors import InvalidParameterValue, ResourceNotFound
from perdure.store import ExecutionRow

PAGE = 1000
MIN_PREFIX = 4
SHOWN = 5


class AmbiguousReference(InvalidParameterValue):
    """More than one execution matches; the message lists them."""


def execution_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _functions(engine: Engine, function: str | None) -> list[str]:
    if function is None:
        return sorted(engine.functions)
    from perdure.deploy import parse_function_name

    name = parse_function_name(function)
    engine.function(name)  # ResourceNotFound for an unknown function
    return [name]


def _scan(engine: Engine, function: str, statuses: Sequence[str] = ()) -> Iterator[ExecutionRow]:
    """Every execution of a function, newest first."""
    after: tuple[int, str] | None = None
    while True:
        with engine.store.read() as tx:
            rows = tx.list_executions(function, statuses, None, None, None, after, PAGE, True)
        yield from rows
        if len(rows) < PAGE:
            return
        after = (rows[-1].start_ms, rows[-1].arn)


def resolve(engine: Engine, ref: str, function: str | None = None) -> ExecutionRow:
    """The execution ``ref`` names: an ARN, an execution name, or an id prefix."""
    ref = ref.strip()
    if not ref:
        raise InvalidParameterValue("Name an execution: its ARN, its name or a prefix of its id")
    if ref.startswith("arn:"):
        return engine.get_execution(ref)
    functions = _functions(engine, function)
    with engine.store.transaction() as tx:
        named = [row for f in functions if (row := tx.find_execution(f, ref)) is not None]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise AmbiguousReference(
            f"Execution name {ref!r} is used by {len(named)} functions "
            f"({', '.join(r.function_name for r in named)}): pass --function"
        )
    if len(ref) < MIN_PREFIX:
        raise ResourceNotFound(f"No execution named {ref!r} (an id prefix needs at least {MIN_PREFIX} characters)")
    matches = [row for f in functions for row in _scan(engine, f) if execution_id(row.arn).startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        where = f" of {functions[0]}" if function else ""
        raise ResourceNotFound(f"No execution{where} named {ref!r} or with an id starting {ref!r}")
    shown = "; ".join(r.arn for r in matches[:SHOWN])
    more = f" and {len(matches) - SHOWN} more" if len(matches) > SHOWN else ""
    raise AmbiguousReference(f"{len(matches)} executions have an id starting {ref!r}: {shown}{more}")


def list_all(engine: Engine, statuses: Sequence[str] = (), limit: int = 100) -> list[ExecutionRow]:
    """The newest ``limit`` executions across every function, newest first."""
    rows: list[ExecutionRow] = []
    for function in sorted(engine.functions):
        for count, row in enumerate(_scan(engine, function, statuses)):
            if count >= limit:
                break
            rows.append(row)
    rows.sort(key=lambda r: (r.start_ms, r.arn), reverse=True)
    return rows[:limit]
