"""How fast a saved change becomes a new version, and what publishing costs.

Starts ``perdure serve --watch`` (SQLite) on a one-function template, then N times:
edits the handler, and times until ``ListVersionsByFunction`` shows the new version
(save -> published) and until an invocation runs the new code (save -> new code
runs). Also times ``perdure deploy`` of an unchanged and of a changed template.

    python bench/deploys.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import Serve  # noqa: E402

TEMPLATE = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: code/, Handler: app.handler, Timeout: 30, DurableConfig: {ExecutionTimeout: 60}}
"""
HANDLER = """\
from aws_durable_execution_sdk_python import DurableContext, durable_execution


@durable_execution
def handler(event, context: DurableContext):
    return context.step(lambda _: {n}, name="n")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "template.yaml").write_text(TEMPLATE)
        (root / "code").mkdir()
        (root / "code" / "app.py").write_text(HANDLER.format(n=0))
        db = f"sqlite:///{root / 'app.db'}"
        server = Serve(db, root / "serve.log", "--workers", "1", "--watch", template=root / "template.yaml").start()
        published, runs = [], []
        try:
            client = server.client()
            time.sleep(0.5)
            for n in range(1, args.rounds + 1):
                (root / "code" / "app.py").write_text(HANDLER.format(n=n))
                saved = time.monotonic()
                while client.list_versions_by_function(FunctionName="Fn")["Versions"][-1]["Version"] != str(n + 1):
                    time.sleep(0.01)
                published.append(time.monotonic() - saved)
                while json.loads(client.invoke(FunctionName="Fn", Payload="{}")["Payload"].read()) != n:
                    time.sleep(0.01)
                runs.append(time.monotonic() - saved)
        finally:
            server.stop()
        deploy = [sys.executable, "-m", "perdure", "deploy", "-t", str(root / "template.yaml"), "--db", db]
        started = time.monotonic()
        subprocess.run(deploy, check=True, capture_output=True)
        unchanged = time.monotonic() - started
        (root / "code" / "app.py").write_text(HANDLER.format(n=-1))
        started = time.monotonic()
        subprocess.run(deploy, check=True, capture_output=True)
        changed = time.monotonic() - started
    print(f"serve --watch, {args.rounds} saves: save -> version published median "
          f"{statistics.median(published) * 1000:.0f} ms (max {max(published) * 1000:.0f} ms); "
          f"save -> new code runs median {statistics.median(runs) * 1000:.0f} ms (max {max(runs) * 1000:.0f} ms)")
    print(f"perdure deploy (a new process): unchanged {unchanged:.2f} s, changed {changed:.2f} s")


if __name__ == "__main__":
    main()
