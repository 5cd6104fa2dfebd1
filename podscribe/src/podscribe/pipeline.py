"""The podcast pipeline as one durable function (AWS Lambda durable functions SDK).

``handler`` runs unchanged on perdure (embedded or ``perdure serve --template
podscribe/template.yaml``) and on AWS Lambda. Every stage is a durable operation, so a
crash, a kill or a redeploy resumes at the first unfinished operation:

=================  =====================================================================
operation          what it does
=================  =====================================================================
``start``          step: the start time (replays see the same value)
``decode``         step: decode and validate the audio (16 kHz mono artifact) and cut it
                   into chunks at silences; non-audio, empty and silent files fail for good
``transcribe``     child context of ``context.map`` batches, one item (``chunk-N``) and
                   one step per chunk: a crash loses at most one chunk
``merge``          step: chunk transcripts -> one transcript
``diarize``        step: speakers (skipped when ``diarization.enabled`` is false)
``rules``          step: replacement rules (skipped when there are none)
``refine``         child context, one step per LLM chunk (``refine-N``) then
                   ``refine-apply`` (skipped when ``refine.provider`` is ``"none"``)
``speakers``       step: names from the voice library, self-introductions (+ hosts) and
                   the LLM, each with its source
``review``         ``wait_for_callback`` (only when ``review.enabled``), then
                   ``review-apply``: approve, reject (the execution fails) or corrections
``notes``          child context (when ``notes.enabled``): with an LLM, ``notes-plan``,
                   one step per window (``notes-N``) and ``notes-finish`` (validated
                   chapters, summary, keywords, titles, social post); without one, only
                   ``notes-finish`` (lexical topic segmentation, labelled as such)
``normalize``      step: caption-sized segments
``captions``       step: VTT, SRT, caption JSON and the full transcript JSON to ``out``
``publish``        step: chapters.json, the Podcasting 2.0 transcript, show notes and the
                   RSS snippet to ``out`` (when ``notes.enabled``)
``notify``         step: the event (webhook, when configured, signed when a secret is
                   set; also the run's event log) and summary line. When a stage fails
                   or the review is rejected, ``notify-failure`` sends the failure event
                   and the execution then fails with the stage's error
=================  =====================================================================

Large data (audio, transcripts) lives in the artifact store; checkpoints hold keys and
small results only. A run's own files are under ``runs/{run_id}/``; the expensive
results (decoded audio, each chunk's transcript, the diarization, each LLM answer) are
under ``cache/``, keyed by a hash of everything they depend on (the decoded audio, the
settings, the exact prompt), so a new attempt of a failed run, or a run of the same
episode with other rules or caption settings, reuses them instead of redoing the work
(``use_cache: false`` turns the reuse off).

Input event::

    {"audio": "/abs/episode.mp3" | "s3://...",   # required
     "config": {...},                              # the TOML document as a dict
     "artifacts": "/abs/store" | "s3://...",      # default: config artifacts.store
     "out": "/abs/dir" | "s3://...",              # default: {artifacts}/runs/{run_id}/out
     "run_id": "ps-...",                            # default: a hash of the input
     "voice_library": "/dir",                       # default: config speakers.voice_library
     "use_cache": true}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    ChildConfig,
    Duration,
    MapConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.exceptions import (
    CallbackError,
    CallbackTimeoutError,
    DurableOperationError,
)

from podscribe.stages.captions import captions_stage, normalize_stage
from podscribe.stages.common import (
    JSON,
    InputError,
    PipelineError,
    PipelineInput,
    fatal_errors,
    now_s,
    parse_input,
    retry_policy,
    run_key,
)
from podscribe.stages.notes import (
    notes_finish_stage,
    notes_plan_stage,
    notes_window_stage,
    use_llm,
)
from podscribe.stages.notify import notify_stage
from podscribe.stages.publish import publish_stage
from podscribe.stages.review import (
    ReviewDecision,
    ReviewRejected,
    apply_review,
    review_apply_stage,
    review_request_key,
    review_submit_stage,
)
from podscribe.stages.speech import (
    asr_layout,
    decode_stage,
    diarize_stage,
    get_model,
    merge_stage,
    transcribe_stage,
)
from podscribe.stages.text import (
    refine_apply_stage,
    refine_chunk_stage,
    rules_stage,
    speakers_stage,
)
from podscribe.transcript import Segment, Transcript

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python.concurrency.models import BatchResult

__all__ = [
    "FUNCTION_NAME",
    "InputError",
    "PipelineError",
    "PipelineInput",
    "ReviewDecision",
    "apply_review",
    "asr_layout",
    "get_model",
    "handler",
    "parse_input",
    "review_request_key",
    "run_key",
]

#: the function's name in podscribe/template.yaml (its logical id)
FUNCTION_NAME = "PodscribePipeline"
#: chunks transcribed per map operation; the invocation is renewed between batches
CHUNKS_PER_BATCH = 4

# --------------------------------------------------------------------------------------
# the durable handler


def _step(
    context: DurableContext,
    name: str,
    body: Callable[[], Any],
    *,
    attempts: int = 3,
    max_delay_s: int = 30,
) -> Any:
    config = StepConfig(
        retry_strategy=retry_policy(attempts, fatal=fatal_errors(), max_s=max_delay_s),
        serdes=JSON,
    )
    try:
        return context.step(lambda _ctx: body(), name=name, config=config)
    except DurableOperationError as exc:
        raise PipelineError(f"{name} failed: {_message(exc)}") from None


def _message(exc: DurableOperationError) -> str:
    text = " ".join(str(exc.message or exc.error_type or "unknown error").split())
    return text


def _batches(spans: Sequence[Sequence[float]]) -> list[list[tuple[int, list[float]]]]:
    items = [(i, [float(a), float(b)]) for i, (a, b) in enumerate(spans)]
    return [items[i : i + CHUNKS_PER_BATCH] for i in range(0, len(items), CHUNKS_PER_BATCH)]


def _transcribe_all(
    context: DurableContext, p: PipelineInput, decoded: Mapping[str, Any]
) -> list[dict[str, Any]]:
    spans: Sequence[Sequence[float]] = decoded["spans"]
    layout = asr_layout(p.config.asr, len(spans))

    def run(ctx: DurableContext) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        batches = _batches(spans)
        for b, batch in enumerate(batches):
            if b:
                # A new invocation for every batch: each gets the whole function timeout.
                ctx.wait(Duration.from_seconds(1), name=f"renew-{b}")

            def item(
                item_ctx: DurableContext,
                entry: tuple[int, list[float]],
                _index: int,
                _items: Sequence[tuple[int, list[float]]],
            ) -> dict[str, Any]:
                i, span = entry
                return _step(  # type: ignore[no-any-return]
                    item_ctx, f"chunk-{i}", lambda: transcribe_stage(p, decoded, i, span, layout)
                )

            batch_result: BatchResult[dict[str, Any]] = ctx.map(
                batch,
                item,
                name=f"batch-{b}",
                config=MapConfig(
                    max_concurrency=layout[0],
                    item_namer=lambda entry, _index: f"chunk-{entry[0]}",
                ),
            )
            for it in batch_result.all:
                if it.error is not None or it.result is None:
                    message = (it.error.message if it.error else None) or "no result"
                    raise PipelineError(f"transcribe failed: {' '.join(message.split())}")
                results.append(it.result)
        return results

    try:
        return context.run_in_child_context(run, name="transcribe", config=ChildConfig(serdes=JSON))
    except DurableOperationError as exc:
        raise PipelineError(_message(exc)) from None


def _refine_all(context: DurableContext, p: PipelineInput, transcript_key: str, segments: int) -> dict[str, Any]:
    from podscribe.refine import build_chunks

    stand_in = Transcript(segments=[Segment(0.0, 0.0, "")] * segments)
    chunks = [c.to_dict() for c in build_chunks(stand_in, p.config.refine)]

    def run(ctx: DurableContext) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        seconds = 0.0
        for chunk in chunks:
            out = _step(
                ctx,
                f"refine-{chunk['index']}",
                functools.partial(refine_chunk_stage, p, transcript_key, chunk),
                attempts=4,
                max_delay_s=60,
            )
            results.append(out["result"])
            seconds += float(out["seconds"])
        applied: dict[str, Any] = _step(
            ctx, "refine-apply", lambda: refine_apply_stage(p, transcript_key, results)
        )
        applied["seconds"] = round(seconds + float(applied["seconds"]), 3)
        return applied

    try:
        return context.run_in_child_context(run, name="refine", config=ChildConfig(serdes=JSON))
    except DurableOperationError as exc:
        raise PipelineError(_message(exc)) from None


def _review(context: DurableContext, p: PipelineInput, named: dict[str, Any]) -> dict[str, Any]:
    transcript_key = named["key"]
    hours = p.config.review.timeout_hours
    payload = {"names": named["names"], "sources": named["sources"]}

    def submit(callback_id: str, _ctx: Any) -> None:
        review_submit_stage(p, callback_id, transcript_key, payload)

    try:
        raw = context.wait_for_callback(
            submit,
            name="review",
            config=WaitForCallbackConfig(
                timeout=Duration.from_seconds(max(1, round(hours * 3600))),
                retry_strategy=retry_policy(3, fatal=fatal_errors()),
            ),
        )
    except CallbackTimeoutError:
        raise PipelineError(f"review failed: no decision within {hours:g} hours") from None
    except CallbackError as exc:
        raise PipelineError(f"review failed: {_message(exc)}") from None
    config = StepConfig(
        retry_strategy=retry_policy(2, fatal=(ReviewRejected, ValueError)), serdes=JSON
    )
    try:
        return context.step(
            lambda _ctx: review_apply_stage(p, transcript_key, raw), name="review-apply", config=config
        )
    except DurableOperationError as exc:
        if exc.error_type.endswith("ReviewRejected"):
            raise RunRejected(_message(exc)) from None
        raise PipelineError(f"review failed: {_message(exc)}") from None


class RunRejected(PipelineError):
    """The reviewer rejected the transcript."""


def _notes(context: DurableContext, p: PipelineInput, transcript_key: str) -> dict[str, Any]:
    def run(ctx: DurableContext) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        seconds = 0.0
        if use_llm(p):
            plan = _step(ctx, "notes-plan", lambda: notes_plan_stage(p, transcript_key))
            for n, (first, stop) in enumerate(plan["windows"]):
                out = _step(
                    ctx,
                    f"notes-{n}",
                    functools.partial(notes_window_stage, p, transcript_key, first, stop),
                    attempts=4,
                    max_delay_s=60,
                )
                seconds += float(out.pop("seconds"))
                results.append(out)
        finished: dict[str, Any] = _step(
            ctx, "notes-finish", lambda: notes_finish_stage(p, transcript_key, results), attempts=4, max_delay_s=60
        )
        finished["seconds"] = round(seconds + float(finished["seconds"]), 3)
        return finished

    try:
        return context.run_in_child_context(run, name="notes", config=ChildConfig(serdes=JSON))
    except DurableOperationError as exc:
        raise PipelineError(_message(exc)) from None


def handler(event: Any, lambda_context: Any) -> Any:
    """The Lambda entry point (``podscribe.pipeline.handler`` in template.yaml)."""
    return pipeline(event, lambda_context)


@durable_execution
def pipeline(event: Any, context: DurableContext) -> dict[str, Any]:
    p = parse_input(event)
    started: float = context.step(lambda _ctx: now_s(), name="start", config=StepConfig(serdes=JSON))
    timings: dict[str, float] = {}
    try:
        return _run(context, p, started, timings)
    except PipelineError as exc:
        status = "rejected" if isinstance(exc, RunRejected) else "failed"
        error = str(exc)
        _step(
            context,
            "notify-failure",
            lambda: notify_stage(p, started, {}, timings, {}, status=status, error=error),
            attempts=2,
        )
        raise


def _run(context: DurableContext, p: PipelineInput, started: float, timings: dict[str, float]) -> dict[str, Any]:
    cfg = p.config

    decoded = _step(context, "decode", lambda: decode_stage(p))
    timings["decode"] = decoded["seconds"]
    duration = float(decoded["duration"])
    context.logger.info("decoded %.1f s of audio into %d chunk(s)", duration, len(decoded["spans"]))

    chunks = _transcribe_all(context, p, decoded)
    # chunks may run side by side: the stage took from the first start to the last end
    timings["transcribe"] = round(max(c["ended"] for c in chunks) - min(c["began"] for c in chunks), 3)

    merged = _step(context, "merge", lambda: merge_stage(p, [c["key"] for c in chunks], duration))
    timings["merge"] = merged["seconds"]
    key: str = merged["key"]
    segments = int(merged["segments"])

    centroids_key: str | None = None
    if cfg.diarization.enabled:
        diarized = _step(context, "diarize", lambda: diarize_stage(p, decoded, merged), attempts=2)
        timings["diarize"] = diarized["seconds"]
        key, centroids_key = diarized["key"], diarized["centroids_key"]

    rules: dict[str, Any] | None = None
    if cfg.rules:
        rules_in = key
        rules = _step(context, "rules", lambda: rules_stage(p, rules_in))
        timings["rules"] = rules["seconds"]
        key, segments = rules["key"], int(rules["segments"])

    refined: dict[str, Any] | None = None
    llm_names: dict[str, str] = {}
    if cfg.refine.provider != "none" and segments:
        refined = _refine_all(context, p, key, segments)
        timings["refine"] = refined["seconds"]
        key, llm_names = refined["key"], refined["llm_names"]

    named: dict[str, Any] = {"key": key, "names": {}, "sources": {}}
    if cfg.diarization.enabled:
        speakers_in = key
        named = _step(
            context, "speakers", lambda: speakers_stage(p, speakers_in, centroids_key, llm_names)
        )
        timings["speakers"] = named["seconds"]
        key = named["key"]

    reviewed: dict[str, Any] | None = None
    if cfg.review.enabled:
        reviewed = _review(context, p, named)
        key = reviewed["key"]

    notes: dict[str, Any] | None = None
    if cfg.notes.enabled:
        notes_in = key
        notes = _notes(context, p, notes_in)
        timings["notes"] = notes["seconds"]

    normalize_in = key
    normalized = _step(context, "normalize", lambda: normalize_stage(p, normalize_in))
    timings["normalize"] = normalized["seconds"]
    final_key = normalized["key"]

    captions = _step(context, "captions", lambda: captions_stage(p, final_key))
    timings["captions"] = captions["seconds"]
    outputs: dict[str, str] = captions["outputs"]
    if notes is not None:
        notes_key, caption_outputs = notes["key"], dict(outputs)
        published = _step(
            context, "publish", lambda: publish_stage(p, notes_key, final_key, caption_outputs)
        )
        timings["publish"] = published["seconds"]
        outputs = {**outputs, **published["outputs"]}

    speakers = reviewed["names"] if reviewed is not None else named["names"]
    sources: dict[str, Any] = dict(named.get("sources", {}))
    for label in (reviewed or {}).get("renamed_labels", []):
        sources[label] = {"source": "review"}
    details: dict[str, Any] = {"speakers": speakers, "duration": duration}
    notified = _step(
        context,
        "notify",
        lambda: notify_stage(p, started, outputs, timings, details),
        attempts=2,
    )
    wall = round(float(notified["finished"]) - started, 3)
    summary: dict[str, Any] = {
        "run_id": p.run_id,
        "audio": p.audio,
        "duration": duration,
        "chunks": len(chunks),
        "outputs": outputs,
        "transcript": final_key,
        "speakers": speakers,
        "speaker_sources": sources,
        "timings": timings,
        "wall_seconds": wall,
        "rtf": round(wall / duration, 3) if duration else None,
        "notification": notified["notification"],
        "summary": notified["line"],
    }
    if rules is not None:
        summary["rules"] = {k: rules[k] for k in ("changed_segments", "dropped_segments", "replacements")}
    if refined is not None:
        summary["refine"] = {
            k: refined[k] for k in ("chunks", "updates", "rejected", "failed_chunks", "llm_names")
        }
    if named.get("overruled"):
        summary["speaker_overruled"] = named["overruled"]
    if named.get("corrected"):
        summary["names_corrected"] = named["corrected"]
    if notes is not None:
        summary["notes"] = {k: notes[k] for k in ("method", "chapters", "problems")}
    if reviewed is not None:
        summary["review"] = {k: reviewed[k] for k in ("action", "renamed", "edited", "problems")}
    return summary



