"""``podscribe feed RSS_URL_OR_FILE``: transcribe a feed's new episodes, with a table.

The feed runs as one durable execution (:mod:`podscribe.feed`) on an embedded perdure
runtime whose SQLite database is ``{state_dir}/feeds/{name}.sqlite``; the episodes'
pipeline executions are chained invokes in the same database. Running the command
again resumes an interrupted execution, or starts a new one that only picks up episodes
not done before (by GUID).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from podscribe.artifacts import ArtifactStore
from podscribe.config import Config

if TYPE_CHECKING:
    from perdure import FunctionSpec

EXIT_FAILED = 1
_STYLES = {"done": "green", "failed": "red", "transcribing": "cyan", "downloading": "cyan", "queued": "dim"}


def add_parser(sub: Any, where: Any) -> None:
    f = sub.add_parser("feed", help="transcribe a podcast feed's new episodes (RSS file or URL)")
    f.add_argument("feed", metavar="RSS_URL_OR_FILE")
    f.add_argument("--since", metavar="DATE", help="only episodes published on or after DATE (YYYY-MM-DD)")
    f.add_argument("--limit", metavar="N", type=int, help="at most the N newest new episodes")
    f.add_argument("--concurrency", metavar="N", type=int, default=1, help="episodes transcribed at once (default 1)")
    f.add_argument("--config", metavar="FILE", help="configuration file (TOML) for every episode")
    f.add_argument("--model", metavar="MODEL", help="Whisper model: a size name or a local CTranslate2 directory")
    f.add_argument("--out", metavar="DIR", help="output directory, one sub-directory per episode (default: ./FEED-STEM)")
    f.add_argument("--voices", metavar="DIR", help="voice library")
    where(f)
    f.add_argument("--plain", action="store_true", help="plain progress lines, no live table")


def feed_function_spec() -> FunctionSpec:
    from perdure import FunctionSpec
    from podscribe.app.runs import EMBEDDED_TIMEOUT_S, EXECUTION_TIMEOUT_S
    from podscribe.feed import FEED_FUNCTION

    return FunctionSpec(
        name=FEED_FUNCTION,
        handler="podscribe.feed.handler",
        timeout_s=EMBEDDED_TIMEOUT_S,
        execution_timeout_s=EXECUTION_TIMEOUT_S,
        retention_days=30,
    )


def _states(store: ArtifactStore, feed_id: str) -> list[dict[str, Any]]:

    out = []
    for key in store.list_keys(f"feeds/{feed_id}/items/"):
        try:
            out.append(store.get_json(key))
        except (OSError, ValueError):
            continue
    return out


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, show_edge=False)
    for col in ("episode", "published", "state", "run"):
        table.add_column(col, overflow="fold")
    for r in rows:
        state = str(r.get("state"))
        table.add_row(
            str(r.get("title", "")),
            str(r.get("published") or "")[:10],
            f"[{_STYLES.get(state, 'white')}]{state}[/]" + (f": {r['error']}" if r.get("error") else ""),
            str(r.get("run_id") or ""),
        )
    return table


def cmd_feed(args: argparse.Namespace, *, config: Config, state_dir: Path, artifacts: str, voice_library: str | None, fail: Any) -> int:
    from perdure import Runtime
    from podscribe.app.runs import function_spec, lock_for
    from podscribe.feed import FEED_FUNCTION, feed_key, feed_run_name, parse_feed_input
    from podscribe.pipeline import FUNCTION_NAME
    from podscribe.stages.common import InputError

    console = Console(highlight=False, soft_wrap=False)
    source = args.feed
    if "://" not in source or source.startswith("file://"):
        path = Path(source.removeprefix("file://")).expanduser()
        if not path.is_file():
            fail(f"{source}: file not found")
        source = str(path.resolve())
        stem = path.stem
        from podscribe.feed import parse_feed, read_feed_text

        try:
            parse_feed(read_feed_text(source), source)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            fail(" ".join(str(exc).split()))
    else:
        stem = Path(source.split("?", 1)[0]).stem or "feed"
    out = str(Path(args.out or Path.cwd() / stem).expanduser().resolve())
    event: dict[str, Any] = {
        "feed": source,
        "config": config.model_dump(mode="json"),
        "artifacts": artifacts,
        "out": out,
        "voice_library": voice_library,
        "since": args.since,
        "limit": args.limit,
        "concurrency": args.concurrency,
    }
    try:
        parse_feed_input(event)
    except InputError as exc:
        fail(str(exc))
    name = feed_run_name(event)
    feeds = state_dir / "feeds"
    feeds.mkdir(parents=True, exist_ok=True)
    lock = lock_for(feeds, name)  # {state}/feeds/runs/{name}.lock
    if not lock.acquire():
        fail(f"feed {name} is running in process {lock.holder() or '?'}", EXIT_FAILED)
    runtime = Runtime(
        f"sqlite:///{feeds / (name + '.sqlite')}",
        {FUNCTION_NAME: function_spec(), FEED_FUNCTION: feed_function_spec()},
        processes=1,
        threads=max(2, args.concurrency + 1),
    )
    runtime.start()
    store = ArtifactStore(artifacts)
    feed_id = feed_key(source)
    live_ok = console.is_terminal and not args.plain
    try:
        engine = runtime.engine
        attempt, arn, resumed = 1, None, False
        while True:
            rows, _ = engine.list_executions(FEED_FUNCTION, [], None, None, f"{name}-{attempt}", None, 1, True)
            if not rows:
                break
            if rows[0].status == "RUNNING":
                arn, resumed = rows[0].arn, True
                break
            attempt += 1
        started_ms = int(time.time() * 1000)
        if arn is None:
            arn = runtime.invoke(FEED_FUNCTION, json.dumps(event), name=f"{name}-{attempt}")
        console.print(f"podscribe feed · {Path(source).name if '://' not in source else source} · run {name}-{attempt}" + (" (resumed)" if resumed else ""))
        seen: dict[str, str] = {}

        def current() -> list[dict[str, Any]]:
            rows = [r for r in _states(store, feed_id) if resumed or _after(r, started_ms)]
            return sorted(rows, key=lambda r: (r.get("published") or "", r.get("title", "")))

        def plain_updates() -> None:
            for r in current():
                key = f"{r.get('guid')}"
                if seen.get(key) != r.get("state"):
                    seen[key] = str(r.get("state"))
                    console.print(f"{r.get('state'):<13} {r.get('title')}" + (f" ({r['error']})" if r.get("error") else ""), markup=False)

        if live_ok:
            with Live(_table(current(), "episodes"), console=console, refresh_per_second=4) as live:
                while (row := engine.get_execution(arn)).status == "RUNNING":
                    time.sleep(0.5)
                    live.update(_table(current(), "episodes"))
                live.update(_table(current(), "episodes"))
        else:
            while (row := engine.get_execution(arn)).status == "RUNNING":
                plain_updates()
                time.sleep(0.5)
            plain_updates()
        if row.status != "SUCCEEDED":
            err = json.loads(row.error) if row.error else {}
            Console(stderr=True).print(f"error: {err.get('ErrorMessage') or row.status}", style="red", markup=False)
            return EXIT_FAILED
        result = json.loads(row.result or "{}")
        if not result.get("episodes"):
            console.print(f"nothing new: {result.get('total', 0)} episodes in the feed, {result.get('skipped', 0)} already done")
            return 0
        if not live_ok:
            console.print(_table(current(), "episodes"))
        console.print(
            f"{result.get('done', 0)} transcribed, {result.get('failed', 0)} failed, "
            f"{result.get('skipped', 0)} already done · outputs under {out}"
        )
        return EXIT_FAILED if result.get("failed") else 0
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted: run the same command again to resume", style="yellow")
        return 130
    finally:
        runtime.stop()
        lock.release()


def _after(state: dict[str, Any], started_ms: int) -> bool:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(state.get("at"))).timestamp() * 1000 >= started_ms - 2000
    except ValueError:
        return False
