"""A whole podcast feed as one durable execution (``podscribe.feed.handler``).

=================  =====================================================================
operation          what it does
=================  =====================================================================
``read-feed``      step: read the RSS (a file or a URL), pick the new items: not done
                   before (by GUID), published on or after ``since``, at most ``limit``
                   (the newest), oldest first
``episodes``       ``context.map`` over them, ``concurrency`` at a time; per item:
  ``download``     step: the enclosure into the artifact store (skipped when there)
  ``transcribe``   chained invoke of ``PodscribePipeline`` with the episode's input
  ``done``         step: record the GUID as done, with the run id and outputs
=================  =====================================================================

Every episode reports its state to ``feeds/{feed_id}/items/{guid_key}.json`` in the
artifact store (the command's progress table reads these). An episode that fails is
reported and not marked done, so the next run tries it again; the feed execution itself
succeeds with a per-episode summary. Running the command again starts a new execution
that finds nothing new and does nothing.

Input event::

    {"feed": "/abs/feed.xml" | "https://...",   # required
     "config": {...},                            # the pipeline configuration
     "artifacts": "/abs/store",                  # required
     "out": "/abs/dir",                          # one sub-directory per episode
     "since": "2024-01-31",                      # optional
     "limit": 10, "concurrency": 2,              # optional
     "voice_library": "/dir"}                    # optional
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import MapConfig, StepConfig
from aws_durable_execution_sdk_python.exceptions import DurableOperationError

from podscribe.artifacts import ArtifactStore, canonical_json
from podscribe.pipeline import FUNCTION_NAME as PIPELINE_FUNCTION
from podscribe.pipeline import run_key
from podscribe.stages.common import JSON, InputError, retry_policy

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python.concurrency.models import BatchResult

__all__ = ["FEED_FUNCTION", "FeedItem", "feed_key", "handler", "parse_feed", "read_feed_text"]

#: the feed function's name in podscribe/template.yaml
FEED_FUNCTION = "PodscribeFeed"
MAX_FEED_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class FeedItem:
    guid: str
    title: str
    published: str | None  # ISO 8601, UTC
    enclosure: str  # URL or path, resolved against the feed's location

    @property
    def key(self) -> str:
        return guid_key(self.guid)


def guid_key(guid: str) -> str:
    return hashlib.sha256(guid.encode("utf-8")).hexdigest()[:16]


def feed_key(feed: str) -> str:
    """``pf-`` and 16 hex digits naming a feed (its absolute path or URL)."""
    return "pf-" + hashlib.sha256(feed.encode("utf-8")).hexdigest()[:16]


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def read_feed_text(feed: str, timeout: float = 30.0) -> str:
    if _is_url(feed):
        if not feed.startswith(("http://", "https://")):
            import fsspec

            with fsspec.open(feed, "rb") as f:
                return bytes(f.read(MAX_FEED_BYTES)).decode("utf-8", "replace")
        req = urllib.request.Request(feed, headers={"User-Agent": "podscribe"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return bytes(resp.read(MAX_FEED_BYTES)).decode("utf-8", "replace")
    return Path(feed.removeprefix("file://")).read_text(encoding="utf-8")


def _resolve(href: str, feed: str) -> str:
    if "://" in href or href.startswith("/"):
        return href
    if _is_url(feed):
        from urllib.parse import urljoin

        return urljoin(feed, href)
    return str((Path(feed.removeprefix("file://")).parent / href).resolve())


def _published(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def parse_feed(text: str, feed: str) -> list[FeedItem]:
    """The items with an enclosure, in feed order; ``ValueError`` when it is not RSS."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"{feed}: not an RSS feed ({exc})") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise ValueError(f"{feed}: not an RSS feed (no <rss><channel>)")
    items = []
    for item in channel.findall("item"):
        enclosure = item.find("enclosure")
        href = enclosure.get("url") if enclosure is not None else None
        if not href:
            continue
        guid = (item.findtext("guid") or "").strip() or href
        title = " ".join((item.findtext("title") or "").split()) or PurePosixPath(href).name
        items.append(FeedItem(guid, title, _published(item.findtext("pubDate")), _resolve(href, feed)))
    return items


def select_items(
    items: Sequence[FeedItem], done: set[str], *, since: str | None, limit: int | None
) -> tuple[list[FeedItem], int]:
    """New items (not done, on or after ``since``), the newest ``limit``, oldest first;
    also how many were skipped as done."""
    skipped = sum(1 for i in items if i.key in done)
    fresh = [i for i in items if i.key not in done]
    if since:
        fresh = [i for i in fresh if i.published is None or i.published[:10] >= since[:10]]
    fresh.sort(key=lambda i: i.published or "", reverse=True)
    if limit is not None:
        fresh = fresh[:limit]
    fresh.reverse()
    return fresh, skipped


# --------------------------------------------------------------------------------------
# input and stages


@dataclass(frozen=True)
class FeedInput:
    feed: str
    config: dict[str, Any]
    artifacts: str
    out: str
    since: str | None
    limit: int | None
    concurrency: int
    voice_library: str | None

    @property
    def feed_id(self) -> str:
        return feed_key(self.feed)


def parse_feed_input(event: Any) -> FeedInput:
    if not isinstance(event, Mapping):
        raise InputError("input must be a JSON object")
    feed, artifacts = event.get("feed"), event.get("artifacts")
    if not isinstance(feed, str) or not feed:
        raise InputError("input.feed: an RSS file path or URL is required")
    if not isinstance(artifacts, str) or not artifacts:
        raise InputError("input.artifacts: a directory or URL is required")
    since = event.get("since")
    if since is not None:
        try:
            date.fromisoformat(str(since)[:10])
        except ValueError:
            raise InputError(f"input.since: {since!r} is not a date (YYYY-MM-DD)") from None
    limit = event.get("limit")
    concurrency = int(event.get("concurrency") or 1)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InputError("input.limit must be a positive integer")
    if concurrency < 1 or concurrency > 16:
        raise InputError("input.concurrency must be between 1 and 16")
    return FeedInput(
        feed=feed,
        config=dict(event.get("config") or {}),
        artifacts=artifacts,
        out=str(event.get("out") or f"{artifacts.rstrip('/')}/feeds/{feed_key(feed)}/out"),
        since=str(since)[:10] if since else None,
        limit=limit,
        concurrency=concurrency,
        voice_library=event.get("voice_library"),
    )


def _store(f: FeedInput) -> ArtifactStore:
    return ArtifactStore(f.artifacts)


def item_state_key(feed_id: str, key: str) -> str:
    return f"feeds/{feed_id}/items/{key}.json"


def done_key(feed_id: str, key: str) -> str:
    return f"feeds/{feed_id}/done/{key}.json"


def _report(f: FeedInput, item: FeedItem, state: str, **extra: Any) -> None:
    body = {**asdict(item), "state": state, "at": datetime.now(UTC).isoformat(timespec="seconds"), **extra}
    _store(f).put_json(item_state_key(f.feed_id, item.key), body)


def read_stage(f: FeedInput) -> dict[str, Any]:
    store = _store(f)
    try:
        items = parse_feed(read_feed_text(f.feed), f.feed)
    except FileNotFoundError:
        raise InputError(f"{f.feed}: file not found") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    done = {k.rsplit("/", 1)[-1].removesuffix(".json") for k in store.list_keys(f"feeds/{f.feed_id}/done/")}
    todo, skipped = select_items(items, done, since=f.since, limit=f.limit)
    for item in todo:
        _report(f, item, "queued")
    return {"items": [asdict(i) for i in todo], "skipped": skipped, "total": len(items)}


def _suffix(enclosure: str) -> str:
    suffix = PurePosixPath(enclosure.split("?", 1)[0]).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".audio"


def download_stage(f: FeedInput, item: FeedItem) -> dict[str, Any]:
    """The enclosure, copied into ``feeds/{feed}/media/`` once."""
    store = _store(f)
    key = f"feeds/{f.feed_id}/media/{episode_stem(item)}{_suffix(item.enclosure)}"
    _report(f, item, "downloading")
    if not store.exists(key):
        src = item.enclosure.removeprefix("file://")
        if _is_url(src) and src.startswith(("http://", "https://")):
            tmp = Path(store.local_path(key)).with_suffix(".part") if store.local else None
            req = urllib.request.Request(src, headers={"User-Agent": "podscribe"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                if tmp is not None:
                    tmp.parent.mkdir(parents=True, exist_ok=True)
                    with open(tmp, "wb") as out:
                        while block := resp.read(1 << 20):
                            out.write(block)
                    os.replace(tmp, store.local_path(key))
                else:
                    store.put_bytes(key, resp.read())
        elif _is_url(src):
            import fsspec

            with fsspec.open(src, "rb") as fh:
                store.put_bytes(key, fh.read())
        else:
            if not Path(src).is_file():
                raise InputError(f"{item.title}: enclosure {src} not found")
            store.put_file(key, src)
    audio = str(store.local_path(key)) if store.local else store.uri_for(key)
    size = os.path.getsize(audio) if store.local else len(store.get_bytes(key))
    # reported here, inside the step, so that replays of the feed do not report it again
    _report(f, item, "transcribing", run_id=episode_input(f, item, audio, size)["run_id"])
    return {"audio": audio, "size": size}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "episode"


def episode_stem(item: FeedItem) -> str:
    """``episode-3-1a2b3c``: the title's slug and the GUID's hash, for file names."""
    return f"{_slug(item.title)}-{item.key[:6]}"


def episode_input(f: FeedInput, item: FeedItem, audio: str, size: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "audio": audio,
        "config": f.config,
        "artifacts": f.artifacts,
        "out": f"{f.out.rstrip('/')}/{episode_stem(item)}",
        "voice_library": f.voice_library,
        "use_cache": True,
        "fingerprint": {"guid": item.guid, "size": size},
    }
    event["run_id"] = run_key(event)
    return event


def done_stage(f: FeedInput, item: FeedItem, result: Mapping[str, Any]) -> dict[str, Any]:
    record = {"guid": item.guid, "title": item.title, "run_id": result.get("run_id"), "outputs": result.get("outputs", {})}
    _store(f).put_json(done_key(f.feed_id, item.key), record)
    _report(f, item, "done", run_id=result.get("run_id"), seconds=result.get("wall_seconds"))
    return record


# --------------------------------------------------------------------------------------
# the durable handler


def handler(event: Any, lambda_context: Any) -> Any:
    """The Lambda entry point (``podscribe.feed.handler`` in template.yaml)."""
    return feed(event, lambda_context)


def _step(ctx: DurableContext, name: str, body: Any, attempts: int = 3) -> Any:
    config = StepConfig(retry_strategy=retry_policy(attempts, fatal=(InputError,)), serdes=JSON)
    return ctx.step(lambda _c: body(), name=name, config=config)


@durable_execution
def feed(event: Any, context: DurableContext) -> dict[str, Any]:
    f = parse_feed_input(event)
    plan = _step(context, "read-feed", lambda: read_stage(f))
    items = [FeedItem(**i) for i in plan["items"]]

    def episode(ctx: DurableContext, item: FeedItem, index: int, _all: Sequence[FeedItem]) -> dict[str, Any]:
        try:
            got = _step(ctx, f"download-{index}", lambda: download_stage(f, item))
            payload = episode_input(f, item, got["audio"], int(got["size"]))
            result: Any = ctx.invoke(PIPELINE_FUNCTION, payload, name=f"transcribe-{index}")
            if not isinstance(result, Mapping):
                raise RuntimeError(f"the pipeline returned {type(result).__name__}")
            _step(ctx, f"done-{index}", lambda: done_stage(f, item, result))
            return {"guid": item.guid, "title": item.title, "status": "done", "run_id": payload["run_id"]}
        except DurableOperationError as exc:
            message = " ".join(str(exc.message or exc.error_type or "failed").split())
            _step(ctx, f"failed-{index}", lambda: _report(f, item, "failed", error=message))
            return {"guid": item.guid, "title": item.title, "status": "failed", "error": message}

    results: list[dict[str, Any]] = []
    if items:
        batch: BatchResult[dict[str, Any]] = context.map(
            items,
            episode,
            name="episodes",
            config=MapConfig(max_concurrency=f.concurrency, item_namer=lambda item, i: f"episode-{i}"),
        )
        for it in batch.all:
            if it.result is not None:
                results.append(it.result)
            else:
                results.append({"status": "failed", "error": str(it.error.message if it.error else "no result")})
    return {
        "feed": f.feed,
        "feed_id": f.feed_id,
        "total": plan["total"],
        "skipped": plan["skipped"],
        "episodes": results,
        "done": sum(1 for r in results if r["status"] == "done"),
        "failed": sum(1 for r in results if r["status"] == "failed"),
    }


def feed_run_name(event: Mapping[str, Any]) -> str:
    """The feed's executions are ``{this}-N``: a hash of the feed and its settings."""
    body = {k: v for k, v in event.items() if k not in ("since", "limit", "concurrency")}
    return "pf-" + hashlib.sha256(canonical_json(body)).hexdigest()[:16]
