"""The review page in the perdure console: listen, fix names and text, approve or reject.

A perdure console plugin (entry point ``perdure.console``): ``perdure serve`` of
podscribe's template shows it at ``/console/x/podscribe/review?arn=...`` and puts a
"Review transcript" button on a run's execution page while it waits. For embedded runs
``podscribe review RUN --web`` serves the same console over the run's own database.

The decision goes out exactly as ``podscribe review`` sends it: a
:class:`~podscribe.pipeline.ReviewDecision` as the review callback's result.
The audio is the run's decoded audio, written once as a 16-bit WAV into the artifact
store (``runs/{run_id}/review/audio.wav``) and served with HTTP range requests.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import wave
import webbrowser
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from perdure import Engine, ExecutionRow
from perdure.errors import InvalidParameterValue, ResourceNotFound
from perdure.ops import operations
from podscribe.artifacts import ArtifactNotFoundError, ArtifactStore
from podscribe.audio import SAMPLE_RATE
from podscribe.pipeline import ReviewDecision, review_request_key
from podscribe.review import ReviewInputError, validate_decision
from podscribe.transcript import Transcript

if TYPE_CHECKING:
    from perdure.console import Console

NAME = "podscribe"
EXIT_FAILED = 1  # as podscribe.app.cli
EXIT_WAITING = 3
PAGE = f"/console/x/{NAME}/review"
CHUNK = 1024 * 1024


def review_url(base: str, arn: str) -> str:
    """The review page of the run ``arn`` on a console at ``base`` (http://host:port)."""
    return f"{base.rstrip('/')}{PAGE}?arn={quote(arn, safe='')}"


@dataclass
class Review:
    row: ExecutionRow
    run_id: str
    store: ArtifactStore
    request: dict[str, Any]
    transcript: Transcript
    pending: bool
    audio_key: str | None


def _podscribe_input(row: ExecutionRow) -> dict[str, Any] | None:
    try:
        data = json.loads(row.input or "null")
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict) and isinstance(data.get("run_id"), str) and data.get("artifacts"):
        return data
    return None


def _open_callbacks(operations: Sequence[dict[str, Any]]) -> set[str]:
    return {
        str((op.get("CallbackDetails") or {}).get("CallbackId"))
        for op in operations
        if op.get("Type") == "CALLBACK" and op.get("Status") in ("STARTED", "PENDING", "READY")
    }


def _decoded_audio_key(operations: Sequence[dict[str, Any]]) -> str | None:
    for op in operations:
        raw = (op.get("StepDetails") or {}).get("Result")
        if op.get("Type") == "STEP" and isinstance(raw, str) and '"audio_key"' in raw:
            try:
                key = json.loads(raw).get("audio_key")
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(key, str):
                return key
    return None


def load_review(engine: Engine, arn: str) -> Review:
    row = engine.get_execution(arn)
    data = _podscribe_input(row)
    if data is None:
        raise InvalidParameterValue(f"{row.name} is not a podscribe run")
    run_id = str(data["run_id"])
    store = ArtifactStore(str(data["artifacts"]))
    try:
        request = store.get_json(review_request_key(run_id))
        transcript = store.get_transcript(request["transcript_key"])
    except (ArtifactNotFoundError, KeyError):
        raise ResourceNotFound(f"run {run_id} has not asked for a review") from None
    ops = operations(engine, arn)
    pending = row.status in ("RUNNING", "PAUSING", "PAUSED") and request.get("callback_id") in _open_callbacks(ops)
    return Review(row, run_id, store, request, transcript, pending, _decoded_audio_key(ops))


def _wav_key(run_id: str) -> str:
    return f"runs/{run_id}/review/audio.wav"


def ensure_wav(review: Review) -> str:
    """The run's audio as a 16-bit mono WAV in the artifact store (written once)."""
    key = _wav_key(review.run_id)
    if review.store.exists(key):
        return key
    if review.audio_key is None:
        raise ResourceNotFound(f"run {review.run_id} has no decoded audio")
    raw = review.store.get_bytes(review.audio_key)
    audio = np.load(io.BytesIO(raw), allow_pickle=False)
    pcm = (np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    review.store.put_bytes(key, buf.getvalue())
    return key


def _read_range(store: ArtifactStore, key: str, start: int, end: int) -> bytes:
    if store.local:
        with store.local_path(key).open("rb") as f:
            f.seek(start)
            return f.read(end - start + 1)
    return store.get_bytes(key)[start : end + 1]


def _size(store: ArtifactStore, key: str) -> int:
    if store.local:
        return store.local_path(key).stat().st_size
    return len(store.get_bytes(key))


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range; None for the whole file.
    Raises ValueError when the range cannot be satisfied."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None  # a form we do not serve partially: the whole file
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            raise ValueError("empty suffix range")
        return max(0, size - n), size - 1
    start = int(first)
    stop = min(int(last), size - 1) if last else min(start + CHUNK - 1, size - 1)
    if start >= size or stop < start:
        raise ValueError("range outside the file")
    return start, stop


def decision_from_form(fields: dict[str, str], transcript: Transcript) -> ReviewDecision:
    """What the page posted: approve (with any corrections) or reject with a reason."""
    action = fields.get("action", "")
    if action == "reject":
        reason = " ".join((fields.get("reason") or "").split())
        if not reason:
            raise ReviewInputError("say why you reject the transcript")
        return ReviewDecision("reject", reason=reason)
    if action != "approve":
        raise ReviewInputError("action must be approve or reject")
    speakers: dict[str, str] = {}
    edits: dict[int, str] = {}
    for field, value in fields.items():
        if field.startswith("speaker."):
            label = field.removeprefix("speaker.")
            new = " ".join(value.split())
            if new and new != transcript.speakers.get(label, ""):
                speakers[label] = new
        elif field.startswith("seg."):
            try:
                idx = int(field.removeprefix("seg."))
            except ValueError:
                raise ReviewInputError(f"{field}: not a segment number") from None
            text = " ".join(value.split())
            if not 0 <= idx < len(transcript.segments):
                raise ReviewInputError(f"segment {idx}: no such segment (0-{len(transcript.segments) - 1})")
            if text != " ".join(transcript.segments[idx].text.split()):
                edits[idx] = text
    if not speakers and not edits:
        return ReviewDecision("approve")
    decision = ReviewDecision("correct", speakers=speakers, edits=edits)
    validate_decision(decision, transcript)
    return decision


class ReviewPlugin:
    name = NAME
    template_dir: Path | None = Path(__file__).parent / "web"

    def __init__(self) -> None:
        self.decided = threading.Event()  # set once a decision went out (podscribe review --web)

    def routes(self, console: Console) -> Sequence[BaseRoute]:
        async def page(request: Request) -> Response:
            viewer = await console.viewer(request)
            if isinstance(viewer, Response):
                return viewer
            review: Review = await console.run(load_review, console.engine, request.query_params.get("arn") or "")
            console.require(viewer, "lambda:GetDurableExecution", review.row.function_name, review.row.arn)
            t = review.transcript
            labels = sorted({w.speaker for w in t.words if w.speaker} | set(t.speakers) | {s.speaker for s in t.segments if s.speaker})
            sources = (review.request.get("speakers") or {}).get("sources") or {}
            return console.render(
                request, "podscribe_review.html", viewer=viewer, review=review, row=review.row,
                segments=list(enumerate(t.segments)), labels=labels, sources=sources,
                audio_url=f"{PAGE}/audio?arn={quote(review.row.arn, safe='')}",
                execution_url=console.execution_url(review.row.arn), page="executions",
                done=request.query_params.get("done"),
            )

        async def audio(request: Request) -> Response:
            viewer = await console.viewer(request)
            if isinstance(viewer, Response):
                return viewer
            review: Review = await console.run(load_review, console.engine, request.query_params.get("arn") or "")
            console.require(viewer, "lambda:GetDurableExecution", review.row.function_name, review.row.arn)
            key = await console.run(ensure_wav, review)
            size = await console.run(_size, review.store, key)
            headers = {"accept-ranges": "bytes", "cache-control": "no-store"}
            try:
                wanted = parse_range(request.headers.get("range"), size)
            except ValueError:
                return Response(status_code=416, headers={**headers, "content-range": f"bytes */{size}"})
            if wanted is None:
                body = await console.run(_read_range, review.store, key, 0, size - 1)
                return Response(body, media_type="audio/wav", headers=headers)
            start, stop = wanted
            body = await console.run(_read_range, review.store, key, start, stop)
            headers["content-range"] = f"bytes {start}-{stop}/{size}"
            return Response(body, status_code=206, media_type="audio/wav", headers=headers)

        async def decide(request: Request) -> Response:
            viewer, fields = await console.form_post(request)
            arn = fields.get("arn") or ""
            review: Review = await console.run(load_review, console.engine, arn)
            console.require(viewer, "lambda:SendDurableExecutionCallbackSuccess", review.row.function_name, arn)
            if not review.pending:
                raise InvalidParameterValue(f"run {review.run_id} is not waiting for review")
            try:
                decision = decision_from_form(fields, review.transcript)
            except ReviewInputError as exc:
                raise InvalidParameterValue(str(exc)) from None
            callback_id = str(review.request["callback_id"])
            await console.run(lambda: console.engine.callback(callback_id, "SUCCEEDED", result=decision.to_json()))
            self.decided.set()
            return RedirectResponse(f"{PAGE}?arn={quote(arn, safe='')}&done={decision.action}", status_code=303)

        return [
            Route("/review", page),
            Route("/review/audio", audio),
            Route("/review/decide", decide, methods=["POST"]),
        ]

    def links(self, console: Console, execution: ExecutionRow, operations: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
        if _podscribe_input(execution) is None or not _open_callbacks(operations):
            return []
        if not any(op.get("Name") == "review" for op in operations):
            return []
        return [("Review transcript", f"{PAGE}?arn={quote(execution.arn, safe='')}")]


def plugin() -> ReviewPlugin:
    """The entry point perdure's console loads."""
    return ReviewPlugin()


def serve_review(engine: Engine, arn: str, *, port: int = 0, open_browser: bool = True, say: Any = print) -> bool:
    """Serve the console (with the review page) over ``engine`` on 127.0.0.1 until a
    decision is sent (True) or Ctrl-C (False). For embedded runs: ``podscribe review --web``."""
    import uvicorn
    from starlette.responses import PlainTextResponse

    from perdure.console import Console, with_console

    review_plugin = ReviewPlugin()
    console = Console(engine, plugins=[review_plugin], title="podscribe review")
    app = with_console(PlainTextResponse("not found", status_code=404), console)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    if not server.started:
        raise OSError(f"could not serve the review page on port {port}")
    bound = server.servers[0].sockets[0].getsockname()[1]
    url = review_url(f"http://127.0.0.1:{bound}", arn)
    say(f"review page: {url}")
    if open_browser:
        webbrowser.open(url)
    try:
        while not review_plugin.decided.wait(0.2):
            pass
        time.sleep(0.3)  # let the browser load the confirmation
        return True
    except KeyboardInterrupt:
        return False
    finally:
        server.should_exit = True
        thread.join(10)


def review_in_browser(args: Any, console: Any, info: Any, state_dir: Path) -> int | None:
    """``podscribe review RUN --web``: serve the review page for an embedded run until the
    decision is sent (None: the caller then follows the run as after ``--approve``), or
    print the page of a run on a perdure server; otherwise an exit code."""
    from podscribe.app.runs import EmbeddedBackend

    if args.server:
        url = review_url(args.server, info.arn)
        console.print(f"review page: {url}", highlight=False, soft_wrap=True)
        if not args.no_browser:
            webbrowser.open(url)
        return 0
    backend = EmbeddedBackend(state_dir, info.run_id)
    try:
        if not load_review(backend.engine, info.arn).pending:
            console.print(f"run {info.run_id} is not waiting for review", style="red")
            return EXIT_FAILED
        say = lambda text: console.print(text, highlight=False, soft_wrap=True)  # noqa: E731
        sent = serve_review(backend.engine, info.arn, port=args.port, open_browser=not args.no_browser, say=say)
    finally:
        backend.close()
    if not sent:
        console.print("no decision sent; the run keeps waiting")
        return EXIT_WAITING
    console.print("decision sent from the review page")
    return 0 if args.no_wait else None
