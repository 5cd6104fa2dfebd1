"""HTTP connections that slow or stalled clients cannot hold open.

uvicorn's h11 protocol times out only the idle time between requests. A client that
connects and sends nothing, sends half a request head, or announces a body it never
sends would hold a connection (and, many times over, the server) indefinitely. Here a
request's line and headers must arrive within ``HEAD_TIMEOUT_S`` of its first byte (or
of the connection opening), and its body may pause at most ``BODY_IDLE_S``; past
either, the connection is closed (the application sees a disconnect). Request heads
are limited to ``MAX_HEAD_BYTES``: a larger one gets 431 and a close.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0
BODY_IDLE_S = 30.0
MAX_HEAD_BYTES = 16 * 1024


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for request heads and bodies."""

    head_timeout_s = HEAD_TIMEOUT_S
    body_idle_s = BODY_IDLE_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # of the request head being received
        self._head_tail = b""  # its last bytes, to find a terminator split across reads

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()  # a new connection owes its first request head at once

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            # h11 limits only a head that is still incomplete; count the whole head.
            end = (self._head_tail + data).find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end - len(self._head_tail)
            self._head_tail = data[-3:]
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_head()
                return
            if end >= 0:
                self._head_bytes, self._head_tail = 0, b""
        super().data_received(data)  # also cancels uvicorn's keep-alive timer
        self._watch()

    def _refuse_head(self) -> None:
        body = b'{"Type": "User", "message": "Request line and headers must be at most %d bytes"}' % MAX_HEAD_BYTES
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"x-amzn-errortype: RequestHeaderFieldsTooLarge\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        self._cancel()
        self.transport.close()

    def on_response_complete(self) -> None:
        # Between requests uvicorn's keep-alive timer runs; the next head gets its own
        # deadline from its first byte.
        self._cancel()
        self._head_deadline = None
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the timer for what the client owes now: the rest of a head, or more body."""
        self._cancel()
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            if self._head_deadline is None:
                self._head_deadline = self.loop.time() + self.head_timeout_s
            self._timer = self.loop.call_at(self._head_deadline, self._expire)
        elif state is h11.SEND_BODY:
            self._head_deadline = None
            self._timer = self.loop.call_later(self.body_idle_s, self._expire)
        else:
            self._head_deadline = None

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose client stalled")
            self.transport.close()
