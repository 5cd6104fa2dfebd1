"""Slow and stalled clients cannot hold ``perdure serve``'s connections: a connection
that sends no request, half a request head, or less body than it announced is closed,
an oversized head is refused, and other clients are served meanwhile."""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from perdure.http.connections import BODY_IDLE_S, HEAD_TIMEOUT_S
from tests.support import Server


def _closed_after(port: int, first: bytes, drip: bytes = b"", limit: float = 60) -> float:
    """Seconds until the server closes a connection that sent ``first`` and then
    ``drip`` one byte every second."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
        if first:
            s.sendall(first)
        s.settimeout(1.0)
        for byte in [drip[i : i + 1] for i in range(len(drip))] or [b""] * int(limit):
            try:
                if s.recv(4096) == b"":
                    return time.monotonic() - began
            except TimeoutError:
                pass
            except ConnectionResetError:
                return time.monotonic() - began
            if byte:
                try:
                    s.sendall(byte)
                except (BrokenPipeError, ConnectionResetError):
                    return time.monotonic() - began
            if time.monotonic() - began > limit:
                break
    return float("inf")


def test_stalled_clients_are_cut_off_and_others_are_served(tmp_path: Path) -> None:
    server = Server(tmp_path / "db.sqlite").start()
    try:
        head = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        body = b"POST /2015-03-31/functions/Hello/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":"
        with ThreadPoolExecutor(4) as pool:
            idle = pool.submit(_closed_after, server.port, b"")
            partial = pool.submit(_closed_after, server.port, head, b"X-Slow: " + b"a" * 60)
            short_body = pool.submit(_closed_after, server.port, body)
            time.sleep(1)
            # Meanwhile everyone else is served at once.
            for _ in range(20):
                with urllib.request.urlopen(f"{server.url}/ping", timeout=2) as r:
                    assert r.status == 200
            assert idle.result() < HEAD_TIMEOUT_S + 3
            assert partial.result() < HEAD_TIMEOUT_S + 3  # a dripping head does not extend it
            assert BODY_IDLE_S - 1 < short_body.result() < BODY_IDLE_S + 3
        # An oversized request head is refused outright.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                s.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
            try:
                answer = s.recv(4096)
            except ConnectionResetError:
                answer = b""
            assert answer == b"" or answer.startswith(b"HTTP/1.1 431")
        with urllib.request.urlopen(f"{server.url}/ping", timeout=2) as r:
            assert r.status == 200
        assert "Traceback" not in server.log()
    finally:
        server.stop()
