"""A real local HTTP server speaking the OpenAI chat-completions protocol, for tests.

It listens on 127.0.0.1 at a random port in a background thread, answers each
``POST /v1/chat/completions`` with the next scripted response, and records
every request::

    with ScriptedLLMServer(['{"speakers": {}, "updates": []}']) as server:
        provider = OpenAICompatible(server.base_url, "test-model")
        ...
        server.requests[0].body["messages"]

A scripted response is one of:

* ``str``: the assistant message content of a 200 answer;
* ``Reply(status, body, headers)``: a raw HTTP answer (for errors);
* a callable ``(request) -> str | Reply``, for answers that depend on the
  prompt.

When the script runs out, the server answers HTTP 500 "script exhausted".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int
    body: str | dict[str, Any] = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def user_prompt(self) -> str:
        return "\n".join(
            m["content"] for m in self.body.get("messages", []) if m.get("role") == "user"
        )


Script = str | Reply | Callable[[RecordedRequest], "str | Reply"]


def completion(content: str, model: str = "test-model") -> dict[str, Any]:
    """An OpenAI chat-completion response body."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


class ScriptedLLMServer:
    def __init__(self, script: Iterable[Script] = ()) -> None:
        self.script: list[Script] = list(script)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                req = RecordedRequest("POST", self.path, dict(self.headers.items()), body)
                reply = server._next(req)
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode("utf-8")
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def _next(self, req: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(req)
            if req.path.rstrip("/") != "/v1/chat/completions":
                return Reply(404, {"error": {"message": f"no route {req.path}"}})
            if not self.script:
                return Reply(500, {"error": {"message": "script exhausted"}})
            item = self.script.pop(0)
        if callable(item):
            item = item(req)
        if isinstance(item, str):
            model = req.body.get("model", "test-model") if isinstance(req.body, dict) else ""
            return Reply(200, completion(item, model))
        return item

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
