"""``perdure serve --tls-cert/--tls-key``: HTTPS with a certificate this test makes, used by
boto3 and by the CLI (``AWS_CA_BUNDLE``), with SigV4 authentication on top."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError

from tests.support import HANDLERS, ROOT, Process, free_port

KEY = ("AKIAPERDURETLS", "tls-secret-0123456789abcdef")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "server.crt", tmp / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def https_url(tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("serve")
    auth = tmp / "auth.toml"
    auth.write_text(
        f'[[credentials]]\naccess_key_id = "{KEY[0]}"\nsecret_access_key = "{KEY[1]}"\n'
        'actions = ["lambda:*"]\nresources = ["*"]\n'
    )
    port = free_port()
    process = Process(
        ["serve", "-t", str(HANDLERS / "template.yaml"), "--db", f"sqlite:///{tmp / 'db.sqlite'}",
         "--port", str(port), "--workers", "1", "--auth", str(auth),
         "--tls-cert", str(certificate[0]), "--tls-key", str(certificate[1])],
        tmp / "serve.log",
    ).start()
    url = f"https://localhost:{port}"
    context = ssl.create_default_context(cafile=str(certificate[0]))
    deadline = time.monotonic() + 30
    try:
        while True:
            assert process.proc is not None and process.proc.poll() is None, process.log()
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=1, context=context):
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, process.log()
                time.sleep(0.1)
        yield url
    finally:
        process.stop()


def _client(url: str, verify: str | bool) -> object:
    return boto3.client(
        "lambda", endpoint_url=url, region_name="us-east-1", verify=verify,
        aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1],
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )


def test_boto3_over_https(https_url: str, certificate: tuple[Path, Path]) -> None:
    lam = _client(https_url, str(certificate[0]))
    response = lam.invoke(FunctionName="Hello", Payload=json.dumps({"a": 1}).encode())  # type: ignore[attr-defined]
    assert json.loads(response["Payload"].read()) == {"sum": 3, "input": {"a": 1}}
    # A client that does not trust the certificate does not talk to the server.
    with pytest.raises(SSLError):
        _client(https_url, True).list_durable_executions_by_function(FunctionName="Hello")  # type: ignore[attr-defined]
    # Nor does plain HTTP get an answer on the TLS port.
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(https_url.replace("https://", "http://") + "/ping", timeout=5).close()


def test_cli_over_https(https_url: str, certificate: tuple[Path, Path]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PERDURE_"))}
    env.update(AWS_ACCESS_KEY_ID=KEY[0], AWS_SECRET_ACCESS_KEY=KEY[1], AWS_CA_BUNDLE=str(certificate[0]),
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", PERDURE_URL=https_url)
    result = subprocess.run(
        [sys.executable, "-m", "perdure", "executions", "list", "--function", "Hello", "--json"],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env=env,
    )
    assert result.returncode == 0, result.stderr


def test_tls_options_are_checked(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    base = [sys.executable, "-m", "perdure", "serve", "-t", str(HANDLERS / "template.yaml"),
            "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--port", "0"]
    for extra, words in (
        (["--tls-cert", str(certificate[0])], "--tls-cert and --tls-key go together"),
        (["--tls-cert", str(tmp_path / "nope.crt"), "--tls-key", str(certificate[1])], "no such file"),
    ):
        result = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2 and words in result.stderr, result.stderr
