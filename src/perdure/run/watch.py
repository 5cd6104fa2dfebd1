"""``perdure serve --watch``: publish a new version within a second of a saved change.

Watches the template and every function's code and layer directories (a built
function's sources, which the reload builds again) with watchfiles; after a change it reads the template again, publishes each function whose
code or settings changed (``perdure.deploy.versions.publish``), and tells the running server
about the new template. New executions start on the new versions; running ones stay on
the versions they started on.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from perdure.deploy import BUILD_DIR, FunctionSpec, SnapshotError, TemplateError, publish
from perdure.run.runtime import Runtime

log = logging.getLogger("perdure.watch")

DEBOUNCE_MS = 150  # a save often writes several times: one publish for them all


def watched_paths(template: Path, functions: dict[str, FunctionSpec]) -> list[Path]:
    """The template, each function's code (for a built function, the build's sources,
    not its output) and layers."""
    paths = {template.resolve()}
    for spec in functions.values():
        if spec.code_uri is not None and spec.source_uri is None:
            paths.add(spec.code_uri)
        if spec.source_uri is not None:  # built: its sources are watched, the build follows
            paths.add(spec.source_uri)
        paths.update(spec.layers)
    return sorted(p for p in paths if p.exists())


class Watcher:
    """Publishes on save; ``reload`` reads the template again."""

    def __init__(self, template: Path, reload: Callable[[], dict[str, FunctionSpec]]) -> None:
        self.template = template
        self.reload = reload
        self._stop = threading.Event()
        self._runtime: Runtime | None = None

    def start(self, runtime: Runtime) -> None:
        try:
            import watchfiles  # noqa: F401
        except ImportError:  # checked by the CLI before the server starts
            raise RuntimeError("perdure serve --watch needs watchfiles: pip install 'perdure[watch]'") from None
        self._runtime = runtime
        threading.Thread(target=self._run, name="perdure-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import watchfiles

        assert self._runtime is not None
        # The code cache and a SQLite database may sit under a watched directory.
        ignore = watchfiles.DefaultFilter(ignore_paths=[str(self._runtime.engine.versions.cache)])

        def keep(change: watchfiles.Change, path: str) -> bool:
            if f"{os.sep}{BUILD_DIR}{os.sep}" in path:  # what a reload builds, under a watched directory
                return False
            return ignore(change, path) and not path.endswith((".db", "-wal", "-shm", "-journal", ".wlock"))

        while not self._stop.is_set():
            paths = watched_paths(self.template, self._runtime.engine.functions)
            say(f"watching {len(paths)} path(s) for changes")
            for changes in watchfiles.watch(
                *paths, watch_filter=keep, debounce=DEBOUNCE_MS, step=50,
                stop_event=self._stop, raise_interrupt=False,
            ):
                names = sorted({Path(path).name for _, path in changes})
                if self.publish_changes(names) != paths and not self._stop.is_set():
                    break  # the template moved a directory: watch the new set

    def publish_changes(self, changed: list[str]) -> list[Path]:
        """Read the template again and publish what changed; returns the paths to watch."""
        assert self._runtime is not None
        engine = self._runtime.engine
        try:
            functions = self.reload()
        except TemplateError as exc:
            say(f"{', '.join(changed)} changed; the template cannot be served: {exc}")
            return watched_paths(self.template, engine.functions)
        published = []
        for spec in functions.values():
            try:
                row, created = publish(engine.store, spec, clock=engine.clock)
            except SnapshotError as exc:
                say(f"{spec.name}: not published: {exc}")
                continue
            if created:
                published.append(f"{spec.name} version {row.version}")
        engine.functions.clear()
        engine.functions.update(functions)  # the same dict the version resolver reads
        what = ", ".join(published) if published else "nothing new to publish"
        say(f"{', '.join(changed)} changed: {what}")
        return watched_paths(self.template, functions)


def say(text: str) -> None:
    """What the watcher did, on the server's console."""
    print(f"perdure: watch: {text}", file=sys.stderr, flush=True)
    log.debug(text)
