"""Live progress of a run, read from its durable execution history.

:class:`Tracker` turns history events (in order, as they arrive) into one line per
pipeline step; the transcription line also gets a progress bar by audio time, from the
chunks already checkpointed plus the progress artifact the running chunk rewrites twice
a second. :func:`watch` polls a backend until the execution closes, rendering with rich
(live, on a terminal) or as plain lines (pipes, logs, tests).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from podscribe.app.runs import Backend, RunInfo
from podscribe.artifacts import ArtifactStore
from podscribe.config import Config
from podscribe.timefmt import format_duration

__all__ = ["STAGES", "Stage", "Tracker", "watch"]

#: top-level durable operations shown, with their labels, in pipeline order
STAGES: dict[str, str] = {
    "decode": "decode audio",
    "transcribe": "transcribe",
    "merge": "merge chunks",
    "diarize": "diarize speakers",
    "rules": "replacement rules",
    "refine": "LLM refinement",
    "speakers": "name speakers",
    "review": "human review",
    "review-apply": "apply review",
    "notes": "episode notes",
    "normalize": "normalize segments",
    "captions": "write captions",
    "publish": "publishing files",
    "notify": "notify",
    "notify-failure": "notify failure",
}

_ICONS = {"running": "…", "done": "✓", "failed": "✗", "waiting": "⏸", "retrying": "↻"}
_STYLES = {"running": "cyan", "done": "green", "failed": "red", "waiting": "yellow", "retrying": "yellow"}




@dataclass
class Stage:
    name: str
    status: str = "running"
    started_ms: int = 0
    ended_ms: int | None = None
    detail: str = ""
    result: Any = None

    @property
    def label(self) -> str:
        return STAGES.get(self.name, self.name)

    def elapsed(self, now_ms: int) -> float:
        end = self.ended_ms if self.ended_ms is not None else now_ms
        return max(0.0, (end - self.started_ms) / 1000)


def _payload(details: dict[str, Any], key: str) -> Any:
    value = (details.get(key) or {}).get("Payload")
    if not isinstance(value, str):
        return value
    try:
        data = json.loads(value)
    except ValueError:
        return value
    if isinstance(data, dict) and set(data) == {"t", "v"}:  # the SDK's typed envelope
        from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES, SerDesContext

        with contextlib.suppress(Exception):
            return EXTENDED_TYPES_SERDES.deserialize(value, SerDesContext())
    return data


def _error_text(details: dict[str, Any]) -> str:
    err = _payload(details, "Error")
    if isinstance(err, dict):
        text = str(err.get("ErrorMessage") or err.get("ErrorType") or "")
    else:
        text = str(err or "")
    return " ".join(text.split())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _names(names: dict[str, str], sources: dict[str, Any] | None = None) -> str:
    if not names:
        return "no names found"
    parts = []
    for label, name in sorted(names.items()):
        src = (sources or {}).get(label, {}).get("source") if sources else None
        parts.append(f"{label} = {name}" + (f" ({src})" if src else ""))
    return ", ".join(parts)


def describe(name: str, result: Any) -> str:
    """One-line summary of a finished step's result."""
    text = _describe(name, result)
    if (isinstance(result, dict) and result.get("cached")) or (isinstance(result, list) and result and all(isinstance(c, dict) and c.get("cached") for c in result)):
        text += " (reused)"
    return text


def _describe(name: str, result: Any) -> str:
    if name == "transcribe" and isinstance(result, list):
        words = sum(int(c.get("words", 0)) for c in result if isinstance(c, dict))
        return f"{_plural(len(result), 'chunk')}, {_plural(words, 'word')}"
    if not isinstance(result, dict):
        return ""
    r = result
    if name == "decode":
        src = r.get("source") or {}
        return (
            f"{format_duration(r.get('duration'))} of audio "
            f"({src.get('codec', '?')}, {src.get('sample_rate', '?')} Hz), "
            f"{_plural(len(r.get('spans') or []), 'chunk')}"
        )
    if name == "merge":
        return f"{_plural(int(r.get('segments', 0)), 'segment')}, {_plural(int(r.get('words', 0)), 'word')}"
    if name == "diarize":
        return _plural(len(r.get("speakers") or []), "speaker")
    if name == "rules":
        return f"{_plural(int(r.get('replacements', 0)), 'replacement')} in {_plural(int(r.get('changed_segments', 0)), 'segment')}"
    if name == "refine":
        text = f"{_plural(int(r.get('updates', 0)), 'correction')}, {int(r.get('rejected', 0))} rejected"
        if r.get("failed_chunks"):
            text += f", {r['failed_chunks']} unusable answers"
        return text
    if name == "speakers":
        text = _names(r.get("names") or {}, r.get("sources"))
        if r.get("corrected"):
            text += "; words corrected: " + ", ".join(str(c) for c in r["corrected"])
        return text
    if name == "review-apply":
        text = str(r.get("action", ""))
        if r.get("action") == "correct":
            text += f": {_plural(int(r.get('renamed', 0)), 'name')}, {_plural(int(r.get('edited', 0)), 'edit')}"
        return text
    if name == "normalize":
        return _plural(int(r.get("segments", 0)), "caption segment")
    if name == "captions":
        return ", ".join(r.get("outputs") or {})
    if name in ("notify", "notify-failure"):
        return str(r.get("notification", ""))
    if name == "notes":
        how = "LLM" if r.get("method") == "llm" else "lexical topic segmentation, no LLM"
        text = f"{_plural(int(r.get('chapters', 0)), 'chapter')} ({how})"
        if r.get("problems"):
            text += f", {_plural(int(r['problems']), 'repair')}"
        return text
    if name == "publish":
        return ", ".join(r.get("outputs") or {})
    return ""


@dataclass
class Tracker:
    """The state of one execution's steps, from its history events."""

    run_id: str
    config: Config | None = None
    store: ArtifactStore | None = None
    review_hint: str = ""
    stages: dict[str, Stage] = field(default_factory=dict)
    last_id: int = 0
    duration: float | None = None
    spans: list[tuple[float, float]] = field(default_factory=list)
    chunks_done: dict[int, float] = field(default_factory=dict)
    segments: int = 0
    refine_done: int = 0
    callback_id: str | None = None
    _ops: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    changed: list[Stage] = field(default_factory=list)

    # -- events ------------------------------------------------------------------------

    def _top(self, op_id: str) -> tuple[str, bool]:
        """The top-level operation's name, and whether ``op_id`` is that operation."""
        seen = 0
        current: str | None = op_id
        name = ""
        nested = False
        while current is not None and seen < 50:
            entry = self._ops.get(current)
            if entry is None:
                break
            name, parent = entry
            if parent is None:
                return name, not nested
            nested = True
            current = parent
            seen += 1
        return name, not nested

    def _stage(self, name: str, ts: int) -> Stage:
        stage = self.stages.get(name)
        if stage is None:
            stage = self.stages[name] = Stage(name, "running", ts)
        return stage

    def feed(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.last_id = max(self.last_id, int(event.get("EventId", 0)))
            op_id = event.get("Id")
            etype = str(event.get("EventType", ""))
            if not op_id or etype.startswith(("Execution", "Invocation")):
                continue
            if op_id not in self._ops:
                self._ops[op_id] = (str(event.get("Name") or ""), event.get("ParentId"))
            top, is_top = self._top(op_id)
            if top not in STAGES:
                continue
            name = self._ops[op_id][0]
            details = event.get(f"{etype}Details") or {}
            ts = int(event.get("EventTimestamp") or 0)
            if is_top:
                self._top_event(top, etype, details, ts)
            else:
                self._nested_event(top, name, etype, details, ts)

    def _mark(self, stage: Stage) -> None:
        if stage not in self.changed:
            self.changed.append(stage)

    def _top_event(self, top: str, etype: str, details: dict[str, Any], ts: int) -> None:
        stage = self._stage(top, ts)
        if etype.endswith("Started"):
            if stage.status in ("retrying", "failed"):
                stage.status, stage.ended_ms = "running", None
            self._mark(stage)
        elif etype.endswith("Succeeded"):
            stage.status, stage.ended_ms = "done", ts
            stage.result = _payload(details, "Result")
            self._absorb(top, stage.result)
            stage.detail = describe(top, stage.result)
            self._mark(stage)
        elif etype.endswith(("Failed", "TimedOut", "Stopped")):
            retry = details.get("RetryDetails") or {}
            message = _error_text(details)
            if "NextAttemptDelaySeconds" in retry:
                stage.status = "retrying"
                stage.detail = f"attempt {retry.get('CurrentAttempt')} failed, retrying in {retry['NextAttemptDelaySeconds']}s: {message}"
            else:
                stage.status, stage.ended_ms = "failed", ts
                stage.detail = message
            self._mark(stage)

    def _absorb(self, top: str, result: Any) -> None:
        if not isinstance(result, dict):
            return
        if top == "decode":
            self.duration = float(result.get("duration") or 0.0)
            self.spans = [(float(a), float(b)) for a, b in result.get("spans") or []]
        elif top in ("merge", "rules") and "segments" in result:
            self.segments = int(result["segments"])

    def _nested_event(self, top: str, name: str, etype: str, details: dict[str, Any], ts: int) -> None:
        stage = self._stage(top, ts)
        if top == "transcribe" and etype == "StepSucceeded" and name.startswith("chunk-"):
            result = _payload(details, "Result")
            index = int(name.split("-", 1)[1])
            if isinstance(result, dict):
                self.chunks_done[index] = float(result.get("end", 0)) - float(result.get("start", 0))
            stage.detail = self._transcribe_detail()
            self._mark(stage)
        elif top == "refine" and etype == "StepSucceeded" and name.startswith("refine-") and name[7:].isdigit():
            self.refine_done += 1
            total = self._refine_total()
            stage.detail = f"chunk {self.refine_done}/{total}" if total else f"chunk {self.refine_done}"
            self._mark(stage)
        elif etype == "StepFailed":
            retry = details.get("RetryDetails") or {}
            if "NextAttemptDelaySeconds" in retry:
                stage.status = "retrying"
                stage.detail = f"{name}: retrying in {retry['NextAttemptDelaySeconds']}s: {_error_text(details)}"
                self._mark(stage)
        elif etype == "StepStarted" and stage.status == "retrying":
            stage.status = "running"
            stage.detail = ""
            self._mark(stage)
        elif top == "review" and etype == "CallbackStarted":
            self.callback_id = details.get("CallbackId")
            stage.status = "waiting"
            timeout = details.get("Timeout")
            stage.detail = "waiting for a decision" + (f" (timeout {format_duration(float(timeout))})" if timeout else "")
            if self.review_hint:
                stage.detail += f": {self.review_hint}"
            self._mark(stage)
        elif top == "review" and etype == "CallbackSucceeded":
            stage.status = "running"
            stage.detail = "decision received"
            self._mark(stage)

    def _refine_total(self) -> int:
        if self.config is None or not self.segments:
            return 0
        from podscribe.refine import build_chunks
        from podscribe.transcript import Segment, Transcript

        stand_in = Transcript(segments=[Segment(0.0, 0.0, "")] * self.segments)
        return len(build_chunks(stand_in, self.config.refine))

    # -- transcription progress --------------------------------------------------------

    def _partial(self, index: int) -> float:
        if self.store is None:
            return 0.0
        key = f"runs/{self.run_id}/progress/chunk-{index:04d}.json"
        with contextlib.suppress(Exception):
            data = self.store.get_json(key)
            return float(data.get("done", 0.0))
        return 0.0

    def transcribed_seconds(self) -> float:
        done = sum(self.chunks_done.values())
        stage = self.stages.get("transcribe")
        if stage is not None and stage.status == "running":
            for i, (a, b) in enumerate(self.spans):
                if i not in self.chunks_done:
                    done += min(b - a, self._partial(i))
        return min(done, self.duration or done)

    def _transcribe_detail(self) -> str:
        n = len(self.spans)
        return f"{len(self.chunks_done)}/{n} chunks" if n else f"{len(self.chunks_done)} chunks"

    def take_changed(self) -> list[Stage]:
        out, self.changed = self.changed, []
        return out


# --------------------------------------------------------------------------------------
# rendering


class PlainRenderer:
    """One line per step event worth telling (no cursor movement): pipes and logs."""

    def __init__(self, console: Console, tracker: Tracker) -> None:
        self.console = console
        self.tracker = tracker
        self._shown: dict[str, tuple[str, str]] = {}

    def __enter__(self) -> PlainRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self) -> None:
        now = int(time.time() * 1000)
        for stage in self.tracker.take_changed():
            key = (stage.status, stage.detail)
            if self._shown.get(stage.name) == key:
                continue
            self._shown[stage.name] = key
            icon = _ICONS.get(stage.status, "?")
            timing = f" ({format_duration(stage.elapsed(now))})" if stage.status in ("done", "failed") else ""
            detail = f": {stage.detail}" if stage.detail else ""
            if stage.name == "transcribe" and stage.status == "running" and self.tracker.duration:
                detail = f": {self.tracker.transcribed_seconds():.1f}/{self.tracker.duration:.1f} s of audio"
                if stage.detail:
                    detail += f" ({stage.detail})"
            self.console.print(f"{icon} {stage.label}{timing}{detail}", highlight=False, markup=False)


class LiveRenderer:
    """A live table on a terminal: one row per step, a bar for transcription."""

    def __init__(self, console: Console, tracker: Tracker, header: str) -> None:
        self.console = console
        self.tracker = tracker
        self.header = header
        self.live = Live(self._render(), console=console, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveRenderer:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._render())
        self.live.__exit__(None, None, None)

    def _render(self) -> Group:
        now = int(time.time() * 1000)
        table = Table.grid(padding=(0, 1))
        table.add_column(width=1)
        table.add_column(min_width=20)
        table.add_column(justify="right", min_width=7)
        table.add_column()
        for stage in self.tracker.stages.values():
            style = _STYLES.get(stage.status, "")
            icon = Text(_ICONS.get(stage.status, "?"), style=style)
            detail: Any = Text(stage.detail, overflow="fold")
            if stage.name == "transcribe" and self.tracker.duration and stage.status != "done":
                done = self.tracker.transcribed_seconds()
                detail = Table.grid(padding=(0, 1))
                detail.add_row(
                    ProgressBar(total=self.tracker.duration, completed=done, width=30),
                    Text(f"{done:.0f}/{self.tracker.duration:.0f} s  {stage.detail}"),
                )
            table.add_row(icon, Text(stage.label, style=style), format_duration(stage.elapsed(now)), detail)
        return Group(Text(self.header, style="bold"), table)

    def update(self) -> None:
        self.tracker.take_changed()
        self.live.update(self._render())


def watch(
    backend: Backend,
    run: RunInfo,
    *,
    console: Console,
    tracker: Tracker,
    live: bool,
    header: str = "",
    poll_s: float = 0.4,
    on_poll: Callable[[], None] | None = None,
) -> RunInfo:
    """Show the run's progress until its execution closes; returns its final state.

    Paused executions (``PAUSED``) are returned as they are."""
    renderer: LiveRenderer | PlainRenderer = (
        LiveRenderer(console, tracker, header) if live else PlainRenderer(console, tracker)
    )
    if not live and header:
        console.print(header, highlight=False, markup=False)
    info = run
    with renderer:
        while True:
            tracker.feed(backend.events(run.arn, tracker.last_id))
            renderer.update()
            info = backend.get(run.arn)
            if info.status not in ("RUNNING", "PAUSING"):
                tracker.feed(backend.events(run.arn, tracker.last_id))
                renderer.update()
                return info
            backend.poke()
            if on_poll is not None:
                on_poll()
            time.sleep(poll_s)
