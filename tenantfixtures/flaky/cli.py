"""Console subcommands of the flaky detector (nightly, report, ingest, quarantine).

Handlers are thin: parse, call the module that does the work, turn known errors into one line
on stderr and exit code 2.
"""

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tenantfixtures.flaky import quarantine
from tenantfixtures.flaky.junit import IngestError, ingest
from tenantfixtures.flaky.meta import run_metadata
from tenantfixtures.flaky.nightly import run_nightly
from tenantfixtures.flaky.report import build_report, render
from tenantfixtures.flaky.runner import RunError
from tenantfixtures.flaky.store import (
    DEFAULT_HISTORY,
    Store,
    StoreError,
    open_store,
    spool_dir_for,
)

Handler = Callable[[argparse.Namespace], int]
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def since_arg(value: str) -> float:
    """``14d``, ``12h``, ``30m`` or ``2w`` as an epoch cut-off."""
    match = re.fullmatch(r"(\d+)([mhdw])", value.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"--since {value!r}: use a number and m/h/d/w, e.g. 14d")
    return time.time() - int(match.group(1)) * _UNITS[match.group(2)]


def _guarded(name: str, handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (CliError, StoreError, quarantine.QuarantineError) as exc:
            print(f"tenantfixtures {name}: error: {exc}", file=sys.stderr)
            return 2

    return run


def _store(args: argparse.Namespace) -> Store:
    """Open the store and import journals that earlier runs could not store."""
    store = open_store(args.history)
    store.import_pending(spool_dir_for(store.target, Path.cwd()))
    return store


def _entries(path: str | None) -> list[quarantine.Entry]:
    if path:
        return quarantine.load(Path(path))
    default = Path(quarantine.DEFAULT_FILE)
    return quarantine.load(default) if default.is_file() else []


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def cmd_report(args: argparse.Namespace) -> int:
    target = args.history or os.environ.get("TENANTFIXTURES_HISTORY") or DEFAULT_HISTORY
    if "://" not in target and not Path(target).is_file():
        raise CliError(f"no history store at {target}: record with --tf-history or pass --history")
    store = _store(args)
    try:
        report = build_report(store, args.since, _entries(args.quarantine), args.release_after)
    finally:
        store.close()
    _write(render(report, args.format), args.output)
    return 0


def cmd_nightly(args: argparse.Namespace) -> int:
    pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    if args.rounds < 1:
        raise CliError("--rounds must be at least 1")
    store = _store(args)
    try:
        try:
            result = run_nightly(store, pytest_args, args.rounds, args.seed)
        except RunError as exc:
            raise CliError(f"{exc}\nfix the pytest arguments after '--' and run again") from exc
        report = build_report(store, None, _entries(args.quarantine), args.release_after)
    finally:
        store.close()
    _write(render(report, args.format), args.output)
    print(
        f"nightly: {len(result.run_ids)} rounds, {result.sessions} pytest sessions, "
        f"{len(result.verdicts)} suspects confirmed, {len(result.new_unhealthy)} new",
        file=sys.stderr,
    )
    return 1 if args.fail_on_new_flakes and result.new_unhealthy else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    rootdir = Path(args.rootdir)
    meta = run_metadata(rootdir)
    overrides = {
        "commit": args.commit,
        "branch": args.branch,
        "ci_job": args.job,
        "shard": args.shard,
    }
    meta.update({key: value for key, value in overrides.items() if value})
    store = _store(args)
    try:
        for name in args.files:
            try:
                count = ingest(store, Path(name), rootdir, meta)
            except IngestError as exc:
                raise CliError(str(exc)) from exc
            print(f"{name}: {count} attempts imported" if count else f"{name}: already imported")
    finally:
        store.close()
    return 0


def cmd_quarantine_check(args: argparse.Namespace) -> int:
    path = Path(args.file)
    stale = quarantine.expired(quarantine.load(path))
    if stale:
        print(quarantine.expiry_message(stale, path), file=sys.stderr)
        return 1
    print(f"{path}: all entries valid")
    return 0


def _history_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--history",
        metavar="PATH_OR_URL",
        help=f"history store (default $TENANTFIXTURES_HISTORY or {DEFAULT_HISTORY})",
    )


def _report_options(parser: argparse.ArgumentParser) -> None:
    _history_option(parser)
    parser.add_argument("--format", choices=("md", "html", "json", "junit"), default="md")
    parser.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--quarantine", metavar="FILE", help=f"default ./{quarantine.DEFAULT_FILE}")
    parser.add_argument(
        "--release-after",
        type=int,
        default=30,
        metavar="N",
        help="suggest releasing a quarantined test after N clean attempts (default 30)",
    )


def add_commands(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the flaky detector's subcommands on the `tenantfixtures` console script."""
    report = subparsers.add_parser("report", help="classify the recorded history and report it")
    _report_options(report)
    report.add_argument("--since", type=since_arg, help="only attempts newer than e.g. 14d")
    report.set_defaults(handler=_guarded("report", cmd_report))

    nightly = subparsers.add_parser(
        "nightly",
        help="run the suite N times in varied order/parallelism, confirm suspects, report",
        usage="tenantfixtures nightly --rounds N [options] -- <pytest args>",
    )
    nightly.add_argument("--rounds", type=int, default=10, help="suite runs (default 10)")
    nightly.add_argument("--seed", type=int, help="base seed of the shuffles (default random)")
    nightly.add_argument(
        "--fail-on-new-flakes",
        action="store_true",
        help="exit 1 when a test is found flaky/order-dependent/parallel-only for the first time",
    )
    _report_options(nightly)
    nightly.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: pytest args")
    nightly.set_defaults(handler=_guarded("nightly", cmd_nightly))

    ingest_parser = subparsers.add_parser("ingest", help="import JUnit XML files into the history")
    _history_option(ingest_parser)
    ingest_parser.add_argument("files", nargs="+", metavar="JUNIT_XML")
    ingest_parser.add_argument("--rootdir", default=".", help="maps pytest classnames to files")
    for flag in ("commit", "branch", "job", "shard"):
        ingest_parser.add_argument(
            f"--{flag}", help=f"{flag} of that run (default: this checkout/CI)"
        )
    ingest_parser.set_defaults(handler=_guarded("ingest", cmd_ingest))

    quarantine_parser = subparsers.add_parser("quarantine", help="quarantine file checks")
    actions = quarantine_parser.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="exit 1 if an entry expired, 2 if the file is bad")
    check.add_argument("file", nargs="?", default=quarantine.DEFAULT_FILE)
    check.set_defaults(handler=_guarded("quarantine check", cmd_quarantine_check))
