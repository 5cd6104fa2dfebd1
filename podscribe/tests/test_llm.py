"""LLM providers against a real local HTTP server (and a stub Bedrock client)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from llm_server import RecordedRequest, Reply, Script, ScriptedLLMServer

from podscribe.config import RefineConfig
from podscribe.llm import (
    Bedrock,
    LLMError,
    Message,
    OpenAICompatible,
    parse_json_object,
    provider_from_config,
)

MESSAGES: list[Message] = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello"},
]


def fast(server: ScriptedLLMServer, **kw: Any) -> tuple[OpenAICompatible, list[float]]:
    sleeps: list[float] = []
    kw.setdefault("max_retries", 3)
    return OpenAICompatible(server.base_url, "test-model", sleep=sleeps.append, **kw), sleeps


def test_request_shape_and_answer() -> None:
    with ScriptedLLMServer(["hi there"]) as server:
        provider, _ = fast(server, api_key="sk-test", max_tokens=100)
        assert provider.complete(MESSAGES, temperature=0.0, timeout=5) == "hi there"
    (req,) = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["Authorization"] == "Bearer sk-test"
    assert req.headers["Content-Type"] == "application/json"
    assert req.body == {
        "model": "test-model",
        "messages": MESSAGES,
        "temperature": 0.0,
        "max_tokens": 100,
    }


def test_retries_500_then_succeeds() -> None:
    script: list[Script] = [
        Reply(500, {"error": {"message": "overloaded"}}),
        Reply(503, "busy"),
        "ok",
    ]
    with ScriptedLLMServer(script) as server:
        provider, sleeps = fast(server, backoff=0.5)
        assert provider.complete(MESSAGES, temperature=0, timeout=5) == "ok"
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # exponential, jittered


def test_429_honours_retry_after() -> None:
    script: list[Script] = [Reply(429, "slow down", {"Retry-After": "2"}), "ok"]
    with ScriptedLLMServer(script) as server:
        provider, sleeps = fast(server)
        assert provider.complete(MESSAGES, temperature=0, timeout=5) == "ok"
    assert sleeps == [2.0]


def test_gives_up_after_max_retries_with_clear_error() -> None:
    with ScriptedLLMServer([Reply(502, "bad gateway")] * 3) as server:
        provider, sleeps = fast(server, max_retries=2)
        with pytest.raises(LLMError) as info:
            provider.complete(MESSAGES, temperature=0, timeout=5)
    msg = str(info.value)
    assert f"{server.base_url}/chat/completions" in msg
    assert "HTTP 502" in msg and "bad gateway" in msg and "after 3 attempts" in msg
    assert info.value.status == 502 and info.value.retryable
    assert len(sleeps) == 2


def test_client_errors_are_not_retried_and_key_not_leaked() -> None:
    body = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
    with ScriptedLLMServer([Reply(401, body), "never"]) as server:
        provider, sleeps = fast(server, api_key="sk-secret-123")
        with pytest.raises(LLMError) as info:
            provider.complete(MESSAGES, temperature=0, timeout=5)
    assert len(server.requests) == 1 and sleeps == []
    assert "HTTP 401" in str(info.value) and "Incorrect API key" in str(info.value)
    assert "sk-secret-123" not in str(info.value) and "sk-secret" not in repr(provider)
    assert not info.value.retryable


def test_malformed_answers() -> None:
    script = [
        Reply(200, {"choices": []}),
        Reply(200, {"error": {"message": "model not found"}}),
        Reply(200, "not json"),
    ]
    with ScriptedLLMServer(script) as server:
        provider, _ = fast(server, max_retries=0)
        with pytest.raises(LLMError, match=r"no choices\[0\]\.message\.content"):
            provider.complete(MESSAGES, temperature=0, timeout=5)
        with pytest.raises(LLMError, match=r"returned an error.*model not found"):
            provider.complete(MESSAGES, temperature=0, timeout=5)
        with pytest.raises(LLMError, match="is not JSON"):
            provider.complete(MESSAGES, temperature=0, timeout=5)


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    provider = OpenAICompatible(
        f"http://127.0.0.1:{port}/v1", "m", max_retries=1, sleep=sleeps.append
    )
    with pytest.raises(LLMError, match="failed") as info:
        provider.complete(MESSAGES, temperature=0, timeout=2)
    assert info.value.retryable and len(sleeps) == 1


def test_scripted_callable_sees_the_request() -> None:
    def answer(req: RecordedRequest) -> str:
        return req.user_prompt.upper()

    with ScriptedLLMServer([answer]) as server:
        provider, _ = fast(server)
        assert provider.complete(MESSAGES, temperature=0.3, timeout=5) == "HELLO"
    assert server.requests[0].body["temperature"] == 0.3


def test_provider_from_config() -> None:
    assert provider_from_config(RefineConfig()) is None
    cfg = RefineConfig(provider="openai", model="m", base_url="http://h:1/v1/", api_key_env="K")
    p = provider_from_config(cfg, env={"K": "secret"})
    assert isinstance(p, OpenAICompatible)
    assert p.url == "http://h:1/v1/chat/completions" and p.model == "m"
    assert p._api_key == "secret"
    no_key = provider_from_config(cfg, env={})
    assert isinstance(no_key, OpenAICompatible) and no_key._api_key is None
    b = provider_from_config(
        RefineConfig(provider="bedrock", model="anthropic.claude", region="eu-west-1")
    )
    assert isinstance(b, Bedrock) and b.model_id == "anthropic.claude" and b.region == "eu-west-1"


class FakeBedrock:
    def __init__(self, responses: list[Any]) -> None:
        self.responses = responses
        self.calls: list[dict[str, Any]] = []

    def converse(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        r = self.responses.pop(0)
        if isinstance(r, Exception):
            raise r
        return r


class FakeClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code, "Message": "nope"}}


def test_bedrock_converse() -> None:
    client = FakeBedrock(
        [{"output": {"message": {"role": "assistant", "content": [{"text": "a"}, {"text": "b"}]}}}]
    )
    provider = Bedrock("model-x", max_tokens=50, client=client)
    assert provider.complete(MESSAGES, temperature=0.2, timeout=3) == "ab"
    (call,) = client.calls
    assert call == {
        "modelId": "model-x",
        "system": [{"text": "be brief"}],
        "messages": [{"role": "user", "content": [{"text": "hello"}]}],
        "inferenceConfig": {"temperature": 0.2, "maxTokens": 50},
    }


def test_bedrock_errors() -> None:
    client = FakeBedrock(
        [FakeClientError("ThrottlingException"), FakeClientError("AccessDeniedException"), {}]
    )
    provider = Bedrock("model-x", client=client)
    with pytest.raises(LLMError, match="Bedrock converse with model-x failed") as info:
        provider.complete(MESSAGES, temperature=0, timeout=3)
    assert info.value.retryable
    with pytest.raises(LLMError) as info:
        provider.complete(MESSAGES, temperature=0, timeout=3)
    assert not info.value.retryable
    with pytest.raises(LLMError, match=r"no output\.message\.content"):
        provider.complete(MESSAGES, temperature=0, timeout=3)


def test_parse_json_object_finds_the_object_asked_for() -> None:
    fenced = 'Here you go:\n```json\n{"chapters": [1]}\n```\nand {"chapters": [2]}'
    assert parse_json_object(fenced, ("chapters",)) == {"chapters": [1]}
    prose = 'noise {"x": 1} {broken then {"summary": "s", "keywords": []} end'
    assert parse_json_object(prose, ("chapters", "summary")) == {"summary": "s", "keywords": []}
    with pytest.raises(ValueError, match=r"no JSON object with 'chapters' in the reply: 'a \{\"x\": 1\}'"):
        parse_json_object('a  {"x": 1}', ("chapters",))
    with pytest.raises(ValueError, match="no JSON object with updates or speakers in the reply"):
        parse_json_object("[]", ("updates", "speakers"), wanted="updates or speakers")
