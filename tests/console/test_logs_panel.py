"""The execution page's logs panel: each line once, replayed lines behind a toggle."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

from tests.console.test_app import execution_page
from tests.logs.test_logs import run_chatty
from tests.support import HANDLERS, Serve


def test_logs_panel_shows_each_line_once_and_hides_replays(tmp_path: Path) -> None:
    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "serve.log", template=HANDLERS / "logs.yaml").start()
    try:
        arn = run_chatty(server.url, "o-77")
        status, body, _ = execution_page(server, arn)
        assert status == 200
        panel = body[body.index("#show-replay:not(:checked)"):]
        rows = re.findall(r'<tr class="(replay)?">(.*?)</tr>', panel, re.S)
        shown = [unescape(re.sub(r"<[^>]+>", " ", cells)) for kind, cells in rows if not kind]
        replayed = [unescape(re.sub(r"<[^>]+>", " ", cells)) for kind, cells in rows if kind]
        for line in ("reserving stock for o-77", "card declined once for o-77", "approved o-77"):
            assert sum(line in row for row in shown) == 1, (line, shown)
        assert any("reserve" in row for row in shown if "reserving stock" in row)  # the operation
        # The top-level print runs again on every replay: once shown, the rest behind the toggle.
        assert sum("top-level print for o-77" in row for row in shown) == 1
        assert sum("top-level print for o-77" in row for row in replayed) >= 1
        assert 'id="show-replay"' in panel and "#show-replay:not(:checked)" in panel
    finally:
        server.stop()


def test_export_carries_the_log_lines(tmp_path: Path) -> None:
    import json
    import urllib.parse
    import urllib.request

    server = Serve(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "serve.log", template=HANDLERS / "logs.yaml").start()
    try:
        arn = run_chatty(server.url, "o-78")
        url = f"{server.url}/perdure/v1/executions/{urllib.parse.quote(arn, safe='')}/export"
        with urllib.request.urlopen(url, timeout=10) as r:
            document = json.loads(r.read())
        messages = [(record.get("message"), record.get("replay", False)) for record in document["Logs"]]
        assert ("reserving stock for o-78", False) in messages
        assert ("top-level print for o-78", True) in messages  # written again on a replay
        assert all(record["durableExecutionArn"] == arn for record in document["Logs"])
    finally:
        server.stop()
