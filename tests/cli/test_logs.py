"""``perdure logs``: what it asks for before it calls the server."""

from __future__ import annotations

import pytest

from tests.cli.support import EXEC_ARN, run


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["logs"], "give an execution ARN, or --function NAME"),
        (["logs", EXEC_ARN, "--function", "ProcessFn"], "give an execution ARN, or --function NAME"),
        (["logs", "not-an-arn"], "is not a durable execution ARN"),
        (["logs", EXEC_ARN, "--level", "LOUD"], "--level must be one of"),
        (["logs", EXEC_ARN, "--since", "soon"], "--since must look like 30s"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err
