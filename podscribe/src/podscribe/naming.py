"""Offline speaker naming from self-introductions.

Looks, in each speaker's own words, for "I'm X", "I am X", "my name is X" (or
"my name's X"), "this is X", "X here" and "it's X" after a greeting. X must look like a
name: capitalised (Whisper capitalises proper nouns), not a common word that can open a
phrase ("I'm Sorry", "this is Software ...", "I'm Irish"), one or two words. With a
list of host names, candidates are snapped to the closest host by spelling or sound
("Ian" heard for "Eoin"), so the names come out spelt as configured.

Each speaker gets at most one name and no two speakers get the same one: evidence is
counted per (speaker, name), hosts and earlier mentions win ties.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from podscribe.transcript import Transcript

# Capitalised words that follow "I'm" / "this is" / a greeting without being a name.
_NOT_NAMES_TEXT = """
    a about actually afraid all also always an and another any as at away back being big
    both but by can certainly coming currently definitely delighted doing done down each
    either even every excited fine first for from glad going gonna good grateful great
    happy having he her here hers him his honestly honored honoured how i if in into is
    it its joined joining just just kind last let like literally live looking lucky me
    mine more most much my myself new next no not nothing now of off ok okay on one only
    or other our ours out over part pleased pretty proud quite ready real really right
    same she so some sorry still such super sure that the their them then there these
    they thinking this those thrilled through thus to today together tomorrow tonight
    too totally trying under up us very was we well were what when where which who why
    will with without yeah yes yesterday yet you your yours episode episodes show
    podcast podcasts part chapter season number news weekly daily live radio software
    cloud data engineering development tech technology monday tuesday wednesday thursday
    friday saturday sunday january february march april july september
    october november december english american british irish scottish welsh canadian
    australian german french spanish italian dutch polish swedish norwegian danish
    finnish indian chinese japanese korean brazilian mexican portuguese russian
    ukrainian greek turkish european african asian mr mrs ms miss dr doctor professor
    sir madam hi hello hey hiya howdy greetings welcome thanks thank cheers bye goodbye
"""
_NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "doctor", "professor", "prof"})
_GREETING = r"(?:hi|hello|hey|hiya|howdy|greetings|welcome|good (?:morning|afternoon|evening))"

_TOKEN = r"[^\W\d_][\w'\u2019\-]*"
_TITLE = r"(?i:(?:dr|mr|mrs|ms|prof|doctor|professor)\.?\s+)"
_NAME = rf"(?P<name>{_TITLE}?{_TOKEN}(?:\s+{_TOKEN})?)"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("my name is", re.compile(rf"\bmy\s+name(?:\s+is|['\u2019]s)\s+{_NAME}", re.IGNORECASE)),
    ("I'm", re.compile(rf"\bI(?:['\u2019]m|\s+am)\s+{_NAME}")),
    ("this is", re.compile(rf"\bthis\s+is\s+{_NAME}", re.IGNORECASE)),
    ("it's", re.compile(rf"\b{_GREETING}\W+it['\u2019]s\s+{_NAME}", re.IGNORECASE)),
    (
        "here",
        re.compile(
            rf"(?:^|[.!?,;:]\s+|\b{_GREETING}\W+)(?P<name>{_TOKEN}(?:\s+{_TOKEN})?)\s+here\b"
            r"(?=\s*(?:[.!?,;:]|$|\s+(?:and|with|again)\b))",
            re.IGNORECASE,
        ),
    ),
]


@dataclass(frozen=True)
class Intro:
    """One self-introduction found in the transcript."""

    label: str  # speaker label
    name: str  # as heard, or the configured host spelling
    heard: str  # as transcribed
    start: float  # seconds
    pattern: str
    host: bool  # matched a configured host name


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper()


def _clean_name(raw: str) -> str | None:
    """The plausible name at the start of ``raw`` (1-2 capitalised tokens), or None."""
    tokens = raw.split()
    out: list[str] = []
    for i, tok in enumerate(tokens):
        tok = tok.strip("'\u2019-.,;:!?")
        if not tok:
            break
        key = _fold(tok)
        if i == 0 and key.rstrip(".") in _TITLES:
            continue
        if not _is_capitalised(tok) or key in _NOT_NAMES or len(key) < 2:
            break
        if key.endswith(("'s", "\u2019s")):
            break
        out.append(tok)
    if not out:
        return None
    return " ".join(out[:2])


def phonetic_key(name: str) -> str:
    """A rough English sound key: similar-sounding spellings share it ("Ian", "Eoin")."""
    s = re.sub(r"[^a-z]", "", _fold(name))
    for a, b in (
        ("x", "ks"),
        ("ph", "f"),
        ("ck", "k"),
        ("gh", "g"),
        ("sch", "sk"),
        ("sh", "x"),
        ("ch", "x"),
        ("th", "t"),
        ("dh", "d"),
        ("qu", "kw"),
        ("q", "k"),
        ("z", "s"),
    ):
        s = s.replace(a, b)
    s = re.sub(r"w(?![aeiouy])", "", s)  # "aw", "ow": a vowel sound
    s = s.replace("w", "v")
    s = re.sub(r"c(?=[eiy])", "s", s)
    s = s.replace("c", "k")
    s = re.sub(r"[aeiouy]+", "a", s)  # every vowel group sounds "vowel"
    s = re.sub(r"(.)\1+", r"\1", s)
    s = re.sub(r"(?<=.)h", "", s)
    return s


def name_similarity(a: str, b: str) -> float:
    """0..1: spelling similarity, or 0.9 when the two names share a sound key."""
    fa, fb = _fold(a), _fold(b)
    spelled = SequenceMatcher(None, fa, fb).ratio()
    ka, kb = phonetic_key(a), phonetic_key(b)
    sound = 0.9 if ka and ka == kb else 0.8 * SequenceMatcher(None, ka, kb).ratio()
    return max(spelled, sound)


def match_host(candidate: str, hosts: Sequence[str], min_similarity: float = 0.75) -> str | None:
    """The configured host whose name is closest to ``candidate`` (full or first name)."""
    best: tuple[float, str] | None = None
    first = candidate.split()[0]
    for host in hosts:
        host_first = host.split()[0] if host.split() else host
        score = max(name_similarity(candidate, host), name_similarity(first, host_first))
        if score >= min_similarity and (best is None or score > best[0]):
            best = (score, host)
    return best[1] if best else None


def _speaker_turns(transcript: Transcript) -> list[tuple[str, str, list[float]]]:
    """Consecutive words of one speaker: (label, text, start time of each character)."""
    turns: list[tuple[str, list[str], list[float]]] = []
    for seg in transcript.segments:
        for w in seg.words:
            label = w.speaker or seg.speaker
            if label is None:
                continue
            t = w.start if w.start is not None else seg.start
            if turns and turns[-1][0] == label:
                turns[-1][1].append(w.word)
                turns[-1][2].append(t)
            else:
                turns.append((label, [w.word], [t]))
        if not seg.words and seg.speaker is not None and seg.text:
            turns.append((seg.speaker, [seg.text], [seg.start]))
    out: list[tuple[str, str, list[float]]] = []
    for label, words, times in turns:
        text = ""
        char_times: list[float] = []
        for word, t in zip(words, times, strict=True):
            if text:
                text += " "
                char_times.append(t)
            text += word
            char_times.extend([t] * len(word))
        out.append((label, text, char_times))
    return out


def find_intros(
    transcript: Transcript,
    hosts: Sequence[str] = (),
    *,
    within_s: float | None = None,
    min_similarity: float = 0.75,
) -> list[Intro]:
    """Every self-introduction, in time order (only those starting before ``within_s``)."""
    intros: list[Intro] = []
    for label, text, char_times in _speaker_turns(transcript):
        for pattern_name, pattern in _PATTERNS:
            for m in pattern.finditer(text):
                name = _clean_name(m.group("name"))
                if name is None:
                    continue
                start = char_times[min(m.start("name"), len(char_times) - 1)]
                if within_s is not None and start > within_s:
                    continue
                host = match_host(name, hosts, min_similarity) if hosts else None
                intros.append(
                    Intro(label, host or name, name, start, pattern_name, host is not None)
                )
    intros.sort(key=lambda i: i.start)
    return intros


def names_from_intros(
    transcript: Transcript,
    hosts: Sequence[str] = (),
    *,
    hosts_only: bool = False,
    within_s: float | None = None,
    min_similarity: float = 0.75,
) -> dict[str, str]:
    """``{speaker label: name}`` from self-introductions.

    ``hosts`` are configured names: a candidate that sounds or looks like one (by
    ``name_similarity`` >= ``min_similarity``) takes the configured spelling. With
    ``hosts_only`` other names (guests, mishearings) are ignored. ``within_s`` limits
    the search to the start of the episode.
    """
    intros = find_intros(transcript, hosts, within_s=within_s, min_similarity=min_similarity)
    if hosts_only:
        intros = [i for i in intros if i.host]
    # Evidence per (label, name): host matches first, then count, then earliest.
    evidence: dict[tuple[str, str], tuple[int, int, float]] = {}
    for intro in intros:
        key = (intro.label, intro.name)
        host, count, first = evidence.get(key, (0, 0, intro.start))
        evidence[key] = (max(host, int(intro.host)), count + 1, min(first, intro.start))
    ranked = sorted(evidence.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[1][2]))
    result: dict[str, str] = {}
    taken: set[str] = set()
    for (label, name), _score in ranked:
        if label in result or _fold(name) in taken:
            continue
        result[label] = name
        taken.add(_fold(name))
    return dict(sorted(result.items()))


def correct_misheard_names(
    transcript: Transcript, intros: Sequence[Intro], names: dict[str, str]
) -> tuple[Transcript, list[str]]:
    """Spell each adopted host introduction as configured in the words too ("I'm Ian"
    becomes "I'm Eoin" when that speaker was named Eoin from it); other occurrences of
    the same misheard name by anyone are corrected as well. Returns the transcript and
    one ``"Ian -> Eoin"`` line per distinct correction."""
    from podscribe.textalign import retext_segment

    fixes: dict[str, str] = {}
    for intro in intros:
        if intro.host and names.get(intro.label) == intro.name and _fold(intro.heard) != _fold(intro.name):
            fixes.setdefault(intro.heard, intro.name)
    if not fixes:
        return transcript, []
    patterns = [
        (re.compile(rf"(?<![\w'\u2019-]){re.escape(heard)}(?![\w-])"), name)
        for heard, name in sorted(fixes.items(), key=lambda kv: -len(kv[0]))
    ]
    segments = []
    for seg in transcript.segments:
        text = seg.text
        for pattern, name in patterns:
            text = pattern.sub(name, text)
        segments.append(retext_segment(seg, text) if text != seg.text else seg)
    fixed = Transcript(
        segments=segments,
        speakers=dict(transcript.speakers),
        language=transcript.language,
        duration=transcript.duration,
    )
    return fixed, [f"{heard} -> {name}" for heard, name in sorted(fixes.items())]
