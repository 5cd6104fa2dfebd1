"""Pipeline configuration: one TOML file, validated with pydantic.

Every section and option has a default, so an empty file (or no file at all)
is a valid configuration that runs fully offline. Unknown keys are errors, and
every error names the offending option by its dotted path, for example
``refine.max_word_change_ratio: Input should be less than or equal to 1``.

:func:`options_table` renders every option with its default as a markdown
table, for the README.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "ArtifactsConfig",
    "AsrConfig",
    "CaptionsConfig",
    "Config",
    "ConfigError",
    "DiarizationConfig",
    "NormalizeConfig",
    "NotesConfig",
    "NotifyConfig",
    "PublishConfig",
    "RefineConfig",
    "ReviewConfig",
    "RuleConfig",
    "SpeakersConfig",
    "load_config",
    "option_rows",
    "options_table",
    "parse_config",
]

ProviderName = Literal["none", "openai", "bedrock"]
CaptionFormat = Literal["vtt", "srt", "json", "transcript"]
SpeakerNames = Literal["never", "always", "on-change", "when-changes"]
HighlightStyle = Literal["u", "b", "i"]
HighlightWords = Literal["none", "underline", "bold", "italic"]


class ConfigError(ValueError):
    """A configuration file that cannot be read or does not validate.

    ``errors`` holds one ``"dotted.path: message"`` string per problem.
    """

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors: list[str] = errors if errors is not None else [message]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AsrConfig(_Section):
    """Speech recognition (faster-whisper)."""

    model: str = Field(
        default="tiny.en",
        min_length=1,
        description='Whisper model: a name ("tiny.en", "small", "large-v3") or a local CTranslate2 model directory. "tiny.en" ships with the package.',
    )
    device: str = Field(default="auto", min_length=1, description='"auto", "cpu" or "cuda".')
    compute_type: str = Field(
        default="auto",
        min_length=1,
        description='CTranslate2 compute type: "auto", "int8", "float16", ...',
    )
    beam_size: int = Field(default=5, ge=1, le=20, description="Beam search width.")
    batch_size: int = Field(
        default=0,
        ge=0,
        le=256,
        description="faster-whisper's batched pipeline, this many speech segments per batch: 0 = auto (16 on a GPU, off on CPU), 1 = off.",
    )
    vad: bool = Field(
        default=True, description="Skip silence with voice activity detection before decoding."
    )
    language: str = Field(default="en", min_length=1, description="Spoken language code.")
    chunk_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Audio is transcribed in chunks of this many seconds (one durable step each).",
    )


class DiarizationConfig(_Section):
    """Who spoke when."""

    enabled: bool = Field(default=True, description="Label segments and words with speakers.")
    min_speakers: int = Field(default=1, ge=1, description="Lower bound on the number of speakers.")
    max_speakers: int = Field(default=8, ge=1, description="Upper bound on the number of speakers.")

    @model_validator(mode="after")
    def _bounds(self) -> DiarizationConfig:
        if self.min_speakers > self.max_speakers:
            raise ValueError("min_speakers must not exceed max_speakers")
        return self


class SpeakersConfig(_Section):
    """Naming speakers."""

    hosts: list[str] = Field(
        default_factory=list, description="Names of the show's hosts, given to the LLM as a hint."
    )
    voice_library: str | None = Field(
        default=None,
        description="Directory of known voiceprints reused across episodes (unset: none).",
    )
    voice_threshold: float = Field(
        default=0.93,
        ge=0.0,
        le=1.0,
        description=(
            "Minimum cosine similarity for a diarized speaker to take a voiceprint's name "
            "(see the README's voice threshold section for what was measured)."
        ),
    )
    voice_override_margin: float = Field(
        default=0.04,
        ge=0.0,
        le=1.0,
        description=(
            "A voice match beats a self-introduction or a configured host only when its "
            "similarity is at least voice_threshold plus this margin."
        ),
    )

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value]
        if any(not n for n in names):
            raise ValueError("host names must not be empty")
        return names


class RuleConfig(_Section):
    """One replacement rule; rules apply in file order."""

    find: str = Field(
        min_length=1, description="Text (case-sensitive) or regular expression to find."
    )
    replace: str = Field(
        default="", description="Replacement; with regex = true, \\1 or \\g<name> refer to groups."
    )
    regex: bool = Field(default=False, description="Treat find as a Python regular expression.")

    @model_validator(mode="after")
    def _compiles(self) -> RuleConfig:
        if self.regex:
            try:
                re.compile(self.find)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.find!r}: {exc}") from exc
        return self


class RefineConfig(_Section):
    """LLM refinement of the transcript text and speaker naming."""

    provider: ProviderName = Field(
        default="none",
        description='"none" (skip the step), "openai" (any OpenAI-compatible server) or "bedrock".',
    )
    base_url: str = Field(
        default="https://api.openai.com/v1",
        min_length=1,
        description="OpenAI-compatible API root; /chat/completions is appended. Ollama: http://127.0.0.1:11434/v1.",
    )
    model: str | None = Field(
        default=None,
        description="Model name (OpenAI) or model id (Bedrock); required unless provider is none.",
    )
    api_key_env: str | None = Field(
        default="OPENAI_API_KEY",
        description="Name of the environment variable holding the API key; unset or empty variable: no key sent.",
    )
    region: str | None = Field(
        default=None, description="AWS region for Bedrock (unset: the AWS default)."
    )
    chunk_segments: int = Field(
        default=40, ge=1, description="Segments per LLM call (one durable step each)."
    )
    context_segments: int = Field(
        default=3, ge=0, description="Preceding segments shown to the model as read-only context."
    )
    context: str = Field(
        default="",
        description="Free text for the model: the show, hosts, guests, terms that are often misheard.",
    )
    max_word_change_ratio: float = Field(
        default=0.4,
        ge=0.0,
        le=1.0,
        description="Reject a suggestion changing more than this share of words.",
    )
    max_char_distance: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Reject a suggestion whose normalised character edit distance exceeds this.",
    )
    max_consecutive_changes: int = Field(
        default=3,
        ge=1,
        description="Reject a suggestion that changes more than this many words in a row.",
    )
    min_words_for_ratio: int = Field(
        default=5,
        ge=1,
        description="The two ratio checks apply to segments with at least this many words.",
    )
    timeout: float = Field(default=120.0, gt=0, description="Seconds to wait for one LLM response.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    max_tokens: int = Field(
        default=4096, ge=1, description="Upper bound on the tokens of one response."
    )
    max_retries: int = Field(
        default=3, ge=0, description="Retries of a request after HTTP 429/5xx or a network error."
    )

    @model_validator(mode="after")
    def _model_required(self) -> RefineConfig:
        if self.provider != "none" and not (self.model and self.model.strip()):
            raise ValueError(f"model is required when provider is {self.provider!r}")
        return self


class ReviewConfig(_Section):
    """Optional human review before captions are written."""

    enabled: bool = Field(
        default=False, description="Pause for a human to approve or edit the transcript."
    )
    timeout_hours: float = Field(default=24.0, gt=0, description="How long to wait for the review.")


class NormalizeConfig(_Section):
    """Re-splitting segments into caption-sized pieces."""

    max_chars: int = Field(default=48, ge=1, description="Most characters in one caption segment.")
    max_words: int = Field(default=10, ge=1, description="Most words in one caption segment.")
    soft_split_ratio: float = Field(
        default=0.7,
        gt=0.0,
        le=1.0,
        description="Split after . , ? ! ; : once a segment reaches this share of either limit.",
    )


def _default_formats() -> list[CaptionFormat]:
    return ["vtt", "srt", "json"]


class CaptionsConfig(_Section):
    """Caption files."""

    formats: list[CaptionFormat] = Field(
        default_factory=_default_formats,
        description='Any of "vtt", "srt", "json" (simplified caption JSON), "transcript" (full transcript JSON).',
    )
    speaker_names: SpeakerNames = Field(
        default="on-change",
        description='When cues start with "Name: ": "never", "always", or "on-change" (when the speaker differs from the previous cue; "when-changes" is the same).',
    )
    highlight_words: HighlightWords | bool = Field(
        default="none",
        description='VTT/SRT word highlighting: "underline", "bold", "italic" or "none"; one cue per word with the current word marked (true: the highlight_style tag).',
    )
    highlight_style: HighlightStyle = Field(
        default="u", description='Tag used when highlight_words = true: "u", "b" or "i".'
    )

    @property
    def highlight_tag(self) -> str | None:
        """The tag marking the current word (``u``, ``b``, ``i``), or None for no highlighting."""
        if self.highlight_words is True:
            return self.highlight_style
        return {"underline": "u", "bold": "b", "italic": "i"}.get(str(self.highlight_words))

    @field_validator("formats")
    @classmethod
    def _unique(cls, value: list[CaptionFormat]) -> list[CaptionFormat]:
        return list(dict.fromkeys(value))


class NotesConfig(_Section):
    """Episode notes: summary, chapters, keywords, title ideas, social post."""

    enabled: bool = Field(default=True, description="Write chapters, show notes and the Podcasting 2.0 files.")
    llm: bool = Field(
        default=True,
        description="Use the [refine] LLM when one is configured; otherwise (or false) chapters come from lexical topic segmentation, labelled as such.",
    )
    window_minutes: float = Field(
        default=15.0, gt=0, description="Minutes of transcript per LLM call (one durable step each)."
    )
    min_chapter_seconds: float = Field(
        default=10.0, ge=1.0, description="Shortest chapter (YouTube needs 10 s)."
    )
    attempts: int = Field(
        default=2, ge=1, le=5, description="LLM calls per window before its answer is given up for the lexical chapters."
    )


class PublishConfig(_Section):
    """Where the published files will live, for the RSS snippet."""

    base_url: str = Field(
        default="",
        description="URL the output files are published under (empty: bare file names in the RSS snippet).",
    )


class NotifyConfig(_Section):
    """Events: the webhook and the local event log."""

    webhook_url: str | None = Field(
        default=None,
        description="POST a JSON event here on success, failure and a rejected review (unset: no webhook).",
    )
    secret_env: str = Field(
        default="PODSCRIBE_WEBHOOK_SECRET",
        description="Environment variable holding the HMAC-SHA256 key for the X-Podscribe-Signature header (unset variable: unsigned).",
    )
    retries: int = Field(
        default=3, ge=0, description="Retries after a failed delivery (5xx, 429 or network error)."
    )
    timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for the webhook to answer."
    )

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("webhook_url must start with http:// or https://")
        return value


class ArtifactsConfig(_Section):
    """Where large data (audio, transcripts, captions) lives; checkpoints only hold keys."""

    store: str = Field(
        default=".podscribe/artifacts",
        min_length=1,
        description="A local directory (relative to the working directory) or an fsspec URL such as s3://bucket/prefix.",
    )


class Config(_Section):
    """The whole pipeline configuration."""

    asr: AsrConfig = Field(default_factory=AsrConfig)
    diarization: DiarizationConfig = Field(default_factory=DiarizationConfig)
    speakers: SpeakersConfig = Field(default_factory=SpeakersConfig)
    rules: list[RuleConfig] = Field(
        default_factory=list,
        description="Replacement rules, as [[rules]] tables, applied in order.",
    )
    refine: RefineConfig = Field(default_factory=RefineConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    captions: CaptionsConfig = Field(default_factory=CaptionsConfig)
    notes: NotesConfig = Field(default_factory=NotesConfig)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    artifacts: ArtifactsConfig = Field(default_factory=ArtifactsConfig)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(root)"


def _errors(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        msg = str(err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        lines.append(f"{_loc(tuple(err['loc']))}: {msg}")
    return lines


def parse_config(data: Mapping[str, Any], *, source: str = "configuration") -> Config:
    """Validate an already parsed mapping (the TOML document) into a :class:`Config`."""
    try:
        return Config.model_validate(dict(data))
    except ValidationError as exc:
        errors = _errors(exc)
        raise ConfigError(f"invalid {source}:\n  " + "\n  ".join(errors), errors) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a TOML file; ``None`` gives the defaults.

    Raises :class:`ConfigError` when the file is missing, is not TOML, or does
    not validate; the message lists every bad option by its dotted path.
    """
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {p}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    return parse_config(data, source=str(p))


def _toml_value(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def _default(info: Any) -> Any:
    if info.default_factory is not None:
        return info.default_factory()
    return info.default


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(json.dumps(a) for a in get_args(annotation))
    if origin is list:
        (inner,) = get_args(annotation)
        return f"list of {_type_name(inner)}"
    if origin in (Union, UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    if annotation is type(None):
        return "unset"
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def option_rows() -> list[tuple[str, str, str, str]]:
    """``(option, type, default, description)`` for every option, in file order."""
    rows: list[tuple[str, str, str, str]] = []
    for section, info in Config.model_fields.items():
        if section == "rules":
            for name, rinfo in RuleConfig.model_fields.items():
                default = "(required)" if rinfo.is_required() else _toml_value(_default(rinfo))
                rows.append(
                    (
                        f"[[rules]] {name}",
                        _type_name(rinfo.annotation),
                        default,
                        rinfo.description or "",
                    )
                )
            continue
        model = info.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for name, finfo in model.model_fields.items():
            rows.append(
                (
                    f"{section}.{name}",
                    _type_name(finfo.annotation),
                    _toml_value(_default(finfo)),
                    finfo.description or "",
                )
            )
    return rows


def options_table() -> str:
    """A markdown table of every option with its type, default and meaning."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| Option | Type | Default | Description |", "|---|---|---|---|"]
    for option, type_, default, description in option_rows():
        lines.append(f"| `{option}` | {type_} | `{cell(default)}` | {cell(description)} |")
    return "\n".join(lines) + "\n"
