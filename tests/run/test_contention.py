"""A fleet on PostgreSQL has no hot row: workers added to a busy database do not queue
behind one another's locks.

Every transaction locks only the execution it changes (claims skip rows another
transaction holds), so nothing (no counter, no queue head, no global row) is written
by every execution. Checked here the way an operator would: while a server and three
worker processes run executions flat out, ``pg_locks`` is sampled for lock requests
that are waiting, and what they wait for is recorded.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.fleet_support import Serve, worker
from tests.support import HANDLERS, Process, wait_for_status

TEMPLATE = HANDLERS / "template.yaml"
EXECUTIONS = 150
WORKERS = 3

WAITING = """
SELECT l.locktype, coalesce(l.relation::regclass::text, ''), a.query
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND a.application_name = %s
"""


def _admin_url(pg_url: str) -> str:
    return pg_url.split("?", 1)[0]  # a session of its own, not counted among the fleet's


def _sample(url: str, application: str, stop: threading.Event, samples: list[list[tuple[str, str, str]]]) -> None:
    import psycopg

    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        while not stop.is_set():
            samples.append([tuple(row) for row in conn.execute(WAITING, (application,)).fetchall()])
            time.sleep(0.005)


def _probe_sees_a_wait(pg_url: str, application: str) -> bool:
    """The sampling query itself: a session waiting for another's lock is seen."""
    import psycopg

    with psycopg.connect(pg_url) as holder, psycopg.connect(pg_url) as waiter:
        holder.execute("LOCK TABLE perdure_meta IN EXCLUSIVE MODE")
        blocked = threading.Thread(target=waiter.execute, args=("LOCK TABLE perdure_meta IN EXCLUSIVE MODE",))
        blocked.start()
        try:
            with psycopg.connect(_admin_url(pg_url), autocommit=True) as conn:
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    if conn.execute(WAITING, (application,)).fetchall():
                        return True
                    time.sleep(0.01)
                return False
        finally:
            holder.rollback()
            blocked.join()


def test_workers_do_not_wait_on_one_another(pg_url: str, tmp_path: Path) -> None:
    application = parse_qs(urlsplit(pg_url).query)["application_name"][0]
    stop = threading.Event()
    samples: list[list[tuple[str, str, str]]] = []
    sampler = threading.Thread(target=_sample, args=(pg_url, application, stop, samples))
    server = Serve(pg_url, tmp_path / "serve.log", "--no-workers", template=TEMPLATE).start()
    fleet: list[Process] = []
    try:
        assert _probe_sees_a_wait(pg_url, application)  # the tables exist once the server runs
        fleet.extend(
            worker(pg_url, tmp_path, f"w{n}", "--concurrency", "1", template=TEMPLATE).start()
            for n in range(WORKERS)
        )
        client = server.client()
        sampler.start()
        with ThreadPoolExecutor(4) as pool:
            arns = list(pool.map(
                lambda _: client.invoke(FunctionName="Sequential", InvocationType="Event", Payload=b'{"steps": 3}')[
                    "DurableExecutionArn"
                ],
                range(EXECUTIONS),
            ))
        statuses = Counter(wait_for_status(client, arn, 120)["Status"] for arn in arns)
    finally:
        stop.set()
        if sampler.is_alive():
            sampler.join()
        for process in (*fleet, server):
            process.stop()
    assert statuses == {"SUCCEEDED": EXECUTIONS}
    assert len(samples) > 50, "the sampler hardly ran"
    waits = [wait for sample in samples for wait in sample]
    print(f"{len(samples)} samples, {sum(1 for s in samples if s)} with a waiting lock request: {Counter(w[:2] for w in waits)}")
    # PostgreSQL's relation extension lock ("extend") is held for a moment whenever a
    # table's file grows by a page: concurrent inserts meet on it now and then, whatever
    # the schema. It is counted apart from the locks a hot row would queue on.
    growing = sum(1 for sample in samples if any(w[0] == "extend" for w in sample))
    rows = [[w for w in sample if w[0] != "extend"] for sample in samples]
    busy = sum(1 for sample in rows if sample)
    # A hot row would keep several transactions queued in most samples. What remains are
    # the rare meetings on one execution (a lease renewal and that execution's checkpoint).
    assert max(len(sample) for sample in rows) <= 2, Counter(waits).most_common(5)
    assert busy <= 0.05 * len(samples), Counter(waits).most_common(5)
    assert growing <= 0.05 * len(samples), Counter(waits).most_common(5)
