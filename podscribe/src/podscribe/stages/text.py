"""The text stages: replacement rules, LLM refinement (one step per chunk) and naming."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from podscribe.stages.common import PipelineInput, cached_json, digest_of, store_for


def rules_stage(p: PipelineInput, transcript_key: str) -> dict[str, Any]:
    from podscribe.rules import apply_rules

    t0 = time.monotonic()
    store = store_for(p.artifacts)
    result = apply_rules(store.get_transcript(transcript_key), p.config.rules)
    key = f"runs/{p.run_id}/transcript.rules.json"
    store.put_transcript(key, result.transcript)
    return {
        "key": key,
        "segments": len(result.transcript.segments),
        **result.summary(),
        "seconds": round(time.monotonic() - t0, 3),
    }


def refine_chunk_stage(p: PipelineInput, transcript_key: str, chunk: dict[str, Any]) -> dict[str, Any]:
    """One LLM call and its validation; cached by the exact prompt and refine settings."""
    from podscribe.llm import provider_from_config
    from podscribe.refine import Chunk, build_messages, refine_chunk

    store = store_for(p.artifacts)
    rcfg = p.config.refine
    hosts = p.config.speakers.hosts
    transcript = store.get_transcript(transcript_key)
    piece = Chunk.from_dict(chunk)
    messages = build_messages(transcript, piece, rcfg, hosts=hosts)
    settings = rcfg.model_dump(exclude={"timeout", "max_retries", "api_key_env", "chunk_segments"})
    digest = digest_of("refine", messages, settings)

    def compute() -> dict[str, Any]:
        provider = provider_from_config(rcfg)
        assert provider is not None
        return refine_chunk(transcript, piece, provider, rcfg, hosts=hosts).to_dict()

    t0 = time.monotonic()
    result = cached_json(store, f"cache/refine/{digest}.json", p.use_cache, compute)
    result.pop("cached", None)
    return {"result": result, "seconds": round(time.monotonic() - t0, 3)}


def refine_apply_stage(
    p: PipelineInput, transcript_key: str, results: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    from podscribe.refine import ChunkResult, apply_chunk_results, refine_summary

    t0 = time.monotonic()
    store = store_for(p.artifacts)
    chunk_results = [ChunkResult.from_dict(r) for r in results]
    transcript = store.get_transcript(transcript_key)
    before = dict(transcript.speakers)
    transcript.speakers = {}
    refined = apply_chunk_results(transcript, chunk_results)
    llm_names = dict(refined.speakers)
    refined.speakers = before
    key = f"runs/{p.run_id}/transcript.refined.json"
    store.put_transcript(key, refined)
    rejected = [
        {"chunk": r.chunk.index, "kind": x.kind, "idx": x.idx, "reason": x.reason, "text": x.text}
        for r in chunk_results
        for x in r.rejected
    ]
    store.put_json(f"runs/{p.run_id}/refine/rejected.json", rejected)
    summary = refine_summary(chunk_results)
    summary.pop("speakers", None)
    return {
        "key": key,
        "llm_names": llm_names,
        **summary,
        "errors": [r.error for r in chunk_results if r.error],
        "seconds": round(time.monotonic() - t0, 3),
    }


def fold_name(name: str) -> str:
    return " ".join(name.casefold().split())


def speakers_stage(
    p: PipelineInput,
    transcript_key: str,
    centroids_key: str | None,
    llm_names: Mapping[str, str],
) -> dict[str, Any]:
    """Name speakers: a voice match far above the threshold (``voice_threshold +
    voice_override_margin``) first, then self-introductions (snapped to the configured
    hosts' spellings), then other voice matches above the threshold, then the LLM; no two
    speakers share a name. A host introduction that was misheard is corrected in the
    words too."""
    from podscribe.naming import correct_misheard_names, find_intros, names_from_intros
    from podscribe.voices import load_library, match, similarities

    t0 = time.monotonic()
    store = store_for(p.artifacts)
    transcript = store.get_transcript(transcript_key)
    labels = sorted({w.speaker for w in transcript.words if w.speaker})
    names: dict[str, str] = {}
    sources: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    overruled: list[dict[str, Any]] = []

    def take(label: str, name: str, source: dict[str, Any]) -> bool:
        if label in names or label not in labels or fold_name(name) in taken:
            return False
        names[label] = name
        sources[label] = source
        taken.add(fold_name(name))
        return True

    scfg = p.config.speakers
    voice: dict[str, tuple[str, float]] = {}
    if p.voice_library and centroids_key:
        library = load_library(p.voice_library)
        centroids = {k: np.asarray(v, dtype=np.float32) for k, v in store.get_json(centroids_key).items()}
        if library and centroids:
            sims = similarities(centroids, library)
            for label, name in match(centroids, library, scfg.voice_threshold).items():
                voice[label] = (name, round(float(sims[label][name]), 3))
    strong = scfg.voice_threshold + scfg.voice_override_margin
    for label, (name, sim) in sorted(voice.items()):
        if sim >= strong:
            take(label, name, {"source": "voice", "similarity": sim})
    hosts = scfg.hosts
    for label, name in names_from_intros(transcript, hosts).items():
        take(label, name, {"source": "host intro" if name in hosts else "intro"})
    for label, (name, sim) in sorted(voice.items()):
        if not take(label, name, {"source": "voice", "similarity": sim}) and names.get(label) != name:
            overruled.append({"label": label, "voice": name, "similarity": sim, "kept": names.get(label)})
    for label, name in sorted(llm_names.items()):
        take(label, name, {"source": "llm"})

    transcript, corrected = correct_misheard_names(transcript, find_intros(transcript, hosts), names)

    transcript.speakers = dict(sorted(names.items()))
    key = f"runs/{p.run_id}/transcript.named.json"
    store.put_transcript(key, transcript)
    return {
        "key": key,
        "names": transcript.speakers,
        "sources": sources,
        "labels": labels,
        "corrected": corrected,
        "overruled": overruled,
        "seconds": round(time.monotonic() - t0, 3),
    }


