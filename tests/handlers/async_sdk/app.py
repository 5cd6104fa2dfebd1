"""Durable handlers written with the community ``async-durable-execution`` SDK, as its
users write them. They run in that SDK's own Python (a custom runtime: ``bootstrap``
starts AWS's runtime interface client there), never in perdure's worker processes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from async_durable_execution import (
    RetryStrategy,
    durable_callable,
    durable_execution,
    get_step_context,
    invoke,
    map,
    parallel,
    step,
    wait,
    wait_for_callback,
)


@durable_callable
async def add(total: int, i: int) -> int:
    return total + i


@durable_execution
async def steps(event: dict[str, Any]) -> dict[str, Any]:
    total = 0
    for i in range(int(event.get("n", 5))):
        total = await step(add(total, i), name=f"add-{i}")
    return {"total": total, "tag": event.get("tag")}


@durable_callable
async def flaky(fails: int) -> int:
    attempt = get_step_context().attempt or 0
    if attempt < fails:
        raise RuntimeError(f"attempt {attempt} failed")
    return attempt


@durable_callable
async def broken() -> None:
    raise ValueError("always broken")


@durable_execution
async def retries(event: dict[str, Any]) -> dict[str, Any]:
    quick = RetryStrategy(max_attempts=3, initial_delay=timedelta(seconds=1), max_delay=timedelta(seconds=1))
    recovered = await step(flaky(2), name="flaky", retry_strategy=quick)
    try:
        await step(broken(), name="broken", retry_strategy=RetryStrategy(max_attempts=2, initial_delay=timedelta(seconds=1)))
    except Exception as exc:  # the step's last error, after its retries
        failure = f"{type(exc).__name__}: {exc}"
    return {"recovered_on": recovered, "failure": failure}


@durable_execution
async def waits(event: dict[str, Any]) -> list[str]:
    before = await step(add(0, 1), name="before")
    await wait(timedelta(seconds=int(event.get("seconds", 1))), name="pause")
    after = await step(add(before, 1), name="after")
    return [f"before={before}", f"after={after}"]


@durable_execution
async def approval(event: dict[str, Any]) -> dict[str, Any]:
    async def submit() -> None:
        return None  # the approver learns the callback id from the execution's history

    answer = await wait_for_callback(submit, name="approval", timeout=timedelta(minutes=5))
    return {"request": event.get("request"), "answer": answer}


@durable_execution
async def fan_out(event: dict[str, Any]) -> dict[str, Any]:
    async def square(x: int) -> int:
        return await step(add(x * x, 0), name="square")

    async def branch(label: str) -> str:
        return await step(add_label(label), name=f"branch-{label}")

    squares = await map(square, event.get("items", [1, 2, 3]), name="squares")
    branches = await parallel([lambda: branch("a"), lambda: branch("b"), lambda: branch("c")], name="branches")
    return {"squares": squares.get_results(), "branches": branches.get_results()}


@durable_callable
async def add_label(label: str) -> str:
    return f"<{label}>"


@durable_execution
async def caller(event: dict[str, Any]) -> dict[str, Any]:
    child = await invoke("AsyncSteps", {"n": int(event.get("n", 4)), "tag": "child"}, name="child")
    return {"child": child, "doubled": child["total"] * 2}
