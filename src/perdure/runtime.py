"""The runtime: the scheduler and the worker-process supervisor, in one loop.

One thread waits on everything that can make work due: worker messages, worker
deaths, pokes from the API (a callback arrived, an execution started) and the next
timer. When woken it fires due timers, hands ready executions to worker processes
and records invocations whose process died. Nothing here is only in memory that a
restart would need: timers and pending invocations live in the store, and a restart
finds them there.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from perdure.engine import Engine, Invocation, now_ms
from perdure.functions import FunctionSpec
from perdure.store import open_store
from perdure.store.base import ExecutionRow
from perdure.worker import worker_main

log = logging.getLogger("perdure.runtime")

# How much longer than its function's Timeout an invocation may hold a process
# before the process is recycled (its invocation is already recorded as timed out).
KILL_GRACE_MS = 2000
RETENTION_SWEEP_S = 60.0
MAINTENANCE_INTERVAL_S = 1.0


@dataclass
class _Process:
    proc: BaseProcess
    conn: Connection
    function: str | None = None
    inflight: dict[str, tuple[str, int]] = field(default_factory=dict)  # invocation -> (arn, deadline)
    draining: bool = False


class Runtime:
    """Runs durable functions from a store, with a pool of worker processes.

    ``functions`` limits which functions this runtime invokes (all it knows by
    default), so one machine can host a subset.
    """

    def __init__(
        self,
        db_url: str,
        functions: dict[str, FunctionSpec],
        *,
        processes: int = 2,
        threads: int = 8,
        hosted: Sequence[str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.store = open_store(db_url)
        self.engine = Engine(self.store, functions)
        self.max_processes = max(1, processes)
        self.threads = max(1, threads)
        self.hosted = list(hosted) if hosted is not None else None
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._procs: list[_Process] = []
        self._ctx = multiprocessing.get_context("spawn")
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._wake_lock = threading.Lock()
        self._waiters: dict[str, list[threading.Event]] = {}
        self._waiters_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_sweep = 0.0
        self.engine.add_listener(self._on_engine_event)

    # -- public API ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        recovered = self.engine.recover_orphans(self._owner_is_dead)
        if recovered:
            log.warning("re-running %d invocation(s) whose process on this machine had died", recovered)
        for _ in range(self.max_processes):
            self._spawn()
        self._thread = threading.Thread(target=self._loop, name="perdure-runtime", daemon=True)
        self._thread.start()
        threading.Thread(target=self._maintain, name="perdure-maintenance", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self.poke()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for p in self._procs:
            try:
                p.conn.send(("stop",))
            except OSError:
                pass
        for p in self._procs:
            p.proc.join(timeout=2)
            if p.proc.is_alive():
                p.proc.kill()
                p.proc.join(timeout=2)
        self._procs.clear()
        self.store.close()

    def __enter__(self) -> Runtime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def invoke(self, function_name: str, payload: str | None = None, *, name: str | None = None) -> str:
        """Start an execution (idempotent by ``name``); returns its ARN."""
        row, _ = self.engine.start_execution(function_name, payload, name)
        return row.arn

    def wait(self, arn: str, timeout: float | None = None) -> ExecutionRow:
        """Block until the execution is closed (or ``timeout`` seconds pass)."""
        event = threading.Event()
        with self._waiters_lock:
            self._waiters.setdefault(arn, []).append(event)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                row = self.engine.get_execution(arn)
                if row.status != "RUNNING":
                    return row
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return row
                # Closing is announced; the short re-check covers executions closed elsewhere.
                event.wait(1.0 if remaining is None else min(1.0, remaining))
                event.clear()
        finally:
            with self._waiters_lock:
                events = self._waiters.get(arn, [])
                if event in events:
                    events.remove(event)
                if not events:
                    self._waiters.pop(arn, None)

    def poke(self) -> None:
        """Wake the loop (thread-safe)."""
        with self._wake_lock:
            try:
                self._wake_w.send_bytes(b".")
            except OSError:
                pass

    # -- internals -----------------------------------------------------------------

    def _owner_is_dead(self, owner: str) -> bool:
        """Whether ``owner`` (host:pid:nonce) was a process of this machine that is gone."""
        host, _, rest = owner.partition(":")
        pid_text = rest.split(":", 1)[0]
        if host != os.uname().nodename or not pid_text.isdigit() or owner == self.owner:
            return False
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _on_engine_event(self, kind: str, arn: str) -> None:
        if kind == "closed":
            self._release_waiters(arn)
        self.poke()

    def _release_waiters(self, arn: str) -> None:
        with self._waiters_lock:
            for event in self._waiters.get(arn, []):
                event.set()

    def _spawn(self) -> _Process:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=worker_main, args=(child, self.db_url, self.threads, self.engine.functions),
            name="perdure-worker", daemon=True,
        )
        proc.start()
        child.close()
        entry = _Process(proc=proc, conn=parent)
        self._procs.append(entry)
        return entry

    def _maintain(self) -> None:
        while not self._stopping.wait(MAINTENANCE_INTERVAL_S):
            try:
                self.store.maintain()
            except Exception:
                log.exception("store maintenance failed")

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                timeout = self._tick()
            except Exception:
                log.exception("runtime tick failed; retrying in 1 s")
                timeout = 1.0
            self._wait(timeout)

    def _wait(self, timeout: float | None) -> None:
        waitables: list[Any] = [self._wake_r]
        for p in self._procs:
            waitables.append(p.conn)
            waitables.append(p.proc.sentinel)
        ready = wait(waitables, timeout)
        for obj in ready:
            if obj is self._wake_r:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
                continue
            for p in list(self._procs):
                if obj is p.conn:
                    self._drain_messages(p)
                elif obj == p.proc.sentinel:
                    self._reap(p)

    def _drain_messages(self, p: _Process) -> None:
        try:
            while p.conn.poll():
                message = p.conn.recv()
                if message[0] == "done":
                    p.inflight.pop(message[1], None)
                elif message[0] == "event" and message[1] == "closed":
                    self._release_waiters(message[2])
        except (EOFError, OSError):
            self._reap(p)

    def _reap(self, p: _Process) -> None:
        """A worker process exited: every invocation it held died with it."""
        if p not in self._procs:
            return
        self._procs.remove(p)
        p.proc.join(timeout=1)
        code = p.proc.exitcode
        for invocation_id, (arn, _) in p.inflight.items():
            message = f"RequestId: {invocation_id} Error: Runtime exited with error: exit status {code}"
            try:
                self.engine.fail_invocation(arn, invocation_id, {"ErrorType": "Runtime.ExitError", "ErrorMessage": message})
            except Exception:
                log.exception("could not record the crash of invocation %s", invocation_id)
        p.conn.close()
        if not self._stopping.is_set():
            self._spawn()

    def _tick(self) -> float | None:
        now = time.monotonic()
        while self.engine.fire_due() > 0:
            pass
        self._recycle_stuck()
        self._dispatch()
        if now - self._last_sweep > RETENTION_SWEEP_S:
            self._last_sweep = now
            self.engine.delete_expired()
        wakeup = self.engine.next_wakeup_ms(self.hosted)
        if wakeup is None:
            return RETENTION_SWEEP_S
        delay = max(0.0, (wakeup - now_ms()) / 1000)
        if delay == 0.0 and self._free_slots() == 0:
            return RETENTION_SWEEP_S  # ready work waits for a worker message
        return min(delay, RETENTION_SWEEP_S)

    def _free_slots(self) -> int:
        return sum(self.threads - len(p.inflight) for p in self._procs if not p.draining)

    def _recycle_stuck(self) -> None:
        now = now_ms()
        for p in list(self._procs):
            stuck = [i for i, (_, deadline) in p.inflight.items() if deadline + KILL_GRACE_MS < now]
            if stuck:
                p.draining = True
            if p.draining and len(stuck) == len(p.inflight):
                log.warning("recycling a worker process stuck in %d timed-out invocation(s)", len(stuck))
                p.proc.kill()

    def _dispatch(self) -> None:
        """Claim ready executions for the functions that have room, and send them out."""
        while True:
            free = self._free_slots()
            if free == 0:
                return
            hosted = self.hosted if self.hosted is not None else self.engine.functions
            claimed = 0
            for function in self.engine.ready_functions():
                if function not in hosted:
                    continue
                room = self._room_for(function)
                if room == 0:
                    continue
                for invocation in self.engine.claim([function], room, self.owner):
                    self._send(invocation)
                    claimed += 1
            if claimed == 0:
                return

    def _room_for(self, function: str) -> int:
        bound = sum(self.threads - len(p.inflight) for p in self._procs if p.function == function and not p.draining)
        idle = sum(self.threads for p in self._procs if not p.inflight and p.function != function and not p.draining)
        return bound + idle

    def _send(self, invocation: Invocation) -> None:
        spec = self.engine.functions[invocation.function_name]
        candidates = [p for p in self._procs if not p.draining and p.function == spec.name and len(p.inflight) < self.threads]
        if not candidates:
            candidates = [p for p in self._procs if not p.draining and not p.inflight]
        target = min(candidates, key=lambda p: len(p.inflight))
        target.function = spec.name
        target.inflight[invocation.invocation_id] = (invocation.arn, invocation.deadline_ms)
        try:
            target.conn.send(("run", invocation, spec))
        except OSError:
            self._reap(target)
