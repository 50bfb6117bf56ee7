"""The ``cloudaudit`` command.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 collection
coverage below ``--min-coverage``; 3 usage, configuration or input error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from ._version import __version__
from .errors import CloudAuditError

EXIT_OK, EXIT_FINDINGS, EXIT_COVERAGE, EXIT_USAGE = 0, 1, 2, 3
FORMATS = ("html", "json", "csv", "xlsx", "ocsf")
log = logging.getLogger("cloudaudit")


class UsageError(CloudAuditError):
    """Bad command-line usage."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2; a scheduler must tell usage from coverage
        raise UsageError(f"{self.prog}: {message}")


def _options(values: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--option aws.role_name=Audit`` -> {"aws": {"role_name": "Audit"}} (JSON values allowed)."""
    out: dict[str, dict[str, Any]] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        provider, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise UsageError(f"--option {item!r}: expected PROVIDER.KEY=VALUE, e.g. aws.role_name=AuditRole")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(provider, {})[name] = value
    return out


def _keep(text: str):
    from .history import HistoryError, parse_keep

    try:
        return parse_keep(text)
    except HistoryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _progress(enabled: bool):
    from .providers.base import resolve_progress

    return resolve_progress(enabled)


def _load_policy(path: str | None):
    from .policy import Policy

    return Policy.load(path) if path else Policy()


def _format_for(output: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    if output:
        suffix = Path(output).suffix.lower().lstrip(".")
        if suffix in FORMATS:
            return suffix
        if suffix == "htm":
            return "html"
    return "json"


def _totals(findings: Any) -> str:
    """``PASS 12, FAIL 3, ...`` for the closing line of scan and demo."""
    summary = findings.summary()
    totals = summary.loc["total"].to_dict() if "total" in summary.index else {}
    return ", ".join(f"{k} {int(v)}" for k, v in totals.items())


def _cmd_collect(args: argparse.Namespace) -> int:
    from .api import collect_raw
    from .bundle import write_bundle

    if not args.provider:
        raise UsageError("collect: name at least one --provider (aws, azure, gcp)")
    policy = _load_policy(args.policy)
    collections = collect_raw(args.provider, policy=policy, options=_options(args.option),
                              progress=_progress(args.progress))
    path = write_bundle(collections, args.output)
    failed = sum(1 for c in collections for row in c.coverage if row.status != "ok")
    print(f"bundle written: {path} ({sum(len(c.records) for c in collections)} payloads, "
          f"{failed} sources not collected)")
    return EXIT_OK


def _cmd_scan(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from .api import collect_raw, normalize
    from .bundle import bundle_digest, read_bundle, write_bundle
    from .engine import SEVERITIES, run_checks
    from .history import History, HistoryLock
    from .reports import write_report
    from .views import report_context

    policy = _load_policy(args.policy)
    if args.bundle and args.provider:
        raise UsageError("scan: use either --bundle or --provider, not both")
    if not args.bundle and not args.provider:
        raise UsageError("scan: give --bundle PATH or at least one --provider")
    if args.fail_on_new and not args.history:
        raise UsageError("scan: --fail-on-new needs --history")
    if args.keep and not args.history:
        raise UsageError("scan: --keep needs --history")
    fmt = _format_for(args.output, args.format)
    output = args.output or f"cloudaudit-findings.{fmt}"
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as locks:
        # Two overlapping runs must never write the same report or history: the second stops here.
        locks.enter_context(HistoryLock(Path(output).parent / f".{Path(output).name}"))  # hidden .NAME.lock
        history = locks.enter_context(History(args.history)) if args.history else None
        if history is not None:
            locks.enter_context(history.lock())
        if args.bundle:
            log.info("reading bundle %s", args.bundle)
            _, collections = read_bundle(args.bundle)
            digest = bundle_digest(args.bundle)
        else:
            log.info("collecting %s", ", ".join(args.provider))
            collections = collect_raw(args.provider, policy=policy, options=_options(args.option),
                                      progress=_progress(args.progress))
            digest = None
            if args.save_bundle:
                write_bundle(collections, args.save_bundle)
                digest = bundle_digest(args.save_bundle)
        inventory = normalize(collections)
        # a replayed bundle is judged as of its collection (a key's age then, not today)
        as_of = max((c.finished or c.started for c in collections), default=None) if args.bundle else None
        findings = run_checks(inventory, policy, checks=args.check or None, as_of=as_of, collected_at=as_of)
        findings.meta.update({"bundle_sha256": digest, "providers": [c.provider for c in collections],
                              "policy_source": policy.source})
        drift = None
        if history is not None and len(history.runs()):
            drift = findings.diff(history.findings("latest"))
        context = report_context(inventory, policy, bundle_hash=digest, drift=drift)
        path = write_report(findings, output, fmt=fmt, lang=args.lang, **context)
        # Recorded only once the report is safely written, so history never holds a run without one.
        run = history.record(findings, findings.meta) if history is not None else None
        if run is not None and args.keep:
            pruned = history.prune(args.keep)
            if pruned:
                log.info("pruned %d old runs", len(pruned))
    coverage = findings.coverage()
    print(f"{path}: {_totals(findings)}; coverage {coverage['ratio']:.0%}")
    if run is not None:
        print(run.text())
    if coverage["ratio"] < args.min_coverage:
        print(f"coverage {coverage['ratio']:.0%} is below --min-coverage {args.min_coverage:.0%}", file=sys.stderr)
        return EXIT_COVERAGE
    if args.fail_on:
        threshold = SEVERITIES.index(args.fail_on)
        if args.fail_on_new:
            failing = run.new_failing(args.fail_on)
            what = "new findings"
        else:
            core = findings.core
            failing = core[(core["status"] == "FAIL") & (core["severity"].cat.codes >= threshold)]
            what = "findings"
        if len(failing):
            print(f"{len(failing)} {what} at or above {args.fail_on}", file=sys.stderr)
            return EXIT_FINDINGS
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from .history import History

    with History(args.history, create=False) as history:
        drift = history.drift(args.run_a, args.run_b)
    if args.json:
        print(drift.to_json(orient="records", force_ascii=False, date_format="iso", indent=1))
        return EXIT_OK
    counts = drift["change"].value_counts()
    drift = drift.astype(object).where(drift.notna(), None)
    for row in drift.itertuples():
        print(f"{row.change:10} {row.check_id:9} {row.provider or '-':5} {row.account_id or '-':14} "
              f"{row.resource_id or '-'}  {row.status_before or '-'} -> {row.status_after or '-'}")
    print(", ".join(f"{k} {int(counts.get(k, 0))}" for k in ("new", "resolved", "persisting")))
    return EXIT_OK


def _cmd_runs(args: argparse.Namespace) -> int:
    from .history import History

    with History(args.history, create=False) as history:
        runs = history.runs()
    cols = [c for c in ("run_id", "started", "providers", "coverage_ratio", "FAIL", "ERROR") if c in runs.columns]
    print(runs[cols].to_string(index=False) if len(runs) else "no runs")
    return EXIT_OK


def _cmd_checks(args: argparse.Namespace) -> int:
    from .engine import checks_table

    table = checks_table()
    if args.json:
        print(table.to_json(orient="records", force_ascii=False, indent=1))
        return EXIT_OK
    title = "title_ja" if args.lang == "ja" else "title"
    for row in table.itertuples():
        print(f"{row.check_id:9} {row.severity:8} {getattr(row, title)}  [{row.controls}]  ({row.providers})")
    print(f"{len(table)} checks")
    return EXIT_OK


def _cmd_controls(args: argparse.Namespace) -> int:
    from . import catalog
    from .engine import registry

    controls = catalog.controls()
    covering: dict[str, list[str]] = {}
    for c in registry().values():
        for ctl in c.controls:
            covering.setdefault(ctl, []).append(c.id)
    if args.json:
        controls = controls.assign(checks=controls["control"].map(lambda c: covering.get(c, [])))
        print(controls.to_json(orient="records", force_ascii=False, indent=1))
        return EXIT_OK
    title = "title_ja" if args.lang == "ja" else "title"
    for row in controls.itertuples():
        checks = ", ".join(covering.get(row.control, [])) or "manual"
        print(f"{row.control:11} {getattr(row, title)}  (2022: {row.iso27002_2022})  -> {checks}")
    automated = sum(1 for c in controls["control"] if c in covering)
    print(f"{len(controls)} controls, {automated} covered by checks, {len(controls) - automated} manual")
    return EXIT_OK


def _cmd_policy_example(args: argparse.Namespace) -> int:
    from importlib import resources

    sys.stdout.write(resources.files("cloudaudit").joinpath("data/policy-example-jp.toml").read_text("utf-8"))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    print("cloudaudit demo: auditing a sample estate (AWS live from a local emulator, Azure and GCP "
          "from sample evidence) ...", file=sys.stderr)
    result = run_demo(args.output, lang=args.lang, progress=_progress(args.progress))
    print(f"findings: {_totals(result.findings)}")
    print(f"report:   {result.report}")
    for path in result.outputs:
        if path != result.report:
            print(f"          {path}")
    return EXIT_OK


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                           "logger": record.name, "message": record.getMessage()}, ensure_ascii=False)


def _setup_logging(debug: bool, as_json: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines() if as_json else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("cloudaudit").setLevel(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
    if not debug:  # SDK chatter (credential-chain attempts, retries) would drown the one error line
        for name in ("azure", "google", "botocore", "urllib3", "msal"):
            logging.getLogger(name).setLevel(logging.ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cloudaudit", description="ISO/IEC 27017 audits of AWS, Azure and GCP tenancies.")
    parser.add_argument("--version", action="version", version=f"cloudaudit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--log-json", action="store_true", help="log lines on stderr as JSON objects")
    parser.add_argument("--verbose", "-v", action="store_true", help="log progress lines on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def live(p: argparse.ArgumentParser) -> None:
        p.add_argument("--provider", action="append", choices=["aws", "azure", "gcp"], default=[],
                       help="provider to collect live (repeatable)")
        p.add_argument("--policy", help="audit policy TOML (default: built-in Japan-only policy)")
        p.add_argument("--option", action="append", default=[], metavar="PROVIDER.KEY=VALUE",
                       help="provider option, e.g. aws.role_name=AuditRole (repeatable)")
        p.add_argument("--no-progress", dest="progress", action="store_false", default=sys.stderr.isatty(),
                       help="no progress bars (the default when stderr is not a terminal)")

    p = sub.add_parser("collect", help="collect live evidence into a bundle (directory or .zip)")
    live(p)
    p.add_argument("--output", "-o", required=True, help="bundle path (.zip or directory)")
    p.set_defaults(run=_cmd_collect)

    p = sub.add_parser("scan", help="audit live clouds or a bundle and write findings / a report")
    live(p)
    p.add_argument("--bundle", help="evidence bundle to audit offline")
    p.add_argument("--save-bundle", help="also keep the live evidence as a bundle here")
    p.add_argument("--output", "-o", help="report path (format from the extension unless --format)")
    p.add_argument("--format", "-f", choices=FORMATS)
    p.add_argument("--lang", choices=["en", "ja"], default="en")
    p.add_argument("--check", action="append", default=[], help="run only this check id (repeatable)")
    p.add_argument("--fail-on", choices=["info", "low", "medium", "high", "critical"],
                   help="exit 1 when a FAIL at or above this severity exists")
    p.add_argument("--min-coverage", type=float, default=0.0,
                   help="exit 2 when the share of evaluated results is below this (0..1)")
    p.add_argument("--history", help="record the run in this SQLite history (drift, first-seen dates)")
    p.add_argument("--keep", type=_keep, help="with --history: prune runs older than this, e.g. 90d, 12w, 6m")
    p.add_argument("--fail-on-new", action="store_true",
                   help="with --fail-on: count only findings that are new since the previous run")
    p.set_defaults(run=_cmd_scan)

    p = sub.add_parser("diff", help="compare two recorded runs (new / resolved / persisting)")
    p.add_argument("run_a", nargs="?", default="previous", help="run id, unique prefix, 'previous' (default)")
    p.add_argument("run_b", nargs="?", default="latest", help="run id, unique prefix, 'latest' (default)")
    p.add_argument("--history", required=True, help="history database written by scan --history")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_diff)

    p = sub.add_parser("runs", help="list the runs recorded in a history database")
    p.add_argument("--history", required=True)
    p.set_defaults(run=_cmd_runs)

    for name, func, text in (("checks", _cmd_checks, "list the checks with their controls"),
                             ("controls", _cmd_controls, "list the ISO 27017 control catalog and coverage")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--json", action="store_true")
        p.add_argument("--lang", choices=["en", "ja"], default="en")
        p.set_defaults(run=func)

    p = sub.add_parser("demo", help="audit a built-in sample estate (no cloud account needed)")
    p.add_argument("--output", "-o", help="folder for the outputs (default: a new folder here)")
    p.add_argument("--lang", choices=["en", "ja"], default="en")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=sys.stderr.isatty())
    p.set_defaults(run=_cmd_demo)

    p = sub.add_parser("policy-example", help="print a commented example policy (Japan only)")
    p.set_defaults(run=_cmd_policy_example)
    return parser


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 40] + " ... (--debug shows the whole message)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    _setup_logging(debug, "--log-json" in argv, "--verbose" in argv or "-v" in argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args.run(args))
    except CloudAuditError as exc:
        if debug:
            raise
        # one line, whatever the SDK put into the message (Azure's credential chain spans many)
        print(f"cloudaudit: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cloudaudit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback with --debug
        if debug:
            raise
        print(f"cloudaudit: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
              "(rerun with --debug for details)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
