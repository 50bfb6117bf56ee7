"""``python -m benchmarks [collection|checks|report|all] [--quick]``: run the benchmark suite."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, is_dataclass
from typing import Any, Sequence

from ._common import machine, table

SUITES = ("collection", "checks", "report")


def _run(name: str, quick: bool, args: argparse.Namespace) -> Any:
    if name == "checks":
        from . import checks_bench

        return checks_bench.main(quick=quick, per_check=not args.no_per_check, repeat=args.repeat)
    if name == "report":
        from . import report_bench

        return report_bench.main(quick=quick)
    from . import collection_bench

    return collection_bench.main(quick=quick, latency_ms=args.latency_ms, scale=args.scale, workers=args.workers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="cloudaudit benchmarks (see docs/performance.md)")
    parser.add_argument("suite", nargs="?", default="all", choices=(*SUITES, "all"))
    parser.add_argument("--quick", action="store_true", help="every size divided by 100 (collection: SCALE 0.1)")
    parser.add_argument("--no-per-check", action="store_true", help="checks: skip the per-check table")
    parser.add_argument("--repeat", type=int, default=3,
                        help="checks: time the whole run this many times and report the median (default 3)")
    parser.add_argument("--latency-ms", type=float, default=40.0, help="collection: added latency per request")
    parser.add_argument("--scale", type=float, default=None, help="collection: estate SCALE factor (default 1)")
    parser.add_argument("--workers", type=int, default=None, help="collection: adapter thread-pool size")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown (for docs)")
    parser.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    facts = machine()
    if not args.no_header:
        print(table([[k, v] for k, v in facts.items()], ["machine", ""], args.markdown), flush=True)
        print(flush=True)
    results: dict[str, Any] = {"machine": facts}
    if args.suite == "all":
        status = _all_in_subprocesses(argv if argv is not None else sys.argv[1:], results)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(results, fh, indent=2, default=str, ensure_ascii=False)
        return status
    status = 0
    try:
        result = _run(args.suite, args.quick, args)
    except Exception as exc:  # noqa: BLE001 - reported as the suite's result, exit code 1
        print(f"== {args.suite}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        results[args.suite] = {"error": f"{type(exc).__name__}: {exc}"}
        status = 1
    else:
        if args.markdown and hasattr(result, "render"):
            print(result.render(markdown=True))
        results[args.suite] = asdict(result) if is_dataclass(result) else result
        print()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, default=str, ensure_ascii=False)
    return status


def _all_in_subprocesses(argv: Sequence[str], results: dict[str, Any]) -> int:
    """Each suite in a fresh interpreter, so one suite's memory never counts in the next one's peak RSS."""
    import subprocess
    import tempfile

    rest = [a for a in argv if a != "all"]
    if "--json" in rest:  # the parent merges the children's figures
        i = rest.index("--json")
        del rest[i:i + 2]
    status = 0
    with tempfile.TemporaryDirectory(prefix="cloudaudit-bench-") as tmp:
        for name in SUITES:
            out = f"{tmp}/{name}.json"
            code = subprocess.call([sys.executable, "-m", "benchmarks", name, "--no-header", *rest, "--json", out])
            status = status or code
            try:
                with open(out, encoding="utf-8") as fh:
                    results[name] = json.load(fh).get(name)
            except OSError:
                results[name] = {"error": f"exit code {code}"}
    return status


if __name__ == "__main__":
    raise SystemExit(main())
