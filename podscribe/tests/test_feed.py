"""`podscribe feed`: RSS parsing and selection, then a real run of the command on a local
feed of three short espeak-ng episodes (real subprocess, embedded runtime, chained
invokes of the pipeline), run twice."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import speech

from podscribe.feed import FeedItem, guid_key, parse_feed, select_items

ENV = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Test show</title>
{items}
</channel></rss>
"""
ITEM = """<item><title>{title}</title><guid isPermaLink="false">{guid}</guid>
<pubDate>{date}</pubDate><enclosure url="{url}" type="audio/wav" length="1"/></item>"""


def _rss(items: list[tuple[str, str, str, str]]) -> str:
    return RSS.format(items="\n".join(ITEM.format(title=t, guid=g, date=d, url=u) for t, g, d, u in items))


def test_parse_and_select(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    text = _rss([
        ("Three", "g3", "Wed, 03 Jan 2024 10:00:00 +0000", "ep3.wav"),
        ("Two", "g2", "Tue, 02 Jan 2024 10:00:00 +0000", "https://cdn.example/ep2.mp3"),
        ("One", "g1", "Mon, 01 Jan 2024 10:00:00 +0000", "media/ep1.wav"),
    ]) .replace("</channel>", "<item><title>No audio</title><guid>g0</guid></item></channel>")
    items = parse_feed(text, str(feed))
    assert [i.title for i in items] == ["Three", "Two", "One"]
    assert items[0].enclosure == str(tmp_path / "ep3.wav") and items[2].enclosure == str(tmp_path / "media" / "ep1.wav")
    assert items[1].enclosure == "https://cdn.example/ep2.mp3" and items[0].published == "2024-01-03T10:00:00+00:00"

    todo, skipped = select_items(items, set(), since=None, limit=None)
    assert [i.title for i in todo] == ["One", "Two", "Three"] and skipped == 0  # oldest first
    todo, skipped = select_items(items, {guid_key("g2")}, since=None, limit=None)
    assert [i.title for i in todo] == ["One", "Three"] and skipped == 1
    assert [i.title for i in select_items(items, set(), since="2024-01-02", limit=None)[0]] == ["Two", "Three"]
    assert [i.title for i in select_items(items, set(), since=None, limit=2)[0]] == ["Two", "Three"]
    with pytest.raises(ValueError, match="not an RSS feed"):
        parse_feed("<html/>", "x")
    assert FeedItem("a", "b", None, "c").key == guid_key("a")


def _podscribe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podscribe.app.cli", *args], capture_output=True, text=True, env=ENV, timeout=600
    )


def test_feed_transcribes_new_episodes_once(tmp_path: Path) -> None:
    speech.require_speech_stack()
    lines = [
        [("A", "Hello and welcome to episode one. Today we talk about gardens and compost.")],
        [("B", "This is episode two. We fix a bicycle chain and oil the brakes.")],
        [("A", "Welcome to episode three, where we bake bread with flour and butter.")],
    ]
    items = []
    for n, episode in enumerate(lines, 1):
        speech.make_dialogue(episode, tmp_path / f"ep{n}.wav")
        items.append((f"Episode {n}", f"urn:test:{n}", f"Mon, 0{n} Jan 2024 10:00:00 +0000", f"ep{n}.wav"))
    feed = tmp_path / "feed.xml"
    feed.write_text(_rss(items))
    config = tmp_path / "podscribe.toml"
    config.write_text("[diarization]\nenabled = false\n")
    state, out = tmp_path / "state", tmp_path / "out"
    args = ["feed", str(feed), "--state-dir", str(state), "--out", str(out), "--config", str(config), "--plain", "--concurrency", "2"]

    first = _podscribe(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 transcribed, 0 failed, 0 already done" in first.stdout, first.stdout
    dirs = sorted(p.name for p in out.iterdir())
    assert len(dirs) == 3 and all(d.startswith("episode-") for d in dirs)
    for n, d in enumerate(dirs, 1):
        assert d == f"episode-{n}-{guid_key(f'urn:test:{n}')[:6]}"
        assert (out / d / f"{d}.vtt").is_file(), list((out / d).iterdir())
        assert json.loads((out / d / f"{d}.chapters.json").read_text())["version"] == "1.2.0"
    assert "gardens and compost" in (out / dirs[0] / f"{dirs[0]}.vtt").read_text().lower()

    # the progress records end as "done", with each episode's run id (replays of the feed
    # execution do not report earlier states again)
    records = [json.loads(p.read_text()) for p in (state / "artifacts" / "feeds").glob("*/items/*.json")]
    assert sorted(r["title"] for r in records) == ["Episode 1", "Episode 2", "Episode 3"]
    assert all(r["state"] == "done" and r["run_id"].startswith("ps-") for r in records), records

    (db,) = (state / "feeds").glob("*.sqlite")

    def executions() -> list[tuple[str, str]]:
        with sqlite3.connect(db) as conn:
            return sorted(conn.execute("SELECT function_name, status FROM executions").fetchall())

    before = executions()
    assert [f for f, _s in before].count("PodscribePipeline") == 3
    assert all(s == "SUCCEEDED" for _f, s in before)

    again = _podscribe(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing new: 3 episodes in the feed, 3 already done" in again.stdout
    after = executions()
    assert [f for f, _s in after].count("PodscribePipeline") == 3  # no episode ran again
    assert len(after) == len(before) + 1  # only the new feed execution, which found nothing


def test_template_lists_the_feed_function() -> None:
    from perdure import load_template
    from podscribe.app.feedcli import feed_function_spec
    from podscribe.feed import FEED_FUNCTION

    functions = load_template(Path(__file__).resolve().parents[1] / "template.yaml")
    assert functions[FEED_FUNCTION].handler == feed_function_spec().handler == "podscribe.feed.handler"
    assert "PodscribePipeline" in functions


def test_feed_and_enclosure_over_http(tmp_path: Path) -> None:
    """A feed URL and its enclosure URLs, from a real local HTTP server."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from podscribe.feed import download_stage, parse_feed_input, read_feed_text

    site = tmp_path / "site"
    (site / "media").mkdir(parents=True)
    (site / "media" / "ep1.mp3").write_bytes(b"ID3" + bytes(range(256)) * 40)
    (site / "feed.xml").write_text(_rss([("One", "g1", "Mon, 01 Jan 2024 10:00:00 +0000", "media/ep1.mp3")]))

    fetched: list[str] = []

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            fetched.append(self.path)
            super().do_GET()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/feed.xml"
        (item,) = parse_feed(read_feed_text(url), url)
        assert item.enclosure == f"http://127.0.0.1:{httpd.server_address[1]}/media/ep1.mp3"
        f = parse_feed_input({"feed": url, "artifacts": str(tmp_path / "store")})
        got = download_stage(f, item)
        assert Path(got["audio"]).read_bytes() == (site / "media" / "ep1.mp3").read_bytes()
        assert got["audio"].endswith(".mp3") and got["size"] == 3 + 256 * 40
        again = download_stage(f, item)  # already there: not downloaded twice
        assert again == got and fetched == ["/feed.xml", "/media/ep1.mp3"]
    finally:
        httpd.shutdown()
        httpd.server_close()
