"""The console in a real headless Chromium against a real ``perdure serve``: find an
execution by name, open its timeline, approve its pending callback through the form,
and watch it succeed without reloading."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser import chrome, wait_until
from tests.support import Server, wait_for_event


def test_find_open_timeline_and_approve_callback(server: Server) -> None:
    client = server.client()
    for i in range(3):
        client.invoke(FunctionName="Approval", InvocationType="Event", Payload=b'{"order": %d}' % i, DurableExecutionName=f"order-{i}")
    arn = client.list_durable_executions_by_function(FunctionName="Approval", DurableExecutionName="order-1")["DurableExecutions"][0]["DurableExecutionArn"]
    wait_for_event(client, arn, "CallbackStarted")

    with chrome() as driver:
        driver.get(server.url + "/")
        assert driver.current_url.endswith("/console/")
        assert "Approval" in driver.find_element(By.CSS_SELECTOR, "table.functions").text

        # Find it by name from the search box ("/" focuses it).
        driver.find_element(By.TAG_NAME, "body").send_keys("/")
        box = driver.switch_to.active_element
        assert box.get_attribute("id") == "jump"
        box.send_keys("order-1", Keys.ENTER)
        wait_until(driver, lambda d: "/console/executions" in d.current_url)
        links = driver.find_elements(By.CSS_SELECTOR, "table.executions td.name a")
        assert [a.text for a in links] == ["order-1"]
        # Times are shown in local time, with UTC on hover.
        started = driver.find_element(By.CSS_SELECTOR, "table.executions time")
        assert "UTC" not in started.text and started.get_attribute("title").endswith("UTC")
        links[0].click()

        # The timeline: the pending callback is an open bar, the step a finished attempt.
        wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".gantt .bar.callback.open"))
        labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".gantt .g-label .opname")]
        assert "approve" in labels
        assert driver.find_element(By.ID, "status").text == "running"

        # Approve through the form; the page follows the execution to its end by itself.
        form = driver.find_element(By.CSS_SELECTOR, ".callbacks form.succeed")
        form.find_element(By.NAME, "result").send_keys('{"approved": true}')
        form.find_element(By.CSS_SELECTOR, "button[value=succeed]").click()
        wait_until(driver, lambda d: "callback succeed sent" in d.find_element(By.CSS_SELECTOR, ".flash").text.lower())
        wait_until(driver, lambda d: d.find_element(By.ID, "status").text == "succeeded", timeout=30)
        assert not driver.find_elements(By.CSS_SELECTOR, ".callbacks")
        result = driver.find_element(By.ID, "payload-result").text
        assert "approved" in result
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "SUCCEEDED"


def test_theme_toggle_and_live_list(server: Server) -> None:
    client = server.client()
    with chrome() as driver:
        driver.get(server.url + "/console/executions")
        assert "No executions match" in driver.find_element(By.ID, "executions").text
        # A new execution appears without a reload.
        client.invoke(FunctionName="Approval", InvocationType="Event", Payload=b"{}", DurableExecutionName="arrives-later")
        wait_until(driver, lambda d: "arrives-later" in d.find_element(By.ID, "executions").text)
        bg = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        driver.find_element(By.ID, "theme").click()
        assert driver.execute_script("return getComputedStyle(document.body).backgroundColor") != bg
        driver.refresh()  # the choice is remembered
        assert driver.execute_script("return document.documentElement.dataset.theme") in ("dark", "light")
