"""A small order workflow to try the console with: a step that fails twice before it
succeeds (with retry delays), a map over the order's items (one child context each), a
timed wait, and a human approval through a callback.

    perdure serve -t docs/demo/template.yaml
    perdure invoke ShopOrder --async --name order-1 --payload '{"items": ["tea", "cups", "tray"]}'
    # then open http://127.0.0.1:9000/ and approve order-1 from its page
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

FLAKY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=4, initial_delay=Duration.from_seconds(1), backoff_rate=2.0)
    )
)


def _reserve(ctx: StepContext) -> str:
    if ctx.attempt < 3:
        raise ConnectionError(f"stock service busy (attempt {ctx.attempt})")
    return "reserved"


@durable_execution
def order(event: Any, context: DurableContext) -> dict[str, Any]:
    items = list(event.get("items") or ["tea"])
    total = context.step(lambda _: 4.5 * len(items), name="price")
    stock = context.step(_reserve, name="reserve-stock", config=FLAKY)
    packed = context.map(
        items,
        lambda ctx, item, i, _all: ctx.step(lambda _: f"{item} packed", name=f"pack-{item}"),
        name="pack",
    ).get_results()
    context.wait(Duration.from_seconds(int(event.get("cool_down", 2))), name="cool-down")
    approval = context.create_callback(name="manager-approval")
    decision = approval.result()
    receipt = context.step(lambda _: f"shipped {len(packed)} items", name="ship")
    return {"total": total, "stock": stock, "decision": decision, "receipt": receipt}
