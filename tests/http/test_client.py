"""PerdureClient against a real ``perdure serve --auth``: perdure's own routes signed
with the credentials boto3 finds, refused unsigned or with unknown keys, and a URL
where no server listens, each failure as one PerdureError."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from perdure.http import PerdureClient, PerdureError
from tests.support import Serve, credential, free_port, serving_with_auth, wait_for_status

ADMIN = ("AKIAPERDURECLIENT", "client-secret-0123456789abcdef")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    with serving_with_auth(tmp_path_factory.mktemp("client"), credential(ADMIN, ["lambda:*"], name="admin")) as serve:
        yield serve


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the credentials a test sets: none from the caller's environment or files."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "PERDURE_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_signed_requests_are_accepted(server: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ADMIN[1])
    with PerdureClient(server.url) as client:
        started = client.lambda_client.invoke(
            FunctionName="Hello", InvocationType="Event", Payload=b'{"name": "signed"}',
            DurableExecutionName="signed-1",
        )
        arn = started["DurableExecutionArn"]
        assert wait_for_status(client.lambda_client, arn)["Status"] == "SUCCEEDED"
        assert client.resolve_arn("signed-1", "Hello") == arn  # GET with a query, signed
        assert client.resolve("signed-1")["Durable"] is True
        assert client.pending(arn)["Callbacks"] == []
        assert arn in [e["DurableExecutionArn"] for e in client.list_executions(["SUCCEEDED"])]
        document = client.export(arn)
        assert document["Execution"]["Status"] == "SUCCEEDED"
        assert client.skip_timer(arn) == {"State": "closed", "Status": "SUCCEEDED"}  # POST, signed
        with pytest.raises(PerdureError) as caught:
            client.export(arn + "x")
        error = caught.value
        assert (error.status, error.code) == (404, "ResourceNotFoundException")
        assert "not found" in error.message.lower()
        assert not error.no_server
        pages = list(client.pages("list_durable_executions_by_function", FunctionName="Hello", MaxItems=1))
        assert len(pages) >= 1 and all(len(p["DurableExecutions"]) <= 1 for p in pages)


def test_unsigned_and_unknown_keys_are_refused(server: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    with PerdureClient(server.url, sign=False) as unsigned:
        with pytest.raises(PerdureError) as caught:
            unsigned.list_executions()
        error = caught.value
        assert (error.status, error.code, error.message) == (
            403, "MissingAuthenticationTokenException", "Missing Authentication Token",
        )
        assert str(error) == "MissingAuthenticationTokenException: Missing Authentication Token"
    # No credentials anywhere: the placeholder key, which a server with --auth does not know.
    with PerdureClient(server.url) as placeholder:
        with pytest.raises(PerdureError) as caught:
            placeholder.resolve("anything")
        assert (caught.value.status, caught.value.code) == (403, "UnrecognizedClientException")
        # The boto3 client signs with the same key, and its error maps alike.
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError) as boto_caught:
            placeholder.lambda_client.list_functions()
        mapped = PerdureError.from_botocore(boto_caught.value, placeholder.url)
        assert mapped is not None
        assert (mapped.status, mapped.code) == (403, "UnrecognizedClientException")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with PerdureClient(server.url) as wrong, pytest.raises(PerdureError) as caught:
        wrong.post("executions/x/skip-timer", {})
    assert (caught.value.status, caught.value.code) == (403, "InvalidSignatureException")


def test_no_server_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with PerdureClient(url) as client:
        with pytest.raises(PerdureError) as caught:
            client.pending("arn:aws:lambda:us-east-1:000000000000:function:F:$LATEST/durable-execution/x/y")
        error = caught.value
        assert error.no_server and error.status is None and error.code == PerdureError.NO_SERVER
        assert error.message.startswith(f"no perdure server at {url} (")
        from botocore.exceptions import EndpointConnectionError

        with pytest.raises(EndpointConnectionError) as boto_caught:
            client.lambda_client.list_functions()
        mapped = PerdureError.from_botocore(boto_caught.value, url)
        assert mapped is not None and mapped.no_server and mapped.status is None


def test_a_missing_profile_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERDURE_PROFILE", "nosuchprofile")
    with pytest.raises(PerdureError) as caught:
        PerdureClient("http://127.0.0.1:9")
    assert caught.value.code == PerdureError.PROFILE_NOT_FOUND
    assert "nosuchprofile" in caught.value.message


def test_importing_the_client_loads_neither_boto3_nor_the_server() -> None:
    code = (
        "import sys\n"
        "from perdure.http import PerdureClient, PerdureError\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'starlette', 'uvicorn')]\n"
        "assert not loaded, loaded\n"
        "assert 'perdure.http.server' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
