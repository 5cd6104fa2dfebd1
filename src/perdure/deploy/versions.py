"""Function versions and aliases: publishing, resolving qualified names, pinning, pruning.

A published version is an immutable snapshot (``perdure.deploy.snapshots``) numbered 1, 2,
3... per function. Every name a user gives (``Fn``, ``Fn:3``, ``Fn:live``,
``Fn:$LATEST``, ARNs, a template's logical id) resolves here to a function and, when
it has versions, to one version number: an execution records it and every
invocation of that execution runs that version's code, whatever is published later.

Unqualified names and ``$LATEST`` mean the newest published version (AWS's
``$LATEST`` is the unpublished code and is not pinned; perdure never runs code
straight from the files on disk once a function has versions). A function served
without published versions (embedded ``Runtime`` use) runs its template's code as
it is, as before.

Versions nothing needs any more (not the newest, no alias, no execution that is not
closed) lose their code: ``prune`` removes it from the database and from this
machine's code cache. ``VersionKeeper`` runs it after executions close.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from perdure.clock import SYSTEM_CLOCK, Clock
from perdure.deploy.arns import LATEST, parse_qualified_name, qualified_arn
from perdure.deploy.functions import FunctionSpec
from perdure.deploy.snapshots import cache_key, extract, spec_from_config, sweep, take_snapshot
from perdure.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from perdure.store import AliasRow, VersionRow

if TYPE_CHECKING:
    from perdure.store import Store, Transaction

log = logging.getLogger("perdure.versions")

ALIAS_RE: Final = re.compile(r"^(?!\d+$)[A-Za-z0-9_-]{1,128}$")
PRUNE_BATCH: Final = 100
KEEPER_DEBOUNCE_S: Final = 0.5
KEEPER_SWEEP_S: Final = 30.0


@dataclass(frozen=True)
class Target:
    """What a function name resolves to: the spec to run and the version it is."""

    spec: FunctionSpec
    version: int | None  # None: a function without published versions

    @property
    def qualifier(self) -> str:
        """The version as ARNs and ``X-Amz-Executed-Version`` spell it."""
        return LATEST if self.version is None else str(self.version)


def executed_version(version: int | None) -> str:
    return LATEST if version is None else str(version)


class Versions:
    """Resolves names to versions and knows each version's settings (cached: a
    version never changes). ``functions``: the functions as the template describes
    them (their ``$LATEST``), shared with the engine."""

    def __init__(self, functions: dict[str, FunctionSpec], cache: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self.functions = functions
        self.clock = clock
        self.cache = cache
        self._specs: dict[tuple[str, int], tuple[FunctionSpec, str]] = {}
        self._lock = threading.Lock()

    # -- names ---------------------------------------------------------------------

    def function_name(self, tx: Transaction, name: str) -> str | None:
        """The function a bare name means: its own, or a template logical id's."""
        if name in self.functions:
            return name
        for spec in list(self.functions.values()):
            if spec.logical_id == name:
                return spec.name
        return name if tx.latest_version(name) is not None else None

    def resolve(self, tx: Transaction, name_or_arn: str) -> Target:
        """The function and version a (qualified) name or ARN names."""
        try:
            name, qualifier = parse_qualified_name(name_or_arn)
        except ValueError as exc:
            raise InvalidParameterValue(str(exc)) from None
        function = self.function_name(tx, name)
        if function is None:
            raise ResourceNotFound(f"Function not found: {qualified_arn(name, qualifier)}")
        if qualifier is None or qualifier == LATEST:
            latest = tx.latest_version(function)
            if latest is None:
                return Target(self.functions[function], None)
            version = latest.version
        elif qualifier.isdigit():
            row = tx.get_version(function, int(qualifier))
            if row is None or row.removed_ms is not None:
                gone = " (removed: no execution, alias or newer version kept it)" if row else ""
                raise ResourceNotFound(f"Function not found: {qualified_arn(function, qualifier)}{gone}")
            version = row.version
        else:
            alias = tx.get_alias(function, qualifier)
            if alias is None:
                raise ResourceNotFound(f"Function not found: {qualified_arn(function, qualifier)}")
            version = alias.version
        spec = self.spec(tx, function, version)
        if spec is None:  # pragma: no cover - a version row vanished inside the transaction
            raise ResourceNotFound(f"Function not found: {qualified_arn(function, str(version))}")
        return Target(spec, version)

    def spec(self, tx: Transaction | None, function: str, version: int | None) -> FunctionSpec | None:
        """A version's settings (its code at this machine's cache); the template's
        spec for ``version`` None. Needs ``tx`` unless the version is cached."""
        if version is None:
            return self.functions.get(function)
        with self._lock:
            cached = self._specs.get((function, version))
        if cached is not None:
            return cached[0]
        if tx is None:
            return None
        row = tx.get_version(function, version)
        if row is None:
            return None
        root = self.cache / cache_key(row.code_sha256)
        spec = spec_from_config(function, version, row.config, root)
        with self._lock:
            self._specs[(function, version)] = (spec, row.code_sha256)
        return spec

    def materialize(self, store: Store, function: str, version: int | None) -> FunctionSpec | None:
        """The spec to run, with the version's code extracted on this machine."""
        if version is None:
            return self.functions.get(function)
        spec = self.spec(None, function, version)
        if spec is None or not (spec.code_uri is not None and (spec.code_uri.parent / ".complete").exists()):
            with store.read() as tx:
                spec = self.spec(tx, function, version)
                row = tx.get_version(function, version)
                code = tx.version_code(function, version)
            if spec is None or row is None or code is None:
                return None
            extract(self.cache, row.code_sha256, code)
        return spec


# --------------------------------------------------------------------------- publishing


def publish(store: Store, spec: FunctionSpec, description: str = "", clock: Clock = SYSTEM_CLOCK) -> tuple[VersionRow, bool]:
    """Publish the function's code and settings as they are on disk now, unless the
    newest version already holds exactly that. Returns (version, whether it is new);
    moves the function's ``AutoPublishAlias`` to it."""
    snapshot = take_snapshot(spec)
    encoded = base64.b64encode(snapshot.code).decode()
    while True:
        with store.transaction() as tx:
            latest = tx.latest_version(spec.name)
            if (
                latest is not None
                and latest.code_sha256 == snapshot.code_sha256
                and latest.config == snapshot.config
            ):
                row, created = latest, False
            else:
                row = VersionRow(
                    function_name=spec.name,
                    version=latest.version + 1 if latest else 1,
                    code_sha256=snapshot.code_sha256,
                    code_size=snapshot.code_size,
                    config=snapshot.config,
                    description=description,
                    created_ms=clock.now_ms(),
                )
                created = tx.insert_version(row, encoded)
                if not created:
                    continue  # another process published that number first
            alias = spec.auto_publish_alias
            if alias:
                current = tx.get_alias(spec.name, alias)
                if current is None or current.version != row.version:
                    tx.put_alias(AliasRow(spec.name, alias, row.version, "", clock.now_ms()))
        return row, created


def publish_all(store: Store, functions: dict[str, FunctionSpec], clock: Clock = SYSTEM_CLOCK) -> list[tuple[VersionRow, bool]]:
    """Publish every function whose code or settings changed; logs what it did."""
    results = []
    for spec in functions.values():
        row, created = publish(store, spec, clock=clock)
        also = f" (also {spec.logical_id})" if spec.logical_id and spec.logical_id != spec.name else ""
        state = "published" if created else "unchanged"
        log.info("%s%s: version %d (%s, code %s)", spec.name, also, row.version, state, row.code_sha256[:12])
        results.append((row, created))
    return results


# --------------------------------------------------------------------------- aliases


def set_alias(
    store: Store, function: str, alias: str, version: str, description: str | None = None,
    *, create: bool | None = None, clock: Clock = SYSTEM_CLOCK,
) -> AliasRow:
    """Point ``alias`` at ``version`` (a number or ``$LATEST``: the newest). With
    ``create`` True the alias must not exist yet; False: it must."""
    if not ALIAS_RE.match(alias) or alias == LATEST:
        raise InvalidParameterValue(
            f"alias name {alias!r} must be 1-128 letters, digits, - or _, and not only digits"
        )
    with store.transaction() as tx:
        if version == LATEST:
            latest = tx.latest_version(function)
            if latest is None:
                raise ResourceNotFound(f"Function not found: {qualified_arn(function, None)} has no published version")
            number = latest.version
        elif version.isdigit():
            row = tx.get_version(function, int(version))
            if row is None or row.removed_ms is not None:
                raise ResourceNotFound(f"Function not found: {qualified_arn(function, version)}")
            number = row.version
        else:
            raise InvalidParameterValue(f"FunctionVersion must be a version number or $LATEST, got {version!r}")
        current = tx.get_alias(function, alias)
        if create is True and current is not None:
            raise ResourceConflict(f"Alias already exists: {qualified_arn(function, alias)}")
        if create is False and current is None:
            raise ResourceNotFound(f"Alias not found: {qualified_arn(function, alias)}")
        if description is None:
            description = current.description if current else ""
        row_out = AliasRow(function, alias, number, description, clock.now_ms())
        tx.put_alias(row_out)
    return row_out


# --------------------------------------------------------------------------- pruning


def prune(store: Store, cache: Path, clock: Clock = SYSTEM_CLOCK) -> list[tuple[str, int]]:
    """Remove the code of versions nothing needs any more, from the database and from
    this machine's code cache; returns (function, version) of those removed now."""
    removed: list[tuple[str, int]] = []
    with store.transaction() as tx:
        for function, version in tx.removable_versions(PRUNE_BATCH):
            if tx.remove_version(function, version, clock.now_ms()):
                removed.append((function, version))
        live = tx.live_code()
    for function, version in removed:
        log.info("removed %s version %d: its last execution closed", function, version)
    sweep(cache, live)
    return removed


class VersionKeeper:
    """Prunes old versions shortly after executions close (and every
    ``KEEPER_SWEEP_S``, for closes it did not hear of), on its own thread."""

    def __init__(self, store: Store, cache: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.cache = cache
        self.clock = clock
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="perdure-versions", daemon=True)
        self._thread.start()

    def closed(self) -> None:
        """An execution closed: its version may no longer be needed."""
        self._due.set()

    def stop(self) -> None:
        self._stop.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._due.wait(KEEPER_SWEEP_S)
            if self._stop.is_set():
                return
            self._stop.wait(KEEPER_DEBOUNCE_S)  # one prune for a burst of closes
            self._due.clear()
            try:
                prune(self.store, self.cache, self.clock)
            except Exception:
                log.exception("pruning old versions failed; trying again later")
