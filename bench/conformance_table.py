"""Run AWS's durable-execution conformance requirements and print a per-suite table.

The requirements come from the ``aws-durable-execution-conformance-tests``
package; the functions come from a SAM template whose
``AWS::Serverless::Function`` resources map themselves to requirement ids with
``TestingMetadata: {TestDescription: ["1-1", ...]}`` (perdure's own
``tests/conformance/template.yaml``, or a third party's).

    # start a perdure server for the template, run everything, print markdown
    .venv/bin/python bench/conformance_table.py --template tests/conformance/template.yaml

    # against a server that is already running that template
    .venv/bin/python bench/conformance_table.py --template T --url http://127.0.0.1:9000

Requirements that assert CloudWatch log lines are run without that part (perdure
has no CloudWatch). Ids a template declares under ``TestingMetadata.NotImplemented``
are run too, and their failures are listed separately. Exit status is 0 unless
``--strict`` is given and a requirement not declared as not implemented failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "conformance"))

import harness  # noqa: E402


def markdown_table(results: Sequence[harness.Result]) -> str:
    """suite | passed | total | failures, one row per suite plus a total row."""
    by_suite: dict[str, list[harness.Result]] = {}
    for r in results:
        by_suite.setdefault(r.suite, []).append(r)
    order = {name: i for i, name in enumerate(harness.SUITES.values())}
    lines = ["| suite | passed | total | failures |", "|---|---:|---:|---|"]
    passed_all = 0
    for suite in sorted(by_suite, key=lambda s: (order.get(s, len(order)), s)):
        rows = by_suite[suite]
        passed = sum(r.passed for r in rows)
        passed_all += passed
        failed = [
            r.requirement_id + (" (declared not implemented)" if r.not_implemented else "")
            for r in rows
            if not r.passed
        ]
        lines.append(f"| {suite} | {passed} | {len(rows)} | {', '.join(failed) or '-'} |")
    lines.append(f"| **all** | **{passed_all}** | **{len(results)}** | |")
    return "\n".join(lines)


def failure_details(results: Sequence[harness.Result], max_errors: int = 5) -> str:
    """A bullet per failed requirement with the validator's first errors."""
    out: list[str] = []
    for r in results:
        if r.passed:
            continue
        errors = r.errors[:max_errors] or ["(no error reported)"]
        more = f" (+{len(r.errors) - max_errors} more)" if len(r.errors) > max_errors else ""
        declared = f" [declared not implemented: {r.not_implemented}]" if r.not_implemented else ""
        out.append(
            f"- **{r.requirement_id}** `{r.function_name}`{declared}: " + "; ".join(errors) + more
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run durable-execution conformance requirements; print a markdown table."
    )
    parser.add_argument(
        "--template",
        type=Path,
        default=harness.DEFAULT_TEMPLATE,
        help="SAM template mapping functions to requirement ids (default: perdure's own)",
    )
    parser.add_argument(
        "--url", help="a running server for that template (default: start perdure serve)"
    )
    parser.add_argument("--ids", nargs="*", help="only these requirement ids")
    parser.add_argument("--suite", nargs="*", help="only these suites (step, map, ...)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent requirements (8)")
    parser.add_argument("--output-dir", type=Path, help="keep execution histories here")
    parser.add_argument("--details", action="store_true", help="list each failure's errors")
    parser.add_argument(
        "--no-qualifier",
        action="store_true",
        help="invoke without Qualifier=$LATEST (the conformance package sends it)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 on an unexpected failure")
    args = parser.parse_args(argv)

    pairs = harness.template_requirements(args.template)
    ids = {rid for _, rid in pairs}
    if args.ids:
        ids &= set(args.ids)
    if args.suite:
        ids = {rid for rid in ids if harness.suite_of(rid) in set(args.suite)}
    if not ids:
        print(
            "no requirement ids selected (does the template carry TestingMetadata?)",
            file=sys.stderr,
        )
        return 2

    start = time.monotonic()
    with harness.server_for(args.template, args.url) as url:
        results = harness.run_requirements(
            args.template,
            url,
            ids,
            max_workers=args.workers,
            output_dir=args.output_dir,
            qualifier=None if args.no_qualifier else "$LATEST",
        )
    elapsed = time.monotonic() - start

    print(markdown_table(results))
    print()
    print(f"{sum(r.passed for r in results)}/{len(results)} requirements passed in {elapsed:.0f} s")
    if args.details and any(not r.passed for r in results):
        print()
        print(failure_details(results))
    unexpected = [r for r in results if not r.passed and not r.not_implemented]
    return 1 if args.strict and unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
