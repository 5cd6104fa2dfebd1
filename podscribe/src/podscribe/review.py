"""Human review: show a paused run's transcript and build the reviewer's decision.

The pipeline waits in ``wait_for_callback`` with a review request artifact
(``runs/{run_id}/review/request.json``: callback id, transcript key, speaker names and
where they came from). ``podscribe review RUN`` shows that transcript and sends back a
:class:`~podscribe.pipeline.ReviewDecision` as the callback result: approve, reject
(the run fails with the reason) or corrections (speaker names by label or by current
name, segment text by index; the pipeline puts edited text back onto the word timings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.prompt import Prompt
from rich.table import Table

from podscribe.pipeline import ReviewDecision
from podscribe.transcript import Transcript

__all__ = [
    "ReviewInputError",
    "decision_from_flags",
    "interactive_decision",
    "parse_assignments",
    "render_transcript",
    "validate_decision",
]


class ReviewInputError(ValueError):
    """A correction that does not fit the transcript (unknown speaker, bad index...)."""


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m:02d}:{s:04.1f}"


def render_transcript(
    console: Console,
    transcript: Transcript,
    sources: Mapping[str, Any] | None = None,
    *,
    title: str = "",
) -> None:
    """The speakers (label, name, where the name came from) and every segment by index."""
    labels = sorted({w.speaker for w in transcript.words if w.speaker} | set(transcript.speakers))
    if title:
        console.print(title, style="bold", highlight=False)
    speakers = Table(title="Speakers", title_justify="left", show_edge=False)
    speakers.add_column("label")
    speakers.add_column("name")
    speakers.add_column("source")
    for label in labels:
        src = (sources or {}).get(label) or {}
        origin = str(src.get("source", "")) if isinstance(src, Mapping) else ""
        if isinstance(src, Mapping) and "similarity" in src:
            origin += f" ({float(src['similarity']):.2f})"
        speakers.add_row(label, transcript.speakers.get(label, "-"), origin or "-")
    console.print(speakers)
    segments = Table(title="Transcript", title_justify="left", show_edge=False)
    segments.add_column("#", justify="right")
    segments.add_column("time")
    segments.add_column("speaker")
    segments.add_column("text", overflow="fold")
    for i, seg in enumerate(transcript.segments):
        who = transcript.speaker_name(seg.speaker) or "-"
        segments.add_row(str(i), _clock(seg.start), who, seg.text)
    console.print(segments)


def parse_assignments(items: Sequence[str], option: str) -> list[tuple[str, str]]:
    """``["A=B", ...]`` -> ``[("A", "B"), ...]``; raises ``ReviewInputError``."""
    out: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ReviewInputError(f"{option} {item!r}: expected KEY=VALUE")
        out.append((key.strip(), value.strip()))
    return out


def validate_decision(decision: ReviewDecision, transcript: Transcript) -> None:
    """Raise ``ReviewInputError`` naming the first correction that does not fit."""
    labels = {w.speaker for w in transcript.words if w.speaker} | set(transcript.speakers)
    names = {" ".join(n.casefold().split()) for n in transcript.speakers.values()}
    for who in decision.speakers or {}:
        if who not in labels and " ".join(who.casefold().split()) not in names:
            known = ", ".join(sorted(labels)) or "none"
            raise ReviewInputError(f"--rename {who}: no such speaker (speakers: {known})")
    n = len(transcript.segments)
    for idx, text in (decision.edits or {}).items():
        if not 0 <= idx < n:
            raise ReviewInputError(f"--edit {idx}: no such segment (0-{n - 1})")
        if not text.strip():
            raise ReviewInputError(f"--edit {idx}: the new text is empty")


def decision_from_flags(
    *,
    approve: bool,
    reject: str | None,
    rename: Sequence[str],
    edit: Sequence[str],
    transcript: Transcript,
) -> ReviewDecision | None:
    """The decision the command-line flags describe, or None when there are none."""
    chosen = sum([approve, reject is not None, bool(rename or edit)])
    if chosen == 0:
        return None
    if chosen > 1:
        raise ReviewInputError("use one of --approve, --reject, or corrections (--rename/--edit)")
    if approve:
        return ReviewDecision("approve")
    if reject is not None:
        return ReviewDecision("reject", reason=reject.strip())
    edits: dict[int, str] = {}
    for key, value in parse_assignments(edit, "--edit"):
        try:
            edits[int(key)] = value
        except ValueError:
            raise ReviewInputError(f"--edit {key}={value}: the index must be a number") from None
    decision = ReviewDecision(
        "correct", speakers=dict(parse_assignments(rename, "--rename")), edits=edits
    )
    validate_decision(decision, transcript)
    return decision


def interactive_decision(console: Console, transcript: Transcript) -> ReviewDecision | None:
    """Ask on the terminal; None when the reviewer quits without deciding."""
    speakers: dict[str, str] = {}
    edits: dict[int, str] = {}
    help_text = (
        "[a]pprove  [r]eject  [n]ame a speaker  [e]dit a segment  "
        "[s]end corrections  [q]uit without deciding"
    )
    while True:
        console.print(help_text, highlight=False, markup=False)
        choice = Prompt.ask("decision", choices=["a", "r", "n", "e", "s", "q"], console=console)
        if choice == "q":
            return None
        if choice == "a":
            if speakers or edits:
                return ReviewDecision("correct", speakers=speakers, edits=edits)
            return ReviewDecision("approve")
        if choice == "r":
            reason = Prompt.ask("reason", console=console)
            return ReviewDecision("reject", reason=reason)
        if choice == "n":
            who = Prompt.ask("speaker (label or current name)", console=console)
            name = Prompt.ask("new name", console=console)
            try:
                validate_decision(ReviewDecision("correct", speakers={who: name}), transcript)
            except ReviewInputError as exc:
                console.print(f"[red]{exc}[/red]")
                continue
            speakers[who] = name
        elif choice == "e":
            raw = Prompt.ask("segment number", console=console)
            if not raw.strip().isdigit() or not 0 <= int(raw) < len(transcript.segments):
                console.print(f"[red]no segment {raw!r}[/red]")
                continue
            idx = int(raw)
            console.print(f"now: {transcript.segments[idx].text}", highlight=False)
            text = Prompt.ask("new text", console=console)
            if text.strip():
                edits[idx] = text
        elif choice == "s":
            if not (speakers or edits):
                console.print("no corrections yet")
                continue
            return ReviewDecision("correct", speakers=speakers, edits=edits)
