"""Replacement rules: ordered literal or regex substitutions on segment text.

Literal rules are case-sensitive plain substring replacements; regex rules use
Python's :mod:`re` syntax (``\\b`` for word boundaries, ``(?i)`` to ignore
case, ``\\1`` / ``\\g<name>`` in the replacement). Rules apply in order, each
to the output of the previous one, on the segment's text; changed segments get
their words re-timed with :func:`podscribe.textalign.retext_segment`. A
segment whose text becomes empty is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from podscribe.textalign import retext_segment, segment_text, tokenize
from podscribe.transcript import Segment, Transcript

__all__ = [
    "CompiledRule",
    "RuleSpec",
    "RulesResult",
    "apply_rules",
    "apply_rules_to_text",
    "compile_rules",
]


class RuleSpec(Protocol):
    """Anything with ``find``, ``replace`` and ``regex`` (e.g. ``config.RuleConfig``)."""

    @property
    def find(self) -> str: ...

    @property
    def replace(self) -> str: ...

    @property
    def regex(self) -> bool: ...


@dataclass(frozen=True)
class CompiledRule:
    find: str
    replace: str
    regex: bool = False
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def apply(self, text: str) -> tuple[str, int]:
        """``(new_text, number_of_replacements)``."""
        if self.pattern is not None:
            return self.pattern.subn(self.replace, text)
        count = text.count(self.find)
        return (text.replace(self.find, self.replace), count) if count else (text, 0)


def compile_rules(rules: Sequence[RuleSpec]) -> list[CompiledRule]:
    """Compile rules once; raises ``ValueError`` naming the bad rule."""
    out: list[CompiledRule] = []
    for i, r in enumerate(rules):
        if not r.find:
            raise ValueError(f"rules[{i}].find: must not be empty")
        pattern = None
        if r.regex:
            try:
                pattern = re.compile(r.find)
            except re.error as exc:
                raise ValueError(f"rules[{i}].find: invalid regular expression: {exc}") from None
        out.append(CompiledRule(find=r.find, replace=r.replace, regex=r.regex, pattern=pattern))
    return out


def apply_rules_to_text(text: str, rules: Sequence[CompiledRule]) -> tuple[str, list[int]]:
    """Apply every rule in order; returns the text (whitespace collapsed) and per-rule counts."""
    counts: list[int] = []
    for rule in rules:
        text, n = rule.apply(text)
        counts.append(n)
    return " ".join(tokenize(text)), counts


@dataclass
class RulesResult:
    transcript: Transcript
    changed_segments: int = 0
    dropped_segments: int = 0
    #: replacements made by each rule, in rule order
    counts: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "changed_segments": self.changed_segments,
            "dropped_segments": self.dropped_segments,
            "replacements": sum(self.counts),
            "per_rule": list(self.counts),
        }


def apply_rules(
    transcript: Transcript, rules: Sequence[RuleSpec] | Sequence[CompiledRule]
) -> RulesResult:
    """Apply the rules to every segment; the input transcript is not modified."""
    compiled = _as_compiled(rules)
    totals = [0] * len(compiled)
    segments: list[Segment] = []
    changed = dropped = 0
    for seg in transcript.segments:
        before = segment_text(seg)
        after, counts = apply_rules_to_text(before, compiled)
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        if after == before:
            segments.append(_copy_segment(seg))
            continue
        if not after:
            dropped += 1
            continue
        changed += 1
        segments.append(retext_segment(seg, after))
    out = Transcript(
        segments=segments,
        speakers=dict(transcript.speakers),
        language=transcript.language,
        duration=transcript.duration,
    )
    return RulesResult(out, changed_segments=changed, dropped_segments=dropped, counts=totals)


def _as_compiled(rules: Sequence[RuleSpec] | Sequence[CompiledRule]) -> list[CompiledRule]:
    out: list[CompiledRule] = []
    for i, r in enumerate(rules):
        if isinstance(r, CompiledRule):
            out.append(r)
        else:
            try:
                out.extend(compile_rules([r]))
            except ValueError as exc:
                raise ValueError(str(exc).replace("rules[0]", f"rules[{i}]", 1)) from None
    return out


def _copy_segment(seg: Segment) -> Segment:
    return replace(seg, words=[replace(w) for w in seg.words])
