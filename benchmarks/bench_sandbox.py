"""Per-test cost of isolation, side by side, for an 8-table and a 30-table tenant schema.

    python benchmarks/bench_sandbox.py [--quick]

Strategies, each doing what one test needs (system DB + N tenant DBs, one query on each):
  namespace   tenantfixtures, namespace mode: an overlay on the data dir per test
  redirect    tenantfixtures, redirect mode: a copy of the data dir per test, file APIs served
  db-only     the previous release (commit BASELINE): only database files redirected
  create_all  a fresh SQLite file per database per test, schema built with metadata.create_all
  delete_all  one shared in-memory engine for everything, DELETE FROM every table after each test
Each tenantfixtures strategy runs in its own process (a process enters one isolation mode);
the previous release runs from a git worktree of BASELINE. Then: a realistic app test (FastAPI
TestClient, system DB + one tenant) per test in pytest, against a shared-engine + DELETE
conftest; the plugin's overhead on an empty test; the example suite serial vs -n 2.
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
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    text,
)

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "19f4fde"  # the last release that redirected database files only
MODES = ("namespace", "redirect", "db-only")


def fast_temp_dir() -> str | None:
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def make_schema(tables: int, prefix: str) -> MetaData:
    """A schema of ``tables`` tables, each with an index, a unique constraint and an FK chain."""
    metadata = MetaData()
    for i in range(tables):
        columns = [
            Column("id", Integer, primary_key=True),
            Column("name", String(100), nullable=False),
            Column("code", String(20)),
            Column("amount", Integer, default=0),
        ]
        if i:
            columns.append(Column("parent_id", ForeignKey(f"{prefix}{i - 1}.id")))
        Table(
            f"{prefix}{i}",
            metadata,
            *columns,
            UniqueConstraint("code"),
            Index(f"ix_{prefix}{i}_name", "name"),
        )
    return metadata


def median_ms(action: Callable[[], None], repeat: int) -> float:
    action()  # warm up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def query_each(urls: list[str]) -> None:
    for url in urls:
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar()
        engine.dispose()


class SandboxStrategy:
    """The app's own engines (created once, as at import time) served from a sandbox per test."""

    def __init__(self, mode: str, system: MetaData, tenant: MetaData, workdir: Path) -> None:
        from tenantfixtures.sandbox.controller import SandboxController
        from tenantfixtures.topology import Topology

        data_dir = workdir / "data"
        (data_dir / "defaults").mkdir(parents=True)
        (data_dir / "defaults" / "council.json").write_text('{"models": []}')
        (data_dir / "invitations.json").write_text("[]")
        if mode == "db-only":
            self.controller = SandboxController()
        else:
            from tenantfixtures.sandbox.isolation import IsolationRequest

            self.controller = SandboxController(IsolationRequest(mode, "the benchmark"))
        self.controller.set_template_dir(workdir / "templates")
        self.controller.adopt(Topology(system=system, tenant=tenant, data_dir=data_dir))
        self.system = create_engine(f"sqlite:///{data_dir}/system.db")
        self.tenants = [
            create_engine(f"sqlite:///{data_dir}/organizations/t{i}/tenant.db") for i in range(3)
        ]

    def one_test(self, tenants: int) -> None:
        sandbox = self.controller.begin_test()
        for engine in [self.system, *self.tenants[:tenants]]:
            with engine.connect() as connection:
                connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar()
        self.controller.end_test(sandbox)

    def provision_one_tenant_ms(self, repeat: int) -> float:
        """Only the clone: the test's sandbox exists, the tenant's database does not yet."""
        from tenantfixtures.sandbox.layout import DatabaseRef

        samples = []
        for _ in range(repeat + 1):
            sandbox = self.controller.begin_test()
            started = time.perf_counter()
            sandbox.provide(DatabaseRef.tenant("solo"))
            samples.append((time.perf_counter() - started) * 1000)
            self.controller.end_test(sandbox)
        return statistics.median(samples[1:])

    def close(self) -> None:
        self.controller.shutdown()


def measure(mode: str, repeat: int) -> dict[str, float]:
    """Runs in a process of its own; prints the strategy's figures as JSON."""
    system = make_schema(3, "sys")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=fast_temp_dir()) as tmp:
        for size in (8, 30):
            strategy = SandboxStrategy(
                mode, system, make_schema(size, f"t{size}_"), Path(tmp) / f"s{size}"
            )
            for tenants in (1, 3):
                figures[f"{size}/{tenants}"] = median_ms(
                    partial(strategy.one_test, tenants), repeat
                )
            figures[f"{size}/clone"] = strategy.provision_one_tenant_ms(repeat * 3)
            strategy.close()
    return figures


def measure_in_subprocess(mode: str, repeat: int, baseline: Path | None) -> dict[str, float]:
    env = {**os.environ}
    if mode == "db-only":
        assert baseline is not None
        env["PYTHONPATH"] = str(baseline)
    output = subprocess.run(
        [sys.executable, __file__, "--measure", mode, "--repeat", str(repeat)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return figures


def create_all_test(system: MetaData, tenant: MetaData, workdir: Path, tenants: int) -> None:
    with tempfile.TemporaryDirectory(dir=workdir) as directory:
        urls = []
        for i, metadata in enumerate([system] + [tenant] * tenants):
            engine = create_engine(f"sqlite:///{directory}/db{i}.db")
            metadata.create_all(engine)
            engine.dispose()
            urls.append(f"sqlite:///{directory}/db{i}.db")
        query_each(urls)


def create_all_one_tenant(tenant: MetaData, workdir: Path) -> None:
    with tempfile.TemporaryDirectory(dir=workdir) as directory:
        engine = create_engine(f"sqlite:///{directory}/tenant.db")
        tenant.create_all(engine)
        engine.dispose()


class DeleteAllStrategy:
    """The usual hand-written conftest: one in-memory engine shared by every 'tenant'."""

    def __init__(self, system: MetaData, tenant: MetaData) -> None:
        self.engine = create_engine("sqlite://")
        system.create_all(self.engine)
        tenant.create_all(self.engine)
        self.tables = list(reversed(system.sorted_tables + tenant.sorted_tables))

    def one_test(self, tenants: int) -> None:
        with self.engine.begin() as connection:
            for _ in range(1 + tenants):
                connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar()
            for table in self.tables:
                connection.execute(table.delete())


def pytest_wall(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def empty_test_overhead_ms(workdir: Path, repeat: int) -> tuple[float, float]:
    """Per-test wall time of an empty test with the plugin configured vs not loaded at all.

    Measured as the slope between a run of 100 and a run of 1100 empty tests, so start-up
    (imports, collection of the file) cancels out.
    """
    project = workdir / "empty_project"
    project.mkdir()
    (project / "schema.py").write_text(
        "from sqlalchemy import MetaData, Table, Column, Integer\n"
        "system = MetaData()\nTable('orgs', system, Column('id', Integer, primary_key=True))\n"
        "tenant = MetaData()\nTable('notes', tenant, Column('id', Integer, primary_key=True))\n"
    )
    (project / "pytest.ini").write_text(
        "[pytest]\npythonpath = .\ntenantfixtures_system_metadata = schema:system\n"
        "tenantfixtures_tenant_metadata = schema:tenant\ntenantfixtures_data_dir = data\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    slopes: dict[bool, float] = {}
    for plugin in (True, False):
        extra = [] if plugin else ["-p", "no:tenantfixtures"]
        walls = {}
        for count in (100, 1100):
            (project / "test_empty.py").write_text(
                f"import pytest\n\n@pytest.mark.parametrize('n', range({count}))\n"
                "def test_empty(n):\n    pass\n"
            )
            runs = [pytest_wall(["-p", "no:cacheprovider", *extra], project) for _ in range(repeat)]
            walls[count] = statistics.median(runs)
        slopes[plugin] = (walls[1100] - walls[100]) * 1000 / 1000
    return slopes[True], slopes[False]


REALISTIC_APP = """
import os
from fastapi import FastAPI
from sqlalchemy import Column, Integer, String, create_engine, text
from sqlalchemy.orm import DeclarativeBase, sessionmaker

DATA_DIR = "data"
system_engine = create_engine(f"sqlite:///{DATA_DIR}/system.db")
SystemSession = sessionmaker(bind=system_engine)


class SystemBase(DeclarativeBase):
    pass


class TenantBase(DeclarativeBase):
    pass


class Org(SystemBase):
    __tablename__ = "orgs"
    id = Column(String, primary_key=True)


class Note(TenantBase):
    __tablename__ = "notes"
    id = Column(Integer, primary_key=True)
    body = Column(String)


SystemBase.metadata.create_all(system_engine)
tenant_engines = {}


def tenant_engine(org_id):
    if org_id not in tenant_engines:
        os.makedirs(f"data/organizations/{org_id}", exist_ok=True)
        engine = create_engine(f"sqlite:///data/organizations/{org_id}/tenant.db")
        TenantBase.metadata.create_all(engine)
        tenant_engines[org_id] = engine
    return tenant_engines[org_id]


app = FastAPI()


@app.post("/orgs/{org_id}/notes")
def add_note(org_id: str, body: str):
    with SystemSession() as session:
        if session.get(Org, org_id) is None:
            session.add(Org(id=org_id))
            session.commit()
    with tenant_engine(org_id).begin() as conn:
        conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
    with tenant_engine(org_id).connect() as conn:
        return {"notes": conn.execute(text("SELECT count(*) FROM notes")).scalar()}
"""

PLUGIN_CONFTEST = """
import pytest, tenantfixtures, app

@pytest.fixture(scope="session")
def tenant_topology():
    return tenantfixtures.Topology(
        system=app.SystemBase.metadata, tenant=app.TenantBase.metadata, data_dir="data",
        engine_caches=[app.tenant_engines],
    )
"""

DELETE_CONFTEST = """
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
import app

engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
app.SystemBase.metadata.create_all(engine)
app.TenantBase.metadata.create_all(engine)


@pytest.fixture(autouse=True)
def shared_db(monkeypatch):
    monkeypatch.setattr(app, "SystemSession", sessionmaker(bind=engine))
    monkeypatch.setattr(app, "tenant_engine", lambda org_id: engine)
    yield
    tables = app.SystemBase.metadata.sorted_tables + app.TenantBase.metadata.sorted_tables
    with engine.begin() as conn:
        for table in reversed(tables):
            conn.execute(table.delete())
"""


def realistic_per_test_ms(workdir: Path, repeat: int) -> dict[str, float]:
    """Per-test wall time of an app test through TestClient (system DB + one tenant), as the
    slope between runs of 20 and 220 tests, so start-up and collection cancel out."""
    results = {}
    variants = {
        "namespace": (PLUGIN_CONFTEST, ["-p", "tenantfixtures", "--tf-isolation=namespace"]),
        "redirect": (PLUGIN_CONFTEST, ["-p", "tenantfixtures", "--tf-isolation=redirect"]),
        "delete_all": (DELETE_CONFTEST, ["-p", "no:tenantfixtures"]),
    }
    for name, (conftest, args) in variants.items():
        project = workdir / f"realistic-{name}"
        (project / "data").mkdir(parents=True)
        (project / "app.py").write_text(REALISTIC_APP)
        (project / "conftest.py").write_text(conftest)
        (project / "pytest.ini").write_text(
            "[pytest]\npythonpath = .\nasyncio_default_fixture_loop_scope = function\n"
        )
        walls = {}
        for count in (20, 220):
            (project / "test_app.py").write_text(
                "import pytest\nfrom fastapi.testclient import TestClient\nimport app\n\n"
                f"@pytest.mark.parametrize('n', range({count}))\n"
                "def test_note(n):\n"
                "    client = TestClient(app.app)\n"
                "    assert client.post('/orgs/acme/notes', params={'body': 'x'}).json() =="
                " {'notes': 1}\n"
            )
            runs = [pytest_wall(["-p", "no:cacheprovider", *args], project) for _ in range(repeat)]
            walls[count] = statistics.median(runs)
        results[name] = (walls[220] - walls[20]) * 1000 / 200
    return results


def baseline_worktree(directory: Path) -> Path:
    """The previous release, checked out beside this one for a side-by-side figure."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(directory), BASELINE],
        check=True,
        capture_output=True,
    )
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--measure", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=60, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeat)))
        return
    repeat = 15 if args.quick else 60
    system = make_schema(3, "sys")
    with tempfile.TemporaryDirectory() as scratch:
        baseline = baseline_worktree(Path(scratch) / "baseline")
        try:
            figures = {mode: measure_in_subprocess(mode, repeat, baseline) for mode in MODES}
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                check=False,
                capture_output=True,
            )
    print(
        f"{'per test (median ms)':<28}{'namespace':>10}{'redirect':>10}{'db-only':>9}"
        f"{'create_all':>11}{'delete_all':>11}{'ns - db-only':>14}"
    )
    with tempfile.TemporaryDirectory(dir=fast_temp_dir()) as tmp:
        workdir = Path(tmp)
        for size in (8, 30):
            tenant = make_schema(size, f"t{size}_")
            deleter = DeleteAllStrategy(system, tenant)
            for tenants in (1, 3):
                key = f"{size}/{tenants}"
                build = median_ms(
                    partial(create_all_test, system, tenant, workdir, tenants), max(5, repeat // 4)
                )
                delete = median_ms(partial(deleter.one_test, tenants), repeat)
                ns, rd, db = (figures[mode][key] for mode in MODES)
                label = f"{size} tables, system+{tenants} tenant{'s' if tenants > 1 else ''}"
                print(
                    f"{label:<28}{ns:>10.2f}{rd:>10.2f}{db:>9.2f}{build:>11.2f}{delete:>11.2f}"
                    f"{ns - db:>+13.2f}"
                )
            fresh = median_ms(partial(create_all_one_tenant, tenant, workdir), max(5, repeat // 4))
            clones = ", ".join(f"{mode} {figures[mode][f'{size}/clone']:.3f}" for mode in MODES)
            print(f"  one tenant DB provisioned (ms): {clones}; create_all {fresh:.2f}")
        print("  target: namespace mode within +1 ms of db-only per test")

        realistic = realistic_per_test_ms(workdir, 3 if args.quick else 5)
        ns, rd, delete = realistic["namespace"], realistic["redirect"], realistic["delete_all"]
        print(
            f"\nrealistic app test (TestClient, system + 1 tenant), per test:"
            f" namespace {ns:.2f} ms,"
            f" redirect {rd:.2f} ms, shared engine + DELETE {delete:.2f} ms ->"
            f" namespace {ns - delete:+.2f} ms vs DELETE (target <= +1 ms)"
        )
        with_plugin, without = empty_test_overhead_ms(workdir, 3 if args.quick else 5)
        print(
            f"empty test, per test: plugin {with_plugin:.3f} ms vs no plugin {without:.3f} ms"
            f" -> overhead {with_plugin - without:.3f} ms (target <= 1.5 ms)"
        )

    examples = ROOT / "examples"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    serial = pytest_wall([], examples, env)
    parallel = pytest_wall(["-n", "2"], examples, env)
    print(
        f"example suite wall time: serial {serial:.2f} s, -n 2 {parallel:.2f} s"
        f" ({serial / parallel:.2f}x)"
    )


if __name__ == "__main__":
    main()
