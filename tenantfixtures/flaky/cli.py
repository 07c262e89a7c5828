"""Console subcommands of the flaky detector (nightly, report, replay, durations, ingest,
quarantine).

Handlers are thin: parse, call the module that does the work, turn known errors into one line
on stderr and exit code 2.
"""

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from tenantfixtures.flaky import quarantine
from tenantfixtures.flaky.junit import IngestError, ingest
from tenantfixtures.flaky.meta import run_metadata
from tenantfixtures.flaky.nightly import run_nightly
from tenantfixtures.flaky.replay import ReplayError, replay
from tenantfixtures.flaky.report import FORMATS, build_report, render
from tenantfixtures.flaky.runner import RunError
from tenantfixtures.flaky.schema import REPORT_SCHEMA
from tenantfixtures.flaky.store import (
    DEFAULT_HISTORY,
    EXECUTED,
    Store,
    StoreError,
    attempts,
    history_target,
    label,
    open_store,
    spool_dir_for,
)
from tenantfixtures.redact import redact

Handler = Callable[[argparse.Namespace], int]
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DEFAULT_ROUNDS = 10
DEFAULT_RELEASE_AFTER = 30


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def since_arg(value: str) -> float:
    """14d, 12h, 30m or 2w as an epoch cut-off."""
    match = re.fullmatch(r"(\d+)([mhdw])", value.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"--since {value!r}: use a number and m/h/d/w, e.g. 14d")
    return time.time() - int(match.group(1)) * _UNITS[match.group(2)]


def _guarded(name: str, handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (CliError, StoreError, ReplayError, quarantine.QuarantineError) as exc:
            print(f"tenantfixtures {name}: error: {redact(str(exc))}", file=sys.stderr)
            return 2

    return run


def _store(args: argparse.Namespace) -> Store:
    """Open the store and import journals that earlier runs could not store."""
    store = open_store(args.history)
    store.import_pending(spool_dir_for(store.target, Path.cwd()))
    return store


def _existing_store(args: argparse.Namespace) -> Store:
    target = history_target(args.history)
    if "://" not in target and not Path(target).is_file():
        raise CliError(
            f"no history store at {label(target)}: record with --tf-history or pass --history"
        )
    return _store(args)


def _entries(path: str | None) -> list[quarantine.Entry]:
    """The quarantine entries in force: an expired one is named on stderr and not applied."""
    file = Path(path or quarantine.DEFAULT_FILE)
    if not path and not file.is_file():
        return []
    entries = quarantine.load(file)
    stale = quarantine.expired(entries)
    if stale:
        message = quarantine.expiry_message(stale, file)
        print(f"{message}\nexpired entries are not applied: those tests count", file=sys.stderr)
    return [entry for entry in entries if entry not in stale]


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def cmd_report(args: argparse.Namespace) -> int:
    if args.schema:
        _write(json.dumps(REPORT_SCHEMA, indent=2) + "\n", args.output)
        return 0
    store = _existing_store(args)
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
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise CliError("--max-minutes must be more than 0")
    store = _store(args)
    try:
        try:
            result = run_nightly(
                store, pytest_args, args.rounds, args.seed, max_minutes=args.max_minutes
            )
        except RunError as exc:
            raise CliError(f"{exc}\nfix the pytest arguments after '--' and run again") from exc
        report = build_report(store, None, _entries(args.quarantine), args.release_after)
    finally:
        store.close()
    _write(render(report, args.format), args.output)
    budget = ""
    if result.budget_exhausted:
        budget = " (--max-minutes reached: unconfirmed verdicts marked)"
    print(
        f"nightly: {len(result.run_ids)} rounds in {result.rounds_seconds:.0f} s, confirmation"
        f" in {result.confirm_seconds:.0f} s, {result.sessions} pytest sessions,"
        f" {len(result.verdicts)} suspects judged, {len(result.new_unhealthy)} new{budget}",
        file=sys.stderr,
    )
    return 1 if args.fail_on_new_flakes and result.new_unhealthy else 0


def cmd_replay(args: argparse.Namespace) -> int:
    store = _existing_store(args)
    try:
        return replay(store, args.nodeid, args.run, dry_run=args.dry_run)
    finally:
        store.close()


def cmd_durations(args: argparse.Namespace) -> int:
    """Median duration per test, as pytest-split's .test_durations (JSON: node id -> s)."""
    store = _existing_store(args)
    query = (
        sa.select(attempts.c.nodeid, attempts.c.duration)
        .where(attempts.c.outcome.in_(EXECUTED))
        .order_by(attempts.c.nodeid)
    )
    if args.since is not None:
        query = query.where(attempts.c.started_at >= args.since)
    samples: dict[str, list[float]] = {}
    try:
        with store.connect() as conn:
            for nodeid, duration in conn.execute(query):
                samples.setdefault(nodeid, []).append(float(duration))
    finally:
        store.close()
    medians = {nodeid: round(statistics.median(d), 6) for nodeid, d in sorted(samples.items())}
    _write(json.dumps(medians, indent=2) + "\n", args.output)
    if args.output:
        print(f"{args.output}: median durations of {len(medians)} tests", file=sys.stderr)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    rootdir = Path(args.rootdir)
    meta = run_metadata(rootdir)
    meta["commit"] = args.commit or meta["commit"]
    meta["branch"] = args.branch or meta["branch"]
    meta["ci_job"] = args.job or meta["ci_job"]
    meta["shard"] = args.shard or meta["shard"]
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
    entries = quarantine.load(path)
    stale = quarantine.expired(entries)
    if stale:
        print(quarantine.expiry_message(stale, path), file=sys.stderr)
        return 1
    print(f"{path}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, all valid")
    return 0


def _history_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--history",
        metavar="PATH_OR_URL",
        help=f"history store: a SQLite file or a SQLAlchemy URL (default: $TENANTFIXTURES_HISTORY,"
        f" else {DEFAULT_HISTORY})",
    )


def _output_option(parser: argparse.ArgumentParser, default: str = "stdout") -> None:
    parser.add_argument("--output", "-o", metavar="FILE", help=f"write here (default: {default})")


def _since_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        type=since_arg,
        metavar="AGE",
        help="only attempts newer than AGE, e.g. 14d, 12h, 30m, 2w (default: all)",
    )


def _report_options(parser: argparse.ArgumentParser) -> None:
    _history_option(parser)
    parser.add_argument(
        "--format",
        choices=["md", *sorted(set(FORMATS) - {"md"})],
        default="md",
        help="report format (default: md)",
    )
    _output_option(parser)
    parser.add_argument(
        "--quarantine",
        metavar="FILE",
        help=f"quarantine file (default: ./{quarantine.DEFAULT_FILE} if present)",
    )
    parser.add_argument(
        "--release-after",
        type=int,
        default=DEFAULT_RELEASE_AFTER,
        metavar="N",
        help="suggest releasing a quarantined test after N clean attempts"
        f" (default: {DEFAULT_RELEASE_AFTER})",
    )


def add_commands(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the flaky detector's subcommands on the tenantfixtures console script."""
    report = subparsers.add_parser(
        "report",
        help="classify the recorded history and report it",
        description="Classify every recorded test (broken, order-dependent, parallel-only,"
        " flaky, stable) from the history store and write the report: Markdown, HTML, JUnit"
        " XML or JSON.",
    )
    _report_options(report)
    _since_option(report)
    report.add_argument(
        "--schema",
        action="store_true",
        help="print the JSON report's schema (JSON Schema) instead of a report",
    )
    report.set_defaults(handler=_guarded("report", cmd_report))

    nightly = subparsers.add_parser(
        "nightly",
        help="run the suite N times in varied order/parallelism, confirm suspects, report",
        usage="tenantfixtures nightly [--rounds N] [options] -- <pytest args>",
        description="Run the suite several rounds in shuffled order, serially and under xdist,"
        " recording every attempt; confirm each suspect with targeted reruns (naming the"
        " culprit of an order-dependent test), store the verdicts and write the report.",
    )
    nightly.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        metavar="N",
        help=f"how many times to run the suite (default: {DEFAULT_ROUNDS})",
    )
    nightly.add_argument(
        "--seed", type=int, metavar="N", help="base seed of the shuffles (default: random)"
    )
    nightly.add_argument(
        "--max-minutes",
        type=float,
        metavar="M",
        help="time budget for rounds and confirmation; when it runs out the report keeps the"
        " best verdicts so far, marked unconfirmed (default: no limit)",
    )
    nightly.add_argument(
        "--fail-on-new-flakes",
        action="store_true",
        help="exit 1 when a test is found flaky/order-dependent/parallel-only for the first"
        " time (default: exit 0 whenever the report was produced)",
    )
    _report_options(nightly)
    nightly.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        metavar="-- PYTEST_ARGS",
        help="arguments for pytest, after -- (default: none, pytest's own defaults)",
    )
    nightly.set_defaults(handler=_guarded("nightly", cmd_nightly))

    replay_parser = subparsers.add_parser(
        "replay",
        help="rerun a recorded failing attempt: same order, worker split and seeds",
        description="Rerun a recorded failing attempt of NODEID as it ran: the same tests"
        " before it on its worker, in the same order, with the same seeds.",
    )
    replay_parser.add_argument("nodeid", metavar="NODEID", help="the failing test's node id")
    _history_option(replay_parser)
    replay_parser.add_argument(
        "--run",
        metavar="RUN_ID",
        help="replay the failure of this run (default: the test's latest failure)",
    )
    replay_parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan and the selection instead of running it (default: run it)",
    )
    replay_parser.set_defaults(handler=_guarded("replay", cmd_replay))

    durations = subparsers.add_parser(
        "durations",
        help="export median recorded durations in pytest-split's .test_durations format",
        description="Write each test's median recorded duration (passed and failed attempts)"
        " as JSON, the .test_durations file pytest-split balances its groups with.",
    )
    _history_option(durations)
    _output_option(durations, "stdout; pytest-split reads .test_durations")
    _since_option(durations)
    durations.set_defaults(handler=_guarded("durations", cmd_durations))

    ingest_parser = subparsers.add_parser(
        "ingest",
        help="import JUnit XML files into the history",
        description="Import JUnit XML files (from pytest or other tools) into the history"
        " store as runs, so CI jobs that do not record directly are classified too. A file"
        " already imported is skipped.",
    )
    _history_option(ingest_parser)
    ingest_parser.add_argument(
        "files", nargs="+", metavar="JUNIT_XML", help="JUnit XML files (pytest's or other tools')"
    )
    ingest_parser.add_argument(
        "--rootdir",
        default=".",
        help="maps pytest classnames back to test files (default: the current directory)",
    )
    for flag in ("commit", "branch", "job", "shard"):
        ingest_parser.add_argument(
            f"--{flag}", help=f"{flag} of that run (default: this checkout's or CI's)"
        )
    ingest_parser.set_defaults(handler=_guarded("ingest", cmd_ingest))

    quarantine_parser = subparsers.add_parser(
        "quarantine",
        help="quarantine file checks",
        description=f"Check the quarantine file ({quarantine.DEFAULT_FILE}): quarantined"
        " tests still run and are recorded, but cannot fail the build until their entry"
        " expires.",
    )
    actions = quarantine_parser.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="one of: check"
    )
    check = actions.add_parser(
        "check",
        help="exit 1 if an entry expired, 2 if the file is malformed",
        description="Validate the quarantine file: exit 0 when every entry is well formed and"
        " unexpired, 1 when an entry expired (it is no longer applied), 2 when the file is"
        " malformed (unknown tables or keys, missing fields).",
    )
    check.add_argument(
        "file",
        nargs="?",
        default=quarantine.DEFAULT_FILE,
        metavar="FILE",
        help=f"the quarantine file (default: {quarantine.DEFAULT_FILE})",
    )
    check.set_defaults(handler=_guarded("quarantine check", cmd_quarantine_check))
