"""Screenshots of the console for the docs: a real ``perdure serve`` running the demo
workflow (docs/demo), a few orders in every state, pages shot in headless Chromium.

    .venv/bin/python scripts/console_screenshots.py              # docs/console-*.png
    .venv/bin/python scripts/console_screenshots.py --podscribe  # + docs/podscribe-review.png
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import chrome, screenshot, wait_until  # noqa: E402
from tests.support import Serve, wait_for_event, wait_for_status  # noqa: E402

DOCS = ROOT / "docs"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Serve(f"sqlite:///{tmp}/demo.db", Path(tmp) / "serve.log", "--workers", "1",
                       template=DOCS / "demo" / "template.yaml").start()
        try:
            client = server.client()
            arns = {}
            for i, items in enumerate([["tea", "cups"], ["tray"], ["tea", "cups", "tray", "spoons"], ["kettle", "tea", "mugs"]]):
                name = f"order-{1001 + i}"
                arns[name] = client.invoke(FunctionName="ShopOrder", InvocationType="Event",
                                           Payload=json.dumps({"items": items, "cool_down": 1}).encode(),
                                           DurableExecutionName=name)["DurableExecutionArn"]
            callbacks = {n: wait_for_event(client, a, "CallbackStarted", 60)["CallbackStartedDetails"]["CallbackId"] for n, a in arns.items()}
            client.send_durable_execution_callback_success(CallbackId=callbacks["order-1001"], Result=b'{"approved_by": "maria"}')
            client.send_durable_execution_callback_failure(CallbackId=callbacks["order-1002"], Error={"ErrorType": "Rejected", "ErrorMessage": "out of budget"})
            client.stop_durable_execution(DurableExecutionArn=arns["order-1003"])
            for name in ("order-1001", "order-1002"):
                wait_for_status(client, arns[name], 60)
            time.sleep(1.2)
            base = server.url + "/console"
            waiting = f"{base}/execution?arn={quote(arns['order-1004'], safe='')}"
            with chrome(1360, 900) as driver:
                driver.get(base + "/")
                screenshot(driver, DOCS / "console-functions.png")
                driver.get(base + "/executions")
                screenshot(driver, DOCS / "console-executions.png")
                driver.get(waiting)
                wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".gantt"))
                screenshot(driver, DOCS / "console-execution.png", full_height=True)
            with chrome(1360, 900, dark=True) as driver:
                driver.get(waiting)
                driver.execute_script("window.scrollTo(0, document.querySelector('section.timeline').offsetTop - 60)")
                screenshot(driver, DOCS / "console-execution-dark.png")
        finally:
            server.stop()
    print("wrote", ", ".join(sorted(p.name for p in DOCS.glob("console-*.png"))))


if __name__ == "__main__":
    import os
    import subprocess

    from selenium.webdriver.common.by import By

    main()
    if "--podscribe" in sys.argv:  # the review page, shot by its browser test mid-review
        test = "podscribe/tests/test_webreview.py::test_review_page_in_a_browser"
        env = dict(os.environ, CONSOLE_SCREENSHOTS=str(DOCS))
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", test], cwd=ROOT, env=env, check=True)
