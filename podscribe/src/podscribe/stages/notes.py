"""The episode notes stages.

``notes_plan_stage`` cuts the transcript into windows; ``notes_window_stage`` is one
LLM call per window (cached by its exact prompt; an answer that does not parse is asked
again up to ``notes.attempts`` times, then given up, never cached); ``notes_finish_stage``
validates and merges the windows' chapters, reduces the summaries with one more call,
and falls back to lexical chapters wherever the LLM gave nothing usable (or entirely,
without an LLM). The files made from the notes are written by
:mod:`podscribe.stages.publish`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from podscribe.stages.common import PipelineInput, digest_of, store_for

log = logging.getLogger(__name__)


def use_llm(p: PipelineInput) -> bool:
    return p.config.notes.llm and p.config.refine.provider != "none"


def notes_plan_stage(p: PipelineInput, transcript_key: str) -> dict[str, Any]:
    from podscribe.notes import windows

    transcript = store_for(p.artifacts).get_transcript(transcript_key)
    return {"windows": [list(w) for w in windows(transcript, p.config.notes.window_minutes)]}


def notes_window_stage(p: PipelineInput, transcript_key: str, first: int, stop: int) -> dict[str, Any]:
    """One window through the LLM: ``{summary, chapters, keywords}`` or ``{error}``."""
    from podscribe.notes import strings, window_messages

    t0 = time.monotonic()
    store = store_for(p.artifacts)
    rcfg = p.config.refine
    transcript = store.get_transcript(transcript_key)
    messages = window_messages(transcript, first, stop, context=rcfg.context)
    digest = digest_of("notes-window", messages, rcfg.model, rcfg.temperature)
    key = f"cache/notes/{digest}.json"
    if p.use_cache and store.exists(key):
        return dict(store.get_json(key), seconds=round(time.monotonic() - t0, 3), cached=True)
    data, error = _ask_json(p, messages, "chapters", f"notes window {first}-{stop - 1}")
    if data is None:
        return {"first": first, "stop": stop, "error": error, "seconds": round(time.monotonic() - t0, 3)}
    chapters = data.get("chapters")
    result = {
        "first": first,
        "stop": stop,
        "summary": " ".join(str(data.get("summary") or "").split())[:2000],
        "chapters": [c for c in chapters if isinstance(c, Mapping)] if isinstance(chapters, list) else [],
        "keywords": strings(data.get("keywords"), 15, 60),
    }
    store.put_json(key, result)
    return dict(result, seconds=round(time.monotonic() - t0, 3))


def _ask_json(p: PipelineInput, messages: Any, required: str, what: str) -> tuple[dict[str, Any] | None, str]:
    """Ask the configured LLM for a JSON object with member ``required``, up to
    ``notes.attempts`` times: (the object, "") or (None, why not). A retryable LLM error
    is raised: the step's retry policy tries again later."""
    from podscribe.llm import LLMError, parse_json_object, provider_from_config

    rcfg = p.config.refine
    provider = provider_from_config(rcfg)
    assert provider is not None
    error = "no answer"
    for attempt in range(p.config.notes.attempts):
        try:
            reply = provider.complete(messages, temperature=rcfg.temperature, timeout=rcfg.timeout)
        except LLMError as exc:
            if exc.retryable:
                raise
            return None, f"LLM call failed: {exc}"
        try:
            return parse_json_object(reply, (required,)), ""
        except ValueError as exc:
            error = f"unparsable answer: {exc}"
            log.warning("%s, attempt %d: %s", what, attempt + 1, error)
    return None, error


def _window_chapters(
    window: Mapping[str, Any], transcript: Any, problems: list[str]
) -> list[dict[str, Any]]:
    """A window's chapters, only those citing a segment inside the window."""
    from podscribe.notes import lexical_chapters
    from podscribe.transcript import Transcript

    first, stop = int(window["first"]), int(window["stop"])
    if "error" in window:
        problems.append(f"segments {first}-{stop - 1}: {window['error']}; lexical chapters used there")
        part = Transcript(segments=transcript.segments[first:stop], duration=transcript.segments[stop - 1].end)
        return [
            {"segment": int(c["segment"]) + first, "title": c["title"]}
            for c in lexical_chapters(part, min_seconds=60.0)
        ]
    out = []
    for c in window["chapters"]:
        seg = c.get("segment")
        if isinstance(seg, int) and not first <= seg < stop:
            problems.append(f"chapter {c.get('title')!r} dropped: segment {seg} is outside its window {first}-{stop - 1}")
            continue
        out.append(dict(c))
    return out


def notes_finish_stage(
    p: PipelineInput, transcript_key: str, window_results: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The validated notes, stored at ``runs/{run}/notes.json``."""
    from podscribe.notes import Notes, lexical_notes, validate_chapters

    t0 = time.monotonic()
    store = store_for(p.artifacts)
    ncfg = p.config.notes
    transcript = store.get_transcript(transcript_key)
    notes = lexical_notes(transcript, min_seconds=ncfg.min_chapter_seconds)
    usable = [w for w in window_results if "error" not in w]
    if use_llm(p) and usable:
        problems: list[str] = []
        proposed: list[dict[str, Any]] = []
        for w in window_results:
            proposed += _window_chapters(w, transcript, problems)
        chapters, repairs = validate_chapters(proposed, transcript, min_seconds=ncfg.min_chapter_seconds)
        problems += repairs
        summaries = [str(w.get("summary", "")) for w in usable]
        keywords = list(dict.fromkeys(k for w in usable for k in w.get("keywords", [])))
        llm_notes = Notes("llm", " ".join(summaries), chapters, keywords[:10], [], "", problems)
        reduced = _reduce(p, summaries, chapters)
        if "error" in reduced:
            problems.append(f"episode summary: {reduced['error']}; the window summaries are used")
        else:
            llm_notes.summary = reduced["summary"] or llm_notes.summary
            llm_notes.titles = reduced["titles"]
            llm_notes.social_post = reduced["social_post"]
            llm_notes.keywords = reduced["keywords"] or llm_notes.keywords
        notes = llm_notes
    elif use_llm(p):
        notes.problems.insert(0, "the LLM gave no usable answer: lexical notes instead")
    key = f"runs/{p.run_id}/notes.json"
    store.put_json(key, notes.to_dict())
    return {
        "key": key,
        "method": notes.method,
        "chapters": len(notes.chapters),
        "problems": len(notes.problems),
        "seconds": round(time.monotonic() - t0, 3),
    }


def _reduce(p: PipelineInput, summaries: Sequence[str], chapters: Sequence[Any]) -> dict[str, Any]:
    from podscribe.notes import reduce_messages, strings

    rcfg = p.config.refine
    messages = reduce_messages(summaries, chapters, context=rcfg.context)
    store = store_for(p.artifacts)

    def compute() -> dict[str, Any]:
        data, error = _ask_json(p, messages, "summary", "notes summary")
        if data is None:
            return {"error": error}
        post = " ".join(str(data.get("social_post") or "").split())
        return {
            "summary": " ".join(str(data.get("summary") or "").split())[:3000],
            "titles": strings(data.get("titles"), 5, 120),
            "keywords": strings(data.get("keywords"), 10, 60),
            "social_post": post[:280],
        }

    key = f"cache/notes/{digest_of('notes-reduce', messages, rcfg.model, rcfg.temperature)}.json"
    if p.use_cache and store.exists(key):
        return dict(store.get_json(key))
    result = compute()
    if "error" not in result:  # a failure is never kept
        store.put_json(key, result)
    return result
