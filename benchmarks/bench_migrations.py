"""What the built-in migration checks cost per snapshot, beside one plain migration run.

    .venv/bin/python benchmarks/bench_migrations.py [--rounds 5]

On the example app's snapshots (``examples/tests/snapshots/*.sql``, migrated by its lazy
migration, and ``alembic:0001``, migrated by ``alembic upgrade head``), in-process and without
pytest: building the snapshot once (materialize + seeding empty tables), then each check on
copies of it. The fastest of N rounds counts, to damp noise from a shared machine. A check that
fails still costs what it costs: its verdict is printed beside its time. ``idempotent`` reruns
the migration once per writing statement (a crash after each), so it grows with the migration.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def best_ms(action: Callable[[], object], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    work = Path(tempfile.mkdtemp(prefix="bench-migrations-"))
    os.environ["COUNCIL_DATA_DIR"] = str(work / "data")  # the app writes there on import
    os.chdir(EXAMPLES)
    sys.path.insert(0, str(EXAMPLES))
    from app import database, models  # noqa: F401
    from tenantfixtures.migrations import checks
    from tenantfixtures.migrations.alembic_support import AlembicProject
    from tenantfixtures.migrations.seed import seed_empty_tables
    from tenantfixtures.migrations.snapshots import materialize
    from tenantfixtures.migrations.state import connect

    project = AlembicProject.load(EXAMPLES / "alembic.ini")
    metadata = database.TenantBase.metadata
    lazy = checks.initializer_migration(database.init_tenant_schema, metadata)
    snapshots = [
        *(str(p) for p in sorted((EXAMPLES / "tests" / "snapshots").glob("*.sql"))),
        "alembic:0001",
    ]
    print(f"{'snapshot':<16}{'step':<24}{'ms':>9}{'x migration':>13}  verdict")
    for snapshot in snapshots:
        name = Path(snapshot).name
        directory = work / name.replace(":", "-")

        def prepare(snapshot: str = snapshot, directory: Path = directory) -> Path:
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            path = directory / "snapshot.sqlite3"
            materialize(snapshot, path, alembic_config=project.config_file)
            with connect(path) as connection:
                seed_empty_tables(connection, 2)
            return path

        prepare_ms = best_ms(prepare, rounds)
        prepared = prepare()
        migrate = checks.alembic_migration(project) if snapshot.startswith("alembic:") else lazy
        subject = checks.Subject(name, prepared, migrate, metadata)

        def plain(prepared: Path = prepared, migrate: checks.Migration = migrate) -> None:
            copy = prepared.with_name("plain.sqlite3")
            shutil.copyfile(prepared, copy)
            migrate(copy)

        baseline = best_ms(plain, rounds)
        copy = prepared.with_name("counted.sqlite3")
        shutil.copyfile(prepared, copy)
        with checks.watching(copy) as writes:
            migrate(copy)
        crash_points = f"{len(writes)} writing statements: idempotent's crash points"
        rows = [
            ("build snapshot (once)", prepare_ms, ""),
            ("one migration run", baseline, crash_points),
        ]
        for check in ("reaches_models", "idempotent", "keeps_rows"):
            verdict = ["passed"]

            def run(
                check: str = check, verdict: list[str] = verdict, subject: checks.Subject = subject
            ) -> None:
                scratch = Path(tempfile.mkdtemp(dir=work))
                try:
                    getattr(checks, check)(subject, scratch)
                except checks.CheckFailed as failure:
                    verdict[0] = "FAILED: " + str(failure).splitlines()[0][:60]
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)

            rows.append((check, best_ms(run, rounds), verdict[0]))
        total = sum(ms for step, ms, _ in rows if step != "one migration run")
        rows.append(("all three + build", total, ""))
        for step, ms, verdict in rows:
            print(f"{name:<16}{step:<24}{ms:>9.1f}{ms / baseline:>12.1f}x  {verdict}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
