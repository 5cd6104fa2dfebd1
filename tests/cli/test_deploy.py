"""``perdure deploy`` and ``perdure alias``: what they refuse before they start."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.support import FakeLambda, run


def test_alias_set_needs_function_and_alias(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "alias", "set", "Orders", "3")
    assert code == 2
    assert "name the alias as FUNCTION:ALIAS (for example Orders:live), got 'Orders'" in err


def test_deploy_needs_a_template(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "deploy", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert code == 2
    assert "no template.yaml / template.yml / template.json here: pass --template PATH" in err
    assert not (tmp_path / "db.sqlite").exists()


def test_versions_follow_the_server(server: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "versions", "ProcessFn", "--url", server.url)
    assert code == 1  # the stand-in serves no versions: answered as a server that is not perdure
    assert server.last().path == "/2015-03-31/functions/ProcessFn/versions"
    assert "(is " in err and "a perdure server?)" in err
