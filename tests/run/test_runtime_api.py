"""The Runtime API server a runtime process talks to: its answers reach the process at
once, and closing it costs the worker process nothing."""

from __future__ import annotations

import socket
import time

from perdure.run.runtimes.runtime_api import DurableCalls, RuntimeApi

DELAYED_ACK_S = 0.04  # Linux's delayed ACK: what a reply held back by Nagle waits for


def _unused(*_: object) -> dict[str, object]:
    raise AssertionError("no durable call is made for an execution the process does not run")


def _api() -> RuntimeApi:
    return RuntimeApi(DurableCalls(_unused, _unused))


def test_replies_on_a_kept_alive_connection_are_not_held_back() -> None:
    # The durable SDK keeps one connection and waits for each checkpoint's reply before
    # its next step: a reply whose body waited for the client's delayed ACK would cost
    # every step about 40 ms.
    api = _api()
    host, port = api.address.split(":")
    body = b'{"CheckpointToken": "t", "Updates": []}'
    request = (
        "POST /2025-12-01/durable-executions/arn%3Aother/checkpoint HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    rounds = 20
    try:
        with socket.create_connection((host, int(port))) as conn, conn.makefile("rb") as replies:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.perf_counter()
            for _ in range(rounds):
                conn.sendall(request)
                assert replies.readline().startswith(b"HTTP/1.1 403")
                length = 0
                while (header := replies.readline()) not in (b"\r\n", b""):
                    if header.lower().startswith(b"content-length:"):
                        length = int(header.split(b":")[1])
                replies.read(length)
            elapsed = time.perf_counter() - started
    finally:
        api.close()
    assert elapsed < rounds * DELAYED_ACK_S / 2, f"{rounds} round trips took {elapsed:.3f} s"


def test_close_returns_at_once_and_the_port_closes_soon_after() -> None:
    api = _api()
    host, port = api.address.split(":")
    time.sleep(0.05)  # the server's loop is inside its half-second poll
    started = time.perf_counter()
    api.close()
    assert time.perf_counter() - started < 0.1
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            break
        assert time.monotonic() < deadline, "the Runtime API still accepts connections after close"
        time.sleep(0.05)
