"""Versions and aliases in the store, on every backend: publishing, resolving
qualified names, pinning an execution, and pruning what nothing needs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from perdure.core.engine import Engine
from perdure.deploy.functions import FunctionSpec
from perdure.deploy.versions import prune, publish, set_alias
from perdure.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from perdure.store import open_store


def test_versions_pin_executions_and_are_pruned(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERDURE_CODE_CACHE", str(tmp_path / "cache"))
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("VERSION = 1\n")
    spec = FunctionSpec(name="Fn", handler="app.handler", code_uri=code, logical_id="FnId", execution_timeout_s=60)
    engine = Engine(open_store(db_url), {"Fn": spec})
    store = engine.store
    try:
        assert engine.resolve("Fn").version is None  # nothing published: the template's code
        one, created = publish(store, spec)
        assert (one.version, created) == (1, True)
        assert publish(store, spec) == (one, False)  # unchanged: no new version
        pinned, _ = engine.start_execution("FnId", None)  # the logical id names it too
        assert pinned.version == 1 and ":function:Fn:1/durable-execution/" in pinned.arn

        (code / "app.py").write_text("VERSION = 2\n")
        two, created = publish(store, replace(spec, auto_publish_alias="live"))
        assert (two.version, created) == (2, True)
        assert engine.resolve("Fn").version == 2
        assert engine.resolve("Fn:$LATEST").version == 2
        assert engine.resolve("Fn:live").version == 2
        assert engine.resolve("arn:aws:lambda:us-east-1:000000000000:function:Fn:1").version == 1
        with pytest.raises(ResourceNotFound):
            engine.resolve("Fn:3")
        with pytest.raises(ResourceNotFound):
            engine.resolve("Other")
        with pytest.raises(InvalidParameterValue):
            engine.resolve("not a name")

        # The version's code on this machine, as the runtime hands it to a worker.
        materialized = engine.versions.materialize(store, "Fn", 1)
        assert materialized is not None and materialized.version == "1"
        assert materialized.code_uri is not None
        assert (materialized.code_uri / "app.py").read_text() == "VERSION = 1\n"

        # Aliases: created once, moved, and they keep their version from pruning.
        set_alias(store, "Fn", "stable", "1", "the old one", create=True)
        with pytest.raises(ResourceConflict):
            set_alias(store, "Fn", "stable", "1", create=True)
        with pytest.raises(InvalidParameterValue):
            set_alias(store, "Fn", "42", "1")
        assert prune(store, engine.versions.cache) == []  # pinned and aliased
        set_alias(store, "Fn", "stable", "2", create=False)
        assert prune(store, engine.versions.cache) == []  # still pinned by the execution
        assert materialized.code_uri.is_dir()

        engine.stop_execution(pinned.arn, None)
        assert prune(store, engine.versions.cache) == [("Fn", 1)]
        assert not materialized.code_uri.exists()
        with pytest.raises(ResourceNotFound, match="removed"):
            engine.resolve("Fn:1")
        with store.transaction() as tx:
            assert [v.version for v in tx.list_versions("Fn")] == [2]
            assert tx.version_code("Fn", 1) is None
        # Numbers are never reused.
        (code / "app.py").write_text("VERSION = 3\n")
        assert publish(store, spec)[0].version == 3
    finally:
        store.close()
