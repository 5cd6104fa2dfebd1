"""The runtime: the scheduler and the worker-process supervisor, in one loop.

One thread waits on everything that can make work due: worker messages, worker
deaths, pokes from the API (a callback arrived, an execution started) and the next
timer. When woken it fires due timers, hands ready executions to worker processes
and records invocations whose process died. Nothing here is only in memory that a
restart would need: timers and pending invocations live in the store, and a restart
finds them there.

Several runtimes may share one database (PostgreSQL): ``perdure serve`` and any
number of ``perdure worker`` processes. Each claims only the functions it hosts,
renews a lease on the invocations it runs (a runtime that dies loses them to the
others when the lease runs out), and hears through the store's notifications when
another process made work ready or closed an execution; it polls only as a fallback.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from perdure.clock import SYSTEM_CLOCK, Clock
from perdure.core import Engine, Invocation
from perdure.deploy import FunctionSpec, VersionKeeper
from perdure.logs import recover_orphan_spools, recover_worker_logs
from perdure.run.worker import worker_main
from perdure.store import ExecutionRow, open_store

log = logging.getLogger("perdure.runtime")

# How much longer than its function's Timeout an invocation may hold a process
# before the process is recycled (its invocation is already recorded as timed out).
KILL_GRACE_MS = 2000
RETENTION_SWEEP_S = 60.0  # how often to look for expired executions when none are left
RETENTION_BATCH = 500  # executions deleted per transaction
RETENTION_PAUSE_S = 0.1  # between batches of a backlog, so other transactions get in
MAINTENANCE_INTERVAL_S = 1.0
LEASE_S = 30.0  # a runtime renews its invocations' leases every third of this
POLL_S = 5.0  # fallback polling while notifications arrive from other processes
LOST_POLL_S = 0.5  # polling while they do not (the store's LISTEN connection is down)
BUSY_RETRY_S = 0.05  # work is due but another process holds it: look again shortly
# Invocations a worker process runs at once. Most of an invocation's time is spent
# waiting (the SDK idles about 100 ms after the handler returns), so a process needs many
# to keep a core busy; measured with bench/peers.py (docs/architecture.md, "Where the time goes").
THREADS = 32
# Worker processes. Each runs Python under its own GIL and the API server is one more
# process, so one per core plus one keeps both cores of a 2-core machine busy: 3 ran
# bench/peers.py's throughput workload about 12% faster than 2 there, 4 no faster than 3
# (interleaved runs, docs/architecture.md). Capped: each process imports the handlers.
PROCESSES = max(2, min(8, (os.cpu_count() or 1) + 1))
# Sandbox processes (Node, custom runtimes) each worker process may run at once, one
# invocation each, as Lambda runs one invocation per sandbox. Each is a runtime process
# of its own (Node: about 110 MB resident, 55 MB with shared pages split; bench/node.py),
# so this bounds memory: PROCESSES x SANDBOXES of them.
SANDBOXES = int(os.environ.get("PERDURE_SANDBOXES", "8") or 8)
EARLY_EXIT_S = 5.0  # a worker process that dies this young, idle, is replaced after a pause
# Exit status of a worker process whose start re-ran a script that starts a Runtime.
IMPORTED_MAIN_EXIT = 78
GUARD_MESSAGE = (
    "perdure: a Runtime was started while a worker process was importing your script: "
    "worker processes are started with 'spawn' and re-import the main module, so code that "
    "starts a Runtime must run only in the main process. Put it under "
    "`if __name__ == \"__main__\":` (see the README's embedding example)."
)


def max_concurrency(spec: FunctionSpec) -> int | None:
    """The function's ``AWS_LAMBDA_MAX_CONCURRENCY``, when it sets a positive whole number."""
    value = spec.environment.get("AWS_LAMBDA_MAX_CONCURRENCY", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


@dataclass
class _Process:
    proc: BaseProcess
    conn: Connection
    function: str | None = None  # the function version it is bound to (FunctionSpec.key)
    inflight: dict[str, tuple[str, int]] = field(default_factory=dict)  # invocation -> (arn, deadline)
    draining: bool = False
    started: float = field(default_factory=time.monotonic)
    served: bool = False  # has run an invocation
    sandboxes: int = 0  # runtime processes (Node, custom) it had at its last report


class Runtime:
    """Runs durable functions from a store, with a pool of worker processes.

    ``hosted`` limits which functions this runtime invokes (all it knows by default),
    so one machine can host a subset; with ``processes=0`` it invokes none and only
    fires timers (``perdure serve --no-workers``). ``lease_s``: how long an invocation
    survives this runtime's death before another runtime re-runs it. ``clock``: the
    time the scheduler, its engine and its observers read (worker processes, which
    checkpoint on engines of their own, keep the system clock).
    """

    def __init__(
        self,
        db_url: str,
        functions: dict[str, FunctionSpec],
        *,
        processes: int = PROCESSES,
        threads: int = THREADS,
        hosted: Sequence[str] | None = None,
        lease_s: float = LEASE_S,
        clock: Clock = SYSTEM_CLOCK,
        sandboxes: int = SANDBOXES,
    ) -> None:
        if getattr(multiprocessing.current_process(), "_inheriting", False):
            # This is a worker process re-importing the user's script (spawn) and the
            # script starts a Runtime at import: end quietly with a status the parent
            # reads (it says why, once), instead of every worker dying on
            # multiprocessing's bootstrapping error and being replaced in a loop.
            os._exit(IMPORTED_MAIN_EXIT)
        self.db_url = db_url
        self.fatal: str | None = None  # set when worker processes cannot start at all
        self.store = open_store(db_url)
        self.engine = Engine(self.store, functions, clock=clock)
        self.max_processes = max(0, processes)
        self.threads = max(1, threads)
        self.sandboxes = max(1, sandboxes)
        self.hosted = [] if processes == 0 else list(hosted) if hosted is not None else None
        self.lease_ms = int(lease_s * 1000)
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._procs: list[_Process] = []
        self._ctx = multiprocessing.get_context("spawn")
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._wake_lock = threading.Lock()
        self._waiters: dict[str, list[threading.Event]] = {}
        self._waiters_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_renewal = 0.0
        self._respawn_at = 0.0  # when a process that died is replaced
        self._respawn_delay = 0.0
        # None: the store cannot hear other processes (SQLite: this runtime is alone).
        self._listening: bool | None = None
        # Whether another runtime shares the database (heard on the store's channel):
        # until one is, notifications would reach nobody and are not sent.
        self._others = False
        self._observers: list[Callable[[str, str, dict[str, Any]], None]] = []
        self.engine.add_listener(self._on_engine_event)
        self.keeper = VersionKeeper(self.store, self.engine.versions.cache, self.engine.clock)
        self.add_observer(lambda kind, _arn, _details: self.keeper.closed() if kind != "invocation" else None)  # old versions may be unused now

    # -- public API ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        recover_orphan_spools(self.store, self.db_url)  # log lines of workers that died with us
        recovered = self.engine.recover_orphans(self._owner_is_dead)
        if recovered:
            log.warning("re-running %d invocation(s) whose process on this machine had died", recovered)
        if self.store.listen(self._on_notification):
            self._listening = False  # until the store says it is
        for _ in range(self.max_processes):
            self._spawn()
        self._thread = threading.Thread(target=self._loop, name="perdure-runtime", daemon=True)
        self._thread.start()
        threading.Thread(target=self._maintain, name="perdure-maintenance", daemon=True).start()
        threading.Thread(target=self._retain, name="perdure-retention", daemon=True).start()
        self.keeper.start()

    def stop(self) -> None:
        self._stopping.set()
        self.keeper.stop()
        self.poke()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for p in self._procs:
            with suppress(OSError):
                p.conn.send(("stop",))
        for p in self._procs:
            p.proc.join(timeout=2)
            if p.proc.is_alive():
                p.proc.kill()
                p.proc.join(timeout=2)
        for p in self._procs:
            # Record now what the lease would tell the others later: these invocations died.
            self._fail_inflight(p, "Runtime exited: the worker was stopped")
        self._procs.clear()
        self.store.close()

    def __enter__(self) -> Runtime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def invoke(self, function_name: str, payload: str | None = None, *, name: str | None = None) -> str:
        """Start an execution (idempotent by ``name``); returns its ARN."""
        if self.fatal is not None:
            raise RuntimeError(self.fatal)
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
                if self.fatal is not None:
                    raise RuntimeError(self.fatal)
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

    def add_observer(self, observer: Callable[[str, str, dict[str, Any]], None]) -> None:
        """Call ``observer(kind, arn, details)`` on an internal thread (it must not block):
        "closed" when this process closed an execution (``details["row"]``: the
        execution as it closed), "closed elsewhere" when another process did (heard
        through the store; no row), and "invocation" when a worker process
        reports an invocation's end (function, outcome, duration_s, checkpoints,
        log_dropped). Metrics, traces and waiting invokes use it."""
        self._observers.append(observer)

    def slots(self) -> tuple[int, int]:
        """(busy, total) invocation slots of this runtime's worker processes."""
        return sum(len(p.inflight) for p in self._procs), sum(self._capacity(p.function) for p in self._procs)

    def sandbox_processes(self) -> int:
        """Runtime processes (Node, custom runtimes) the worker processes keep, warm or busy."""
        return sum(p.sandboxes for p in self._procs)

    def _capacity(self, function: str | None) -> int:
        """Invocations one worker process runs at once for ``function`` (``name:version``):
        ``threads`` of a Python function, one per sandbox for the others; at most the
        function's ``AWS_LAMBDA_MAX_CONCURRENCY`` (its environment's, as Lambda Managed
        Instances read it: 1 runs its invocations one after another in each process)."""
        spec = self.engine.functions.get((function or "").partition(":")[0])
        if spec is None:
            return self.threads
        capacity = self.threads if spec.in_process else min(self.threads, self.sandboxes)
        return min(capacity, max_concurrency(spec) or capacity)

    def _observe(self, kind: str, arn: str, details: dict[str, Any]) -> None:
        for observer in self._observers:
            try:
                observer(kind, arn, details)
            except Exception:
                log.exception("observer failed")

    def advance(self, arn: str, operation: str | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Development: fire the execution's pending wait or retry timer now (waiting up
        to ``timeout`` seconds for it to reach one); recorded in its history."""
        from perdure.ops import advance_when_pending

        return advance_when_pending(self.engine, arn, operation, timeout)

    def callback_id(self, arn: str, name: str, timeout: float = 30.0) -> str:
        """The id of the execution's callback ``name``, once it has started."""
        from perdure.ops import callback_id

        return callback_id(self.engine, arn, name, timeout)

    def poke(self) -> None:
        """Wake the loop (thread-safe)."""
        with self._wake_lock, suppress(OSError):
            self._wake_w.send_bytes(b".")

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

    def _on_engine_event(self, kind: str, arn: str, row: ExecutionRow | None, _detail: Mapping[str, Any]) -> None:
        """This process changed an execution (after commit)."""
        if kind not in ("ready", "closed"):
            return
        self._announce(kind, arn, row)
        # Work for a function hosted elsewhere is that runtime's to pick up (the
        # notification tells it, and it sees any new timer too); alone, take everything.
        if self._listening is None or (kind == "ready" and self._hosts(arn)):
            self.poke()

    def _announce(self, kind: str, arn: str, row: ExecutionRow | None = None) -> None:
        if kind == "closed":
            self._closed(arn, "closed", row)
        if self._others:
            self.store.notify(kind, arn)

    def _on_notification(self, kind: str, arn: str) -> None:
        """Another process changed an execution, or the store's notifications stopped or
        (re)started. Called on the store's listening thread."""
        if kind in ("listening", "lost"):
            self._listening = kind == "listening"
            if self._listening:
                # Runtimes already listening learn of this one, and answer.
                self.store.notify("hello", "")
            self.poke()  # re-check the database: something may have been missed
            return
        # The store passes on only what other runtimes sent: this one is not alone.
        # (One that joins is heard within a round trip of its start; until then a
        # notification it missed costs it a poll, as any lost one does.)
        self._others = True
        if kind == "hello":
            self.store.notify("here", "")
        elif kind == "closed":
            self._closed(arn, "closed elsewhere")
        elif kind == "ready" and self._hosts(arn) and self._free_slots() > 0:
            self.poke()

    def _hosts(self, arn: str) -> bool:
        function = arn.split(":function:", 1)[-1].split(":", 1)[0]
        return self.hosted is None or function in self.hosted

    def _closed(self, arn: str, kind: str, row: ExecutionRow | None = None) -> None:
        with self._waiters_lock:
            for event in self._waiters.get(arn, []):
                event.set()
        self._observe(kind, arn, {"row": row} if row is not None else {})

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

    def _retain(self) -> None:
        """Delete expired executions: batch after batch while a backlog lasts, then once
        a minute. Each batch is one short transaction, so running executions are barely
        held up even while a large backlog drains."""
        while not self._stopping.is_set():
            try:
                deleted = self.engine.delete_expired(RETENTION_BATCH)
            except Exception:
                log.exception("deleting expired executions failed; retrying in a minute")
                deleted = 0
            if self._stopping.wait(RETENTION_PAUSE_S if deleted == RETENTION_BATCH else RETENTION_SWEEP_S):
                return

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
                    arn, _ = p.inflight.pop(message[1], (None, 0))
                    if len(message) > 2 and isinstance(message[2].get("sandbox"), dict):
                        p.sandboxes = int(message[2]["sandbox"].get("processes") or 0)
                    if arn is not None and len(message) > 2:
                        # A process is bound to "Function:version"; metrics count by function.
                        function = (p.function or "").partition(":")[0]
                        self._observe("invocation", arn, {"function": function, **message[2]})
                elif message[0] == "event":
                    self._announce(message[1], message[2], message[3])
        except (EOFError, OSError):
            self._reap(p)

    def _reap(self, p: _Process) -> None:
        """A worker process exited: every invocation it held died with it."""
        if p not in self._procs:
            return
        self._procs.remove(p)
        p.proc.join(timeout=1)
        recover_worker_logs(self.store, self.db_url, p.proc.pid or 0)
        self._fail_inflight(p, f"Runtime exited with error: exit status {p.proc.exitcode}")
        p.conn.close()
        if p.proc.exitcode == IMPORTED_MAIN_EXIT and not p.served:
            # Every replacement would die the same way: stop here, once, with the fix.
            if self.fatal is None:
                self.fatal = GUARD_MESSAGE
                log.error("%s", GUARD_MESSAGE)
                self.max_processes = 0
                with self._waiters_lock:
                    for events in self._waiters.values():
                        for event in events:
                            event.set()
            return
        # One that dies at once (the database is down while it starts) is replaced after
        # a growing pause rather than in a loop.
        early = not p.served and time.monotonic() - p.started < EARLY_EXIT_S
        self._respawn_delay = min(max(0.5, self._respawn_delay * 2), 10.0) if early else 0.0
        self._respawn_at = time.monotonic() + self._respawn_delay
        self._respawn()

    def _respawn(self) -> None:
        while len(self._procs) < self.max_processes and time.monotonic() >= self._respawn_at:
            if self._stopping.is_set():
                return
            self._spawn()

    def _fail_inflight(self, p: _Process, reason: str) -> None:
        for invocation_id, (arn, _) in p.inflight.items():
            message = f"RequestId: {invocation_id} Error: {reason}"
            try:
                self.engine.fail_invocation(arn, invocation_id, {"ErrorType": "Runtime.ExitError", "ErrorMessage": message})
            except Exception:
                log.exception("could not record the end of invocation %s", invocation_id)

    def _tick(self) -> float | None:
        now = time.monotonic()
        self._respawn()
        if now - self._last_renewal >= self.lease_ms / 3000:
            self._renew_leases()
            self._last_renewal = now
        while self.engine.fire_due() > 0:
            pass
        self._recycle_stuck()
        self._dispatch()
        # Without notifications from other processes, poll for what they did.
        longest = RETENTION_SWEEP_S if self._listening is None else POLL_S if self._listening else LOST_POLL_S
        if any(p.inflight for p in self._procs):
            longest = min(longest, self._last_renewal + self.lease_ms / 3000 - time.monotonic())
        if len(self._procs) < self.max_processes:
            longest = min(longest, self._respawn_at - time.monotonic())
        wakeup = self.engine.next_wakeup_ms(self.hosted)
        if wakeup is None:
            return max(0.0, longest)
        delay = (wakeup - self.engine.clock.now_ms()) / 1000
        if delay <= 0:
            if self._free_slots() == 0:
                return max(0.0, longest)  # ready work waits for a worker message
            delay = BUSY_RETRY_S  # due, but held by another process's transaction
        return max(0.0, min(delay, longest))

    def _renew_leases(self) -> None:
        """Tell the others this runtime is alive and still running its invocations."""
        running = [i for p in self._procs for i in p.inflight]
        if running:
            with self.store.transaction() as tx:
                tx.renew_leases(self.owner, running, self.engine.clock.now_ms() + self.lease_ms)

    def _free_slots(self) -> int:
        return sum(max(0, self._capacity(p.function) - len(p.inflight)) for p in self._procs if not p.draining)

    def _recycle_stuck(self) -> None:
        now = self.engine.clock.now_ms()
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
            more = False  # a function filled its room: it may have more ready work
            # Each version runs in processes of its own (its code, its environment).
            for function, version in self.engine.ready_function_versions():
                if self.hosted is not None and function not in self.hosted:
                    continue
                if version is None and function not in self.engine.functions:
                    continue  # unpublished code of a function this runtime was not given
                room = self._room_for(f"{function}:{'$LATEST' if version is None else version}")
                if room == 0:
                    continue
                claimed = self.engine.claim([function], room, self.owner, lease_ms=self.lease_ms, version=version)
                for invocation in claimed:
                    self._send(invocation)
                more = more or len(claimed) == room
            if not more:
                return

    def _room_for(self, function: str) -> int:
        capacity = self._capacity(function)
        bound = sum(max(0, capacity - len(p.inflight)) for p in self._procs if p.function == function and not p.draining)
        idle = sum(capacity for p in self._procs if not p.inflight and p.function != function and not p.draining)
        return bound + idle

    def _send(self, invocation: Invocation) -> None:
        spec = self.engine.versions.materialize(self.store, invocation.function_name, invocation.version)
        if spec is None:  # its version's code is gone: recorded like a handler that cannot load
            self.engine.fail_invocation(invocation.arn, invocation.invocation_id, {
                "ErrorType": "Runtime.ImportModuleError",
                "ErrorMessage": f"{invocation.function_name} version {invocation.version} is not available",
            })
            return
        capacity = self._capacity(spec.key)
        candidates = [p for p in self._procs if not p.draining and p.function == spec.key and len(p.inflight) < capacity]
        if not candidates:
            candidates = [p for p in self._procs if not p.draining and not p.inflight]
        target = min(candidates, key=lambda p: len(p.inflight))
        target.function = spec.key
        target.served = True
        target.inflight[invocation.invocation_id] = (invocation.arn, invocation.deadline_ms)
        try:
            target.conn.send(("run", invocation, spec))
        except OSError:
            self._reap(target)
