"""PostgreSQL with password (SCRAM) authentication and TLS, as docs/deploy-postgres.md and
docs/security.md describe it: a throwaway cluster this test creates on a spare port
(``ssl = on``, ``hostssl ... scram-sha-256`` and plain connections rejected in
``pg_hba.conf``), used by a real ``perdure serve`` with ``sslmode=require``. The main
cluster on 5432 is not touched."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.backends import postgres_installed
from tests.support import HANDLERS, Serve, lambda_client

PASSWORD = "s3cret pass/word:%@"  # characters a URL must percent-encode
USER = "perdure"


@dataclass
class Cluster:
    port: int
    directory: Path
    ca: Path

    def url(self, password: str = PASSWORD, sslmode: str = "require", extra: str = "") -> str:
        from urllib.parse import quote

        return (
            f"postgresql://{USER}:{quote(password, safe='')}@127.0.0.1:{self.port}/postgres"
            f"?sslmode={sslmode}{extra}"
        )


def _bindir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    pg_config = shutil.which("pg_config")
    if pg_config:
        return Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
    if not postgres_installed():
        pytest.skip("PostgreSQL is not installed (its initdb and pg_ctl make the test cluster)")
    pytest.fail("PostgreSQL is installed but initdb was not found")


def _spare_port() -> int:
    for port in range(9450, 9500):  # this project's test range for the TLS cluster
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port in 9450-9499 for the test PostgreSQL cluster")


def _as_owner(args: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="perdure-pgtls-", dir="/tmp"))
    root.chmod(0o755)
    data = root / "data"
    port = _spare_port()
    started = False
    try:
        # A CA-less self-signed server certificate, made here.
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(root / "server.key"), "-out", str(root / "server.crt")],
            check=True, capture_output=True,
        )
        (root / "pw").write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
            for name in ("server.key", "server.crt", "pw"):
                shutil.chown(root / name, "postgres", "postgres")
        (root / "server.key").chmod(0o600)
        subprocess.run(
            _as_owner([str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={root / 'pw'}",
                       "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8"]),
            check=True, capture_output=True,
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
                f"ssl = on\nssl_cert_file = '{root / 'server.crt'}'\nssl_key_file = '{root / 'server.key'}'\n"
                "password_encryption = 'scram-sha-256'\nfsync = off\nshared_buffers = 16MB\n"
                "max_connections = 40\n"
            )
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostnossl all all 127.0.0.1/32 reject\n"
        )
        subprocess.run(
            _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "start"]),
            check=True, capture_output=True,
        )
        started = True
        yield Cluster(port, root, root / "server.crt")
    finally:
        if started:
            subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                           capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_serve_on_scram_and_tls(cluster: Cluster, tmp_path: Path) -> None:
    import psycopg

    serve = Serve(cluster.url(), tmp_path / "serve.log", "--workers", "1")
    serve.start()
    try:
        client = lambda_client(serve.url)
        response = client.invoke(FunctionName="Hello", Payload=json.dumps({"a": 1}).encode())
        assert json.loads(response["Payload"].read()) == {"sum": 3, "input": {"a": 1}}
        arn = response["DurableExecutionArn"]
        assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "SUCCEEDED"
        assert PASSWORD not in serve.log() and "s3cret" not in serve.log()
    finally:
        serve.stop()
    with psycopg.connect(cluster.url()) as connection:
        ssl_in_use, = connection.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone() or (None,)
        assert ssl_in_use is True
        stored, = connection.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (USER,)).fetchone() or ("",)
        assert str(stored).startswith("SCRAM-SHA-256$")
        executions, = connection.execute("SELECT count(*) FROM executions").fetchone() or (0,)
        assert executions == 1


def test_verify_full_checks_the_server_certificate(cluster: Cluster) -> None:
    from perdure.store import StoreError, open_store

    store = open_store(cluster.url(sslmode="verify-full", extra=f"&sslrootcert={cluster.ca}"))
    with store.transaction() as tx:
        assert tx.get_callback("none") is None
    close = getattr(store, "close", None)
    if close:
        close()
    # The system's CAs do not vouch for the test's self-signed certificate.
    with pytest.raises(StoreError) as excinfo:
        open_store(cluster.url(sslmode="verify-full", extra="&sslrootcert=system"))
    assert PASSWORD not in str(excinfo.value)


@pytest.mark.parametrize(
    ("password", "sslmode", "words"),
    [
        ("wrong password", "require", "password authentication failed"),
        (PASSWORD, "disable", "no encryption"),
    ],
)
def test_refused_connections_are_reported_without_the_password(
    cluster: Cluster, tmp_path: Path, password: str, sslmode: str, words: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "perdure", "serve", "-t", str(HANDLERS / "template.yaml"),
         "--db", cluster.url(password, sslmode), "--port", "0"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "perdure: error:" in result.stderr and words in result.stderr, result.stderr
    assert PASSWORD not in result.stderr and "s3cret" not in result.stderr
