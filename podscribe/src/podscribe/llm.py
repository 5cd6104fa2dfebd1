"""LLM providers: one method, ``complete(messages, *, temperature, timeout) -> str``.

* :class:`OpenAICompatible` speaks the chat-completions protocol (OpenAI,
  Ollama, llama.cpp server, vLLM, LM Studio, ...) with the standard library
  only; it retries HTTP 429 and 5xx answers and network errors with
  exponential backoff (honouring ``Retry-After``).
* :class:`Bedrock` calls the Bedrock Runtime Converse API through boto3,
  imported only when the provider is used.
* :func:`provider_from_config` builds one from ``[refine]``, or returns
  ``None`` when the provider is ``"none"`` (the refinement step is skipped).
* :func:`parse_json_object` finds the JSON object asked for in a model's reply.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

if TYPE_CHECKING:
    from podscribe.config import RefineConfig

__all__ = [
    "Bedrock",
    "LLMError",
    "Message",
    "OpenAICompatible",
    "Provider",
    "parse_json_object",
    "provider_from_config",
]

log = logging.getLogger(__name__)


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class Provider(Protocol):
    def complete(
        self, messages: Sequence[Message], *, temperature: float, timeout: float
    ) -> str: ...


class LLMError(RuntimeError):
    """A request that failed for good; ``retryable`` says whether trying later may help."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class OpenAICompatible:
    """Chat completions over HTTP: ``POST {base_url}/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_tokens: int | None = None,
        extra_body: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_tokens = max_tokens
        self.extra_body = dict(extra_body or {})
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the key
        return f"OpenAICompatible(url={self.url!r}, model={self.model!r})"

    def _request(self, body: bytes, timeout: float) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode("utf-8", "replace").strip()
            status = exc.code
            retryable = status == 429 or status >= 500
            raise LLMError(
                f"LLM request to {self.url} failed: HTTP {status} {exc.reason}"
                + (f": {detail}" if detail else ""),
                status=status,
                retryable=retryable,
                retry_after=_retry_after(exc.headers.get("Retry-After") if exc.headers else None),
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LLMError(f"LLM request to {self.url} failed: {reason}", retryable=True) from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise LLMError(
                f"LLM response from {self.url} is not JSON: {raw[:200]!r}", retryable=True
            ) from None
        if not isinstance(data, dict):
            raise LLMError(f"LLM response from {self.url} is not a JSON object")
        return data

    def complete(self, messages: Sequence[Message], *, temperature: float, timeout: float) -> str:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": temperature,
            **self.extra_body,
        }
        if self.max_tokens is not None:
            payload["max_tokens"] = self.max_tokens
        body = json.dumps(payload).encode("utf-8")
        attempt = 0
        while True:
            try:
                data = self._request(body, timeout)
                return _content(data, self.url)
            except LLMError as exc:
                if not exc.retryable or attempt >= self.max_retries:
                    if attempt:
                        raise LLMError(
                            f"{exc} (after {attempt + 1} attempts)",
                            status=exc.status,
                            retryable=exc.retryable,
                        ) from None
                    raise
                delay = exc.retry_after
                if delay is None:
                    delay = min(self.max_backoff, self.backoff * 2**attempt)
                    delay *= 0.5 + random.random() / 2
                delay = min(delay, self.max_backoff)
                log.warning("%s; retrying in %.2fs", exc, delay)
                self._sleep(delay)
                attempt += 1


def _content(data: dict[str, Any], url: str) -> str:
    if "error" in data and not data.get("choices"):
        raise LLMError(f"LLM at {url} returned an error: {json.dumps(data['error'])[:300]}")
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMError(
            f"LLM response from {url} has no choices[0].message.content: {json.dumps(data)[:300]}"
        ) from None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise LLMError(f"LLM response from {url} has non-text content")
    return content


class Bedrock:
    """Amazon Bedrock Runtime ``converse``; boto3 is imported on first use."""

    def __init__(
        self,
        model_id: str,
        *,
        region: str | None = None,
        max_tokens: int | None = None,
        max_retries: int = 3,
        client: Any = None,
    ) -> None:
        self.model_id = model_id
        self.region = region
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self._client = client
        self._clients: dict[float, Any] = {}

    def __repr__(self) -> str:
        return f"Bedrock(model_id={self.model_id!r}, region={self.region!r})"

    def _get_client(self, timeout: float) -> Any:
        if self._client is not None:
            return self._client
        if timeout not in self._clients:
            try:
                import boto3
                from botocore.config import Config as BotoConfig
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise LLMError(
                    "the bedrock provider needs boto3: pip install 'podscribe[bedrock]'"
                ) from exc
            cfg = BotoConfig(
                read_timeout=timeout,
                connect_timeout=min(timeout, 10.0),
                retries={"max_attempts": self.max_retries + 1, "mode": "adaptive"},
            )
            self._clients[timeout] = boto3.client(
                "bedrock-runtime", region_name=self.region, config=cfg
            )
        return self._clients[timeout]

    def complete(self, messages: Sequence[Message], *, temperature: float, timeout: float) -> str:
        system = [{"text": m["content"]} for m in messages if m["role"] == "system"]
        convo = [
            {"role": m["role"], "content": [{"text": m["content"]}]}
            for m in messages
            if m["role"] != "system"
        ]
        inference: dict[str, Any] = {"temperature": temperature}
        if self.max_tokens is not None:
            inference["maxTokens"] = self.max_tokens
        kwargs: dict[str, Any] = {
            "modelId": self.model_id,
            "messages": convo,
            "inferenceConfig": inference,
        }
        if system:
            kwargs["system"] = system
        client = self._get_client(timeout)
        try:
            resp = client.converse(**kwargs)
        except Exception as exc:
            code = None
            response = getattr(exc, "response", None)
            if isinstance(response, dict):
                code = response.get("Error", {}).get("Code")
            retryable = (
                code
                in {
                    "ThrottlingException",
                    "ServiceUnavailableException",
                    "InternalServerException",
                    "ModelTimeoutException",
                }
                or code is None
            )
            raise LLMError(
                f"Bedrock converse with {self.model_id} failed: {exc}", retryable=retryable
            ) from exc
        try:
            parts = resp["output"]["message"]["content"]
        except (KeyError, TypeError):
            raise LLMError(
                f"Bedrock response has no output.message.content: {resp!r:.300}"
            ) from None
        return "".join(p.get("text", "") for p in parts if isinstance(p, dict))


def provider_from_config(
    cfg: RefineConfig, *, env: dict[str, str] | None = None
) -> Provider | None:
    """The provider named by ``[refine]``, or ``None`` when it is ``"none"``."""
    if cfg.provider == "none":
        return None
    if not cfg.model:
        raise LLMError(f"refine.model is required for provider {cfg.provider!r}")
    if cfg.provider == "bedrock":
        return Bedrock(
            cfg.model, region=cfg.region, max_tokens=cfg.max_tokens, max_retries=cfg.max_retries
        )
    environ = os.environ if env is None else env
    key = environ.get(cfg.api_key_env) if cfg.api_key_env else None
    return OpenAICompatible(
        cfg.base_url,
        cfg.model,
        api_key=key or None,
        max_retries=cfg.max_retries,
        max_tokens=cfg.max_tokens,
    )


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def parse_json_object(text: str, keys: Collection[str], *, wanted: str | None = None) -> dict[str, Any]:
    """The first JSON object in a model's reply that has one of ``keys``: inside code
    fences first, then anywhere in the text, prose around it ignored. ``ValueError``
    when there is none, saying what was ``wanted`` (default: the keys)."""
    decoder = json.JSONDecoder()
    for cand in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        pos = cand.find("{")
        while pos != -1:
            try:
                obj, _ = decoder.raw_decode(cand, pos)
            except ValueError:
                pos = cand.find("{", pos + 1)
                continue
            if isinstance(obj, dict) and any(k in obj for k in keys):
                return obj
            pos = cand.find("{", pos + 1)
    what = wanted or " or ".join(repr(k) for k in keys)
    raise ValueError(f"no JSON object with {what} in the reply: {' '.join(text.split())[:120]!r}")
