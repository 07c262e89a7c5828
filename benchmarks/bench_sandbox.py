"""Per-test cost of database isolation, side by side, for an 8-table and a 30-table tenant schema.

    python benchmarks/bench_sandbox.py [--quick]

Strategies, each doing what one test needs (system DB + N tenant DBs, one query on each):
  sandbox     tenantfixtures: clone templates on first touch, dispose and delete after the test
  create_all  a fresh SQLite file per database per test, schema built with metadata.create_all
  delete_all  one shared in-memory engine for everything, DELETE FROM every table after each test
Then: one tenant database provisioned alone, the plugin's overhead on an empty test, and the
example suite's wall time serial vs -n 2.
"""

from __future__ import annotations

import argparse
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

from tenantfixtures.sandbox.controller import SandboxController, fast_temp_dir
from tenantfixtures.sandbox.layout import DatabaseRef
from tenantfixtures.topology import Topology

ROOT = Path(__file__).resolve().parent.parent


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

    def __init__(self, system: MetaData, tenant: MetaData, workdir: Path) -> None:
        data_dir = workdir / "data"
        self.controller = SandboxController()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    repeat = 15 if parser.parse_args().quick else 60
    system = make_schema(3, "sys")
    # Every strategy works in the same (RAM-backed where available) directory as the sandboxes.
    with tempfile.TemporaryDirectory(dir=fast_temp_dir()) as tmp:
        workdir = Path(tmp)
        print(
            f"{'per test (median ms)':<28}{'sandbox':>10}{'create_all':>12}{'delete_all':>12}"
            f"{'create_all/sandbox':>20}{'delete_all/sandbox':>20}"
        )
        for size in (8, 30):
            tenant = make_schema(size, f"t{size}_")
            sandbox = SandboxStrategy(system, tenant, workdir / f"s{size}")
            deleter = DeleteAllStrategy(system, tenant)
            for tenants in (1, 3):
                ours = median_ms(partial(sandbox.one_test, tenants), repeat)
                build = median_ms(
                    partial(create_all_test, system, tenant, workdir, tenants), max(5, repeat // 4)
                )
                delete = median_ms(partial(deleter.one_test, tenants), repeat)
                label = f"{size} tables, system+{tenants} tenant{'s' if tenants > 1 else ''}"
                print(
                    f"{label:<28}{ours:>10.2f}{build:>12.2f}{delete:>12.2f}"
                    f"{build / ours:>19.1f}x{delete / ours:>19.1f}x"
                )
            clone = sandbox.provision_one_tenant_ms(repeat * 3)
            fresh = median_ms(partial(create_all_one_tenant, tenant, workdir), max(5, repeat // 4))
            print(
                f"  one tenant DB provisioned: clone {clone:.3f} ms vs create_all {fresh:.2f} ms"
                f" ({fresh / clone:.0f}x faster; target <= 1 ms and >= 50x)"
            )
            sandbox.close()

        with_plugin, without = empty_test_overhead_ms(workdir, 3 if repeat < 60 else 5)
        print(
            f"\nempty test, per test: plugin {with_plugin:.3f} ms vs no plugin {without:.3f} ms"
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
