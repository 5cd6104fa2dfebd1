"""The review page: range requests, the form's decision, and the whole flow in a real
headless Chromium (`podscribe review RUN --web` on an embedded run: rename a speaker,
edit a segment, approve, and find both in the captions)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import speech
from test_cli import ENV, podscribe, runs, server, spawn, wait_for_status  # noqa: F401 (server: fixture)

from podscribe.app.webreview import decision_from_form, parse_range
from podscribe.review import ReviewInputError
from podscribe.transcript import Segment, Transcript, Word
from tests.browser import chrome, screenshot, wait_until


def _transcript() -> Transcript:
    return Transcript(
        segments=[
            Segment(0.0, 2.0, "Hello and welcome.", [Word("Hello", 0.0, 0.5, speaker="SPEAKER_00")], "SPEAKER_00"),
            Segment(2.0, 4.0, "Thanks for having me.", [Word("Thanks", 2.0, 2.5, speaker="SPEAKER_01")], "SPEAKER_01"),
        ],
        speakers={"SPEAKER_00": "Thomas", "SPEAKER_01": "Maria"},
    )


def test_parse_range() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=50-500", 100) == (50, 99)
    assert parse_range("items=1-2", 100) is None
    with pytest.raises(ValueError):
        parse_range("bytes=100-", 100)
    with pytest.raises(ValueError):
        parse_range("bytes=9-3", 100)


def test_decision_from_form() -> None:
    t = _transcript()
    unchanged = {"action": "approve", "speaker.SPEAKER_00": "Thomas", "seg.0": " Hello  and welcome. "}
    assert decision_from_form(unchanged, t).action == "approve"
    d = decision_from_form({"action": "approve", "speaker.SPEAKER_00": " Tom ", "seg.1": "Thanks for inviting me."}, t)
    assert (d.action, dict(d.speakers or {}), dict(d.edits or {})) == ("correct", {"SPEAKER_00": "Tom"}, {1: "Thanks for inviting me."})
    assert decision_from_form({"action": "reject", "reason": " wrong  episode "}, t).reason == "wrong episode"
    for bad, words in [
        ({"action": "reject", "reason": " "}, "say why"),
        ({"action": "maybe"}, "approve or reject"),
        ({"action": "approve", "seg.7": "x"}, "no such segment"),
        ({"action": "approve", "seg.x": "x"}, "not a segment number"),
        ({"action": "approve", "seg.0": "  "}, "empty"),
        ({"action": "approve", "speaker.NOBODY": "Ann"}, "no such speaker"),
    ]:
        with pytest.raises(ReviewInputError, match=words):
            decision_from_form(bad, t)


def test_review_page_in_a_browser(tmp_path: Path, dialogue: Callable[[str], speech.Dialogue]) -> None:
    speech.require_speech_stack()
    state = tmp_path / "state"
    d = dialogue("paused")
    config = tmp_path / "review.toml"
    config.write_text("[review]\nenabled = true\n[captions]\nspeaker_names = \"always\"\n")
    out = tmp_path / "out"
    proc = spawn("transcribe", str(d.path), "--out", str(out), "--config", str(config), "--state-dir", str(state), "--plain")
    row = wait_for_status(state, "WAITING FOR REVIEW", proc)
    proc.send_signal(signal.SIGINT)  # the reviewer comes back later
    proc.communicate(timeout=60)
    status = podscribe("status", "--state-dir", str(state), timeout=60)
    assert f"podscribe review {row['run']} --web" in status.stdout, status.stdout

    review = subprocess.Popen(
        [sys.executable, "-m", "podscribe.app.cli", "review", row["run"], "--web", "--no-browser", "--state-dir", str(state), "--plain"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )
    try:
        assert review.stdout is not None
        line = ""
        deadline = time.monotonic() + 60
        while "review page:" not in line and time.monotonic() < deadline:
            line = review.stdout.readline()
            assert line or review.poll() is None, review.stderr.read() if review.stderr else ""
        url = re.search(r"(http://\S+)", line)
        assert url, line
        url_text = url.group(1)

        # The audio is served in ranges, as players ask for it.
        audio_url = url_text.replace("/review?", "/review/audio?")
        request = urllib.request.Request(audio_url, headers={"Range": "bytes=0-43"})
        with urllib.request.urlopen(request, timeout=30) as r:
            assert r.status == 206 and r.read(4) == b"RIFF"
            total = int(r.headers["content-range"].rsplit("/", 1)[1])
        assert total > 16000 * 2 * 5  # seconds of 16 kHz 16-bit audio

        with chrome() as driver:
            driver.get(url_text)
            from selenium.webdriver.common.by import By

            segments = driver.find_elements(By.CSS_SELECTOR, ".segs tr")
            assert len(segments) >= 2
            names = {e.text for e in driver.find_elements(By.CSS_SELECTOR, ".segs td.who")}
            assert "Thomas" in names, names
            # Click a segment's time: the player jumps there.
            second = segments[1]
            start = float(second.get_attribute("data-start"))
            second.find_element(By.CSS_SELECTOR, "button.play").click()
            wait_until(driver, lambda dr: abs(dr.execute_script("return document.getElementById('audio').currentTime") - start) < 1.0)
            # Rename Thomas, edit segment 1, approve.
            box = next(e for e in driver.find_elements(By.CSS_SELECTOR, ".speakers input") if e.get_attribute("value") == "Thomas")
            box.clear()
            box.send_keys("Tom")
            assert "Tom" in {e.text for e in driver.find_elements(By.CSS_SELECTOR, ".segs td.who")}
            cell = driver.find_element(By.CSS_SELECTOR, '.segs td.text[data-index="1"]')
            cell.click()
            area = cell.find_element(By.TAG_NAME, "textarea")
            area.clear()
            area.send_keys("Thanks for having me. My name is Maria Lopez.")
            if os.environ.get("CONSOLE_SCREENSHOTS"):  # scripts/console_screenshots.py --podscribe
                screenshot(driver, Path(os.environ["CONSOLE_SCREENSHOTS"]) / "podscribe-review.png")
            driver.find_element(By.ID, "approve").click()
            wait_until(driver, lambda dr: "Decision sent: correct" in dr.find_element(By.ID, "sent").text)
        stdout, stderr = review.communicate(timeout=240)
    finally:
        if review.poll() is None:
            review.kill()
    assert review.returncode == 0, stdout + stderr
    assert "decision sent from the review page" in stdout and "outputs:" in stdout
    vtt = (out / f"{d.path.stem}.vtt").read_text()
    assert "Tom: " in vtt and "Thomas" not in vtt.replace("I'm Thomas", "")
    transcript = json.loads((out / f"{d.path.stem}.transcript.json").read_text())
    assert any("Maria Lopez." in s["text"] for s in transcript["segments"])
    assert [r["status"] for r in runs(state) if r["run"] == row["run"]] == ["SUCCEEDED"]


def test_review_page_on_a_perdure_server(tmp_path: Path, server: str, dialogue: Callable[[str], speech.Dialogue]) -> None:  # noqa: F811
    """`perdure serve` of podscribe's template loads the review page as a console plugin:
    the run's execution page links to it, `podscribe status` prints it, and the form's
    decision reaches the run through the callback."""
    import http.client
    from html import unescape
    from urllib.parse import urlencode, urlsplit

    speech.require_speech_stack()
    d = dialogue("paused")
    config = tmp_path / "review.toml"
    config.write_text("[review]\nenabled = true\n")
    out = tmp_path / "served"
    proc = spawn("transcribe", str(d.path), "--server", server, "--config", str(config), "--out", str(out),
                 "--state-dir", str(tmp_path / "state"), "--plain")
    try:
        link = ""
        deadline = time.monotonic() + 180
        while not link and time.monotonic() < deadline:
            listed = json.loads(podscribe("status", "--server", server, "--json", timeout=60).stdout)
            link = next((r.get("review", "") for r in listed if r["status"] == "WAITING FOR REVIEW"), "")
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.5)
        assert link.startswith(server + "/console/x/podscribe/review?arn="), link
        arn = link.split("arn=", 1)[1]
        with urllib.request.urlopen(f"{server}/console/execution?arn={arn}", timeout=30) as r:
            assert "Review transcript" in r.read().decode()
        with urllib.request.urlopen(link, timeout=30) as r:
            page = r.read().decode()
            cookie = re.search(r"perdure_csrf=([^;]+)", r.headers["set-cookie"]).group(1)  # type: ignore[union-attr]
        assert "Thomas" in page and 'id="approve"' in page
        fields = {"csrf": cookie, "arn": unescape(re.search(r'name="arn" value="([^"]+)"', page).group(1)),  # type: ignore[union-attr]
                  "action": "reject", "reason": "wrong episode"}
        conn = http.client.HTTPConnection(urlsplit(server).netloc, timeout=30)
        conn.request("POST", "/console/x/podscribe/review/decide", body=urlencode(fields),
                     headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"perdure_csrf={cookie}"})
        response = conn.getresponse()
        assert response.status == 303, response.read()
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "wrong episode" in stdout + stderr
