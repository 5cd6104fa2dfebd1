"""Node (TypeScript) functions on ``perdure serve``, side by side in one run:

  1  one execution of 100 sequential ``context.step`` calls, each returning a small
     value: ``perdure serve`` (SQLite, a synchronous boto3 ``Invoke``) against the same
     handler under AWS's JavaScript testing kit (``LocalDurableTestRunner`` of
     ``@aws/durable-execution-sdk-js-testing``: in memory, real time), and the Python
     handler of bench/handlers.py on ``perdure serve`` for reference;
  2  cold start of a Node runtime process: the first invocation of a function (the
     first after ``perdure serve`` started, then one new function after another)
     against the warm invocations that follow, as the client sees them and as
     ``/metrics`` (``perdure_sandbox_cold_start_seconds``) reports them;
  3  memory of the warm runtime processes (``perdure_sandbox_memory_bytes``, and RSS
     and PSS of every Node process under the server, read from /proc);
  4  throughput: N three-step executions started at once (``InvocationType=Event``),
     from the first start until none is RUNNING, the Node handler against the Python
     one.

The TypeScript fixtures are in bench/node/: ``perdure serve`` bundles them with
esbuild as ``sam build`` does (``Metadata: BuildMethod: esbuild``), with the packages of
the repository's root ``node_modules`` (``npm ci``). The Node and the Python functions
run on two ``perdure serve`` processes with the same settings (a worker process runs
one function version at a time, so sharing one server would make every switch between
the two a cold start); rounds are interleaved so the machine's noise hits all alike.

    python bench/node.py [--quick] [--rounds 7] [--steps 100] [--cold-starts 5] [--warm 5]
                         [--executions 400] [--throughput-rounds 2] [--threads N] [--sandboxes N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "node"
sys.path.insert(0, str(HERE))

CLIENT_THREADS = 8  # boto3 requests in flight at once when starting executions
THREE = 3

BUILD = "{EntryPoints: [sequential.ts], Format: cjs, Target: es2022, Sourcemap: true}"
NODE_PROPERTIES = f"{{Runtime: nodejs24.x, Handler: sequential.handler, CodeUri: {FIXTURES}}}"
HEADER = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 120
    DurableConfig: {ExecutionTimeout: 900, RetentionPeriodInDays: 1}
Resources:
"""


def node_template(directory: Path, cold_functions: int) -> Path:
    """``Sequential`` and ``Cold1``... (the same bundle: a build is shared), each a
    function of its own and so a runtime process of its own."""
    names = ["Sequential", *(f"Cold{n}" for n in range(1, cold_functions + 1))]
    path = directory / "node" / "template.yaml"
    path.parent.mkdir()
    path.write_text(HEADER + "".join(
        f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties: {NODE_PROPERTIES}\n"
        f"    Metadata: {{BuildMethod: esbuild, BuildProperties: {BUILD}}}\n"
        for name in names
    ))
    return path


def python_template(directory: Path) -> Path:
    path = directory / "python" / "template.yaml"
    path.parent.mkdir()
    path.write_text(
        HEADER + f"  Sequential: {{Type: AWS::Serverless::Function, "
        f"Properties: {{Runtime: python3.13, Handler: handlers.sequential, CodeUri: {HERE}}}}}\n"
    )
    return path


# -- the servers ----------------------------------------------------------------------


@dataclass
class Server:
    label: str
    url: str
    lam: Any
    pid: int

    def invoke(self, function: str, steps: int) -> float:
        """A synchronous invoke to its result, in seconds."""
        started = time.perf_counter()
        response = self.lam.invoke(FunctionName=function, Payload=json.dumps({"steps": steps}).encode())
        body = response["Payload"].read().decode()
        elapsed = time.perf_counter() - started
        assert "FunctionError" not in response and body == str(sum(range(steps))), body
        return elapsed

    def throughput(self, executions: int) -> float:
        """Executions per second of ``executions`` 3-step executions started at once."""
        payload = json.dumps({"steps": THREE}).encode()

        def start(_: int) -> str:
            response = self.lam.invoke(FunctionName="Sequential", InvocationType="Event", Payload=payload)
            response["Payload"].read()  # hands the connection back to boto3's pool
            return str(response["DurableExecutionArn"])

        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            arns = list(pool.map(start, range(executions)))
        deadline = time.monotonic() + 600
        while self.lam.list_durable_executions_by_function(
            FunctionName="Sequential", Statuses=["RUNNING"], MaxItems=1
        )["DurableExecutions"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.label}: executions still running after 600 s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        failed = [a for a in arns if self.lam.get_durable_execution(DurableExecutionArn=a)["Status"] != "SUCCEEDED"]
        assert not failed, f"{len(failed)} executions did not succeed, e.g. {failed[0]}"
        return executions / elapsed

    def metrics(self) -> dict[tuple[str, str], float]:
        """``/metrics`` as {(sample name, function): value}."""
        import urllib.request

        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            text = response.read().decode()
        return {
            (sample.name, sample.labels.get("function", "")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def cold_starts(self, function: str) -> int:
        return int(self.metrics().get(("perdure_sandbox_cold_start_seconds_count", function), 0))


@contextmanager
def serving(label: str, template: Path, tmp: Path, args: argparse.Namespace, env: dict[str, str]) -> Iterator[Server]:
    import boto3
    from botocore.config import Config
    from pgfleet import Command, free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sizing = ["--threads", str(args.threads)] if args.threads else []
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        server = Command(
            "serve", "-t", str(template), "--db", f"sqlite:///{template.parent}/serve.db", "--port", str(port), *sizing,
            log=tmp / f"serve-{template.parent.name}.log",
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        server.wait_for_http(url, timeout=120)  # the Node server bundles its functions first
        config = Config(retries={"max_attempts": 0}, read_timeout=300, max_pool_connections=CLIENT_THREADS)
        lam = boto3.client(
            "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
            aws_secret_access_key="x", config=config,
        )
        yield Server(label, url, lam, server.proc.pid)
    finally:
        server.stop()


# -- AWS's local runner ---------------------------------------------------------------


def _node_modules() -> Path:
    for directory in (FIXTURES, *FIXTURES.parents):
        candidate = directory / "node_modules"
        if (candidate / "@aws" / "durable-execution-sdk-js-testing").is_dir():
            return candidate
    raise SystemExit("@aws/durable-execution-sdk-js-testing is not installed: run `npm ci` at the repository root")


class LocalRunner:
    """bench/node/local_runner.ts, bundled once (its packages left to node_modules)."""

    def __init__(self, tmp: Path) -> None:
        from perdure.deploy import find_node
        from perdure.deploy.esbuild import find_esbuild

        self.node = str(find_node().node)
        self.script = tmp / "local_runner.js"
        subprocess.run(
            [str(find_esbuild(FIXTURES)), str(FIXTURES / "local_runner.ts"), "--bundle", "--platform=node",
             "--format=cjs", "--target=node22", "--packages=external", f"--outfile={self.script}", "--log-level=warning"],
            check=True,
        )
        self.env = {**os.environ, "NODE_PATH": str(_node_modules())}

    def run(self, steps: int, runs: int) -> list[float]:
        """``runs`` executions after one warm-up, each in seconds."""
        done = subprocess.run(
            [self.node, str(self.script), str(steps), str(runs)], env=self.env, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise RuntimeError(f"local runner failed ({done.returncode}): {done.stderr[-2000:]}")
        seconds: list[float] = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        return seconds


# -- memory of the runtime processes --------------------------------------------------


def node_processes(root: int) -> list[int]:
    """The Node processes among ``root``'s descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                program = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if Path(program.decode(errors="replace")).name == "node":
                found.append(child)
    return found


def memory_of(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) in bytes, from /proc/PID/smaps_rollup."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                fields[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError):
        return None
    return (fields["Rss"], fields["Pss"]) if len(fields) == 2 else None


# -- the run --------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"steps": {}, "cold": [], "warm": [], "cold_metric": [], "throughput": {}, "first_burst": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        local = LocalRunner(tmp)
        node_env = {"PERDURE_SANDBOXES": str(args.sandboxes)} if args.sandboxes else {}
        with (
            serving("Node", node_template(tmp, args.cold_starts), tmp, args, node_env) as node,
            serving("Python", python_template(tmp), tmp, args, {}) as python,
        ):
            print("cold starts", file=sys.stderr)
            out["load"] = {"cold": os.getloadavg()[0]}
            for n in range(1, args.cold_starts + 1):
                function = f"Cold{n}"
                before = node.cold_starts(function)
                latency = node.invoke(function, 1)
                cold = node.cold_starts(function) - before
                out["cold" if cold else "warm"].append(latency)
                for _ in range(args.warm):
                    before = node.cold_starts(function)
                    latency = node.invoke(function, 1)
                    # Another worker process may take it, and start a runtime process of its own.
                    out["cold" if node.cold_starts(function) > before else "warm"].append(latency)
                metrics = node.metrics()
                count = metrics.get(("perdure_sandbox_cold_start_seconds_count", function), 0)
                if count:
                    out["cold_metric"].append(metrics[("perdure_sandbox_cold_start_seconds_sum", function)] / count)
            out["first_after_start"] = out["cold"][0] if out["cold"] else None

            print(f"{args.steps} steps", file=sys.stderr)
            out["load"]["steps"] = os.getloadavg()[0]
            node.invoke("Sequential", 1), python.invoke("Sequential", 1)  # warm: a runtime process, imports
            systems: dict[str, Callable[[], float]] = {
                "perdure": lambda: warm_invoke(node, args.steps, out),
                "local": lambda: local.run(args.steps, 1)[0],
                "python": lambda: python.invoke("Sequential", args.steps),
            }
            names = list(systems)
            for n in range(args.rounds):
                for name in names[n % len(names):] + names[: n % len(names)]:
                    out["steps"].setdefault(name, []).append(systems[name]())

            print("throughput", file=sys.stderr)
            out["load"]["throughput"] = os.getloadavg()[0]
            servers = [node, python]
            for server in servers:  # the first burst starts the runtime processes and warms the imports
                out["first_burst"][server.label] = server.throughput(args.executions)
            for n in range(args.throughput_rounds):
                for server in servers[n % 2:] + servers[: n % 2]:
                    out["throughput"].setdefault(server.label, []).append(server.throughput(args.executions))

            metrics = node.metrics()
            out["sandbox_processes"] = metrics.get(("perdure_sandbox_processes", ""), 0)
            out["memory_metric"] = metrics.get(("perdure_sandbox_memory_bytes", "Sequential"))
            out["memory"] = [m for m in map(memory_of, node_processes(node.pid)) if m is not None]
    return out


def warm_invoke(node: Server, steps: int, out: dict[str, Any]) -> float:
    """The 100-step execution on a warm runtime process: one that ran on a cold one
    (another worker process took it) is counted apart and run again."""
    for _ in range(5):
        before = node.cold_starts("Sequential")
        elapsed = node.invoke("Sequential", steps)
        if node.cold_starts("Sequential") == before:
            return elapsed
        out["steps_cold_retries"] = out.get("steps_cold_retries", 0) + 1
    raise RuntimeError("every run of the execution started a runtime process")


# -- the report -----------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)


def report(out: dict[str, Any], args: argparse.Namespace, load: tuple[float, float]) -> None:
    from perdure.deploy import find_node

    node = find_node()
    print(f"node.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"Node {node.version_text}; load average {load[0]:.2f} at start, {load[1]:.2f} at end")
    threads = f", --threads {args.threads}" if args.threads else ""
    sandboxes = f", PERDURE_SANDBOXES={args.sandboxes}" if args.sandboxes else ""
    print(f"perdure serve on SQLite, default worker processes{threads}{sandboxes}; medians, every sample in brackets")

    steps = out["steps"]
    perdure, local, python = (statistics.median(steps[k]) for k in ("perdure", "local", "python"))
    print(f"\n1) one execution of {args.steps} sequential steps, start to result ({args.rounds} rounds; ms; "
          f"load {out['load']['steps']:.2f})")
    rows = [
        ("perdure serve, TypeScript (boto3 Invoke)", perdure, steps["perdure"]),
        ("AWS LocalDurableTestRunner (JS, in memory)", local, steps["local"]),
        ("perdure serve, Python (boto3 Invoke)", python, steps["python"]),
    ]
    for label, median, values in rows:
        print(f"  {label:<46}{median * 1000:>8.1f}  {median / args.steps * 1000:>6.2f}/step   [{_ms(values)}]")
    if out.get("steps_cold_retries"):
        print(f"  ({out['steps_cold_retries']} run(s) on a new runtime process left out and run again)")
    print(f"  ratio perdure / local runner: {perdure / local:.2f}x (under 1.0: perdure took less time)")

    print(f"\n2) cold start of a Node runtime process: a 1-step execution, synchronous Invoke (ms; "
          f"load {out['load']['cold']:.2f})")
    cold, warm = out["cold"], out["warm"]
    if out.get("first_after_start") is not None:
        print(f"  {'first invocation after perdure serve started':<46}{out['first_after_start'] * 1000:>8.1f}")
    if cold and warm:
        print(f"  {'first invocation of a function (cold)':<46}{statistics.median(cold) * 1000:>8.1f}   [{_ms(cold)}]")
        print(f"  {'following invocations (warm)':<46}{statistics.median(warm) * 1000:>8.1f}   [{_ms(warm)}]")
        extra = statistics.median(cold) - statistics.median(warm)
        print(f"  {'cold - warm':<46}{extra * 1000:>8.1f}   ratio cold / warm {statistics.median(cold) / statistics.median(warm):.1f}x")
    if out["cold_metric"]:
        metric = out["cold_metric"]
        print(f"  {'perdure_sandbox_cold_start_seconds (/metrics)':<46}{statistics.median(metric) * 1000:>8.1f}   [{_ms(metric)}]")

    print("\n3) memory of the Node runtime processes (MiB)")
    if out.get("memory_metric"):
        print(f"  {'perdure_sandbox_memory_bytes (last invocation)':<46}{out['memory_metric'] / 2**20:>8.1f}")
    memory = out["memory"]
    if memory:
        rss = [m[0] / 2**20 for m in memory]
        pss = [m[1] / 2**20 for m in memory]
        print(f"  {'RSS per process (/proc), median / max':<46}{statistics.median(rss):>8.1f} / {max(rss):.1f}   "
              f"({len(memory)} processes after the throughput rounds)")
        print(f"  {'PSS per process (shared pages split), median':<46}{statistics.median(pss):>8.1f}   total {sum(pss):.0f}")

    print(f"\n4) throughput: {args.executions} executions of {THREE} steps started at once "
          f"({args.throughput_rounds} rounds; load {out['load']['throughput']:.2f}; executions/s, higher is better; the first burst,\n"
          "   which starts the runtime processes and is not in the median, after the samples)")
    rates = out["throughput"]
    for label in ("Node", "Python"):
        values = rates[label]
        print(f"  {'perdure serve, ' + ('TypeScript' if label == 'Node' else 'Python'):<46}{statistics.median(values):>8.1f}   "
              f"[{', '.join(f'{v:.1f}' for v in values)}]   first burst {out['first_burst'][label]:.1f}")
    print(f"  ratio TypeScript / Python: {statistics.median(rates['Node']) / statistics.median(rates['Python']):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI-sized: 3 rounds, 2 cold starts, 100 executions, 1 round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the sequential execution")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--cold-starts", type=int, default=5, help="functions whose first invocation is timed")
    parser.add_argument("--warm", type=int, default=5, help="warm invocations after each first one")
    parser.add_argument("--executions", type=int, default=400)
    parser.add_argument("--throughput-rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, help="perdure: invocations per worker process (default: perdure's)")
    parser.add_argument("--sandboxes", type=int, help="PERDURE_SANDBOXES for the Node server (default: perdure's)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.cold_starts, args.warm, args.executions, args.throughput_rounds = 3, 2, 3, 100, 1
    load = os.getloadavg()[0]
    out = measure(args)
    report(out, args, (load, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
