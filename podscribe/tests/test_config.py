from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from podscribe.config import (
    Config,
    ConfigError,
    load_config,
    option_rows,
    options_table,
    parse_config,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "podscribe.toml"


def test_defaults() -> None:
    cfg = load_config(None)
    assert cfg == Config()
    assert cfg.asr.model == "tiny.en" and cfg.asr.beam_size == 5 and cfg.asr.vad
    assert cfg.asr.chunk_seconds == 300
    assert (cfg.diarization.min_speakers, cfg.diarization.max_speakers) == (1, 8)
    assert cfg.speakers.hosts == [] and cfg.speakers.voice_library is None
    assert cfg.rules == []
    r = cfg.refine
    assert r.provider == "none" and r.chunk_segments == 40 and r.temperature == 0
    assert (r.max_word_change_ratio, r.max_char_distance) == (0.4, 0.5)
    assert (r.max_consecutive_changes, r.min_words_for_ratio) == (3, 5)
    assert not cfg.review.enabled and cfg.review.timeout_hours == 24
    assert (cfg.normalize.max_chars, cfg.normalize.max_words) == (48, 10)
    assert cfg.normalize.soft_split_ratio == 0.7
    assert cfg.captions.formats == ["vtt", "srt", "json"]
    assert cfg.captions.speaker_names == "on-change"
    assert cfg.captions.highlight_words == "none" and cfg.captions.highlight_tag is None
    assert cfg.notify.webhook_url is None
    assert cfg.artifacts.store == ".podscribe/artifacts"


def test_load_full_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(
        """
[asr]
model = "/models/whisper-small-ct2"
beam_size = 2

[speakers]
hosts = ["Eoin", " Luciano "]

[[rules]]
find = "sage maker"
replace = "SageMaker"

[[rules]]
find = '\\bk8s\\b'
replace = "Kubernetes"
regex = true

[refine]
provider = "openai"
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.1"
api_key_env = "MY_KEY"

[captions]
formats = ["vtt", "transcript", "vtt"]
speaker_names = "always"
""",
        encoding="utf-8",
    )
    cfg = load_config(p)
    assert cfg.asr.model == "/models/whisper-small-ct2" and cfg.asr.beam_size == 2
    assert cfg.speakers.hosts == ["Eoin", "Luciano"]
    assert [(r.find, r.replace, r.regex) for r in cfg.rules] == [
        ("sage maker", "SageMaker", False),
        (r"\bk8s\b", "Kubernetes", True),
    ]
    assert cfg.refine.provider == "openai" and cfg.refine.model == "llama3.1"
    assert cfg.captions.formats == ["vtt", "transcript"]
    assert cfg.captions.speaker_names == "always"
    assert cfg.asr.device == "auto"  # untouched defaults stay


def test_errors_name_every_bad_field() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "refine": {"max_word_change_ratio": 1.5, "bogus": 1},
                "captions": {"speaker_names": "sometimes"},
                "rules": [{"find": "ok"}, {"find": "(", "regex": True}, {"replace": "x"}],
                "extra_section": {},
            }
        )
    errors = info.value.errors
    text = str(info.value)
    assert "refine.max_word_change_ratio: Input should be less than or equal to 1" in errors
    assert "refine.bogus: Extra inputs are not permitted" in errors
    assert any(e.startswith("captions.speaker_names: Input should be 'never'") for e in errors)
    assert any(e.startswith("rules[1]: invalid regular expression") for e in errors)
    assert "rules[2].find: Field required" in errors
    assert "extra_section: Extra inputs are not permitted" in errors
    for e in errors:
        assert e in text


def test_cross_field_checks() -> None:
    with pytest.raises(ConfigError, match="refine: model is required when provider is 'openai'"):
        parse_config({"refine": {"provider": "openai"}})
    with pytest.raises(ConfigError, match="diarization: min_speakers must not exceed max_speakers"):
        parse_config({"diarization": {"min_speakers": 4, "max_speakers": 2}})
    with pytest.raises(ConfigError, match=r"notify\.webhook_url: webhook_url must start with http"):
        parse_config({"notify": {"webhook_url": "ftp://x"}})
    with pytest.raises(ConfigError, match=r"speakers.hosts: host names must not be empty"):
        parse_config({"speakers": {"hosts": ["A", " "]}})
    with pytest.raises(ConfigError, match=r"asr.beam_size: Input should be a valid integer"):
        parse_config({"asr": {"beam_size": "five"}})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[asr\nmodel = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[normalize]\nmax_chars = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wrong\.toml") as info:
        load_config(wrong)
    assert info.value.errors == ["normalize.max_chars: Input should be greater than or equal to 1"]


def test_example_file_is_valid_and_documents_every_option() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg == Config()  # the example shows the defaults
    text = EXAMPLE.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    sections = {line.strip("[] \n") for line in text.splitlines() if re.match(r"^#? ?\[", line)}
    for option, _type, _default, _desc in option_rows():
        if option.startswith("[[rules]]"):
            assert re.search(rf"^# {option.split()[1]} =", text, re.M), option
            continue
        section, name = option.split(".")
        assert section in sections, section
        assert name in data.get(section, {}) or re.search(rf"^# {name} =", text, re.M), option


def test_options_table_lists_every_option_with_default() -> None:
    table = options_table()
    lines = table.strip().splitlines()
    assert lines[0] == "| Option | Type | Default | Description |"
    assert len(lines) == 2 + len(option_rows())
    assert '| `asr.model` | str | `"tiny.en"` |' in table
    assert '| `refine.provider` | "none" \\| "openai" \\| "bedrock" | `"none"` |' in table
    assert "| `normalize.max_chars` | int | `48` |" in table
    assert '| `captions.formats` | list of "vtt"' in table
    assert "| `notify.webhook_url` | str or unset | `(unset)` |" in table
    assert "| `[[rules]] find` | str | `(required)` |" in table
    for line in lines[2:]:
        assert len(re.findall(r"(?<!\\)\|", line)) == 5, line  # four cells
