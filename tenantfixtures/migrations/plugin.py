"""Built-in migration checks as pytest items: per configured snapshot ``reaches_models``,
``idempotent`` and ``keeps_rows``; per Alembic history ``single_head``, ``upgrade_from_base``
and ``downgrade_upgrade_roundtrip``. Node ids: ``tenantfixtures::migrations::<name>::<check>``.

Inert unless the ini file names snapshots or an Alembic config: nothing else is imported and
nothing is collected. Items are added in ``pytest_collection_modifyitems`` from the ini alone,
so every xdist worker collects the same list.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tenantfixtures.migrations.alembic_support import AlembicProject
    from tenantfixtures.migrations.checks import Subject
    from tenantfixtures.topology import Topology

PREFIX = "tenantfixtures::migrations"
SNAPSHOT_CHECKS = ("reaches_models", "idempotent", "keeps_rows")
HISTORY_CHECKS = ("single_head", "upgrade_from_base", "downgrade_upgrade_roundtrip")
HISTORY_NAME = "alembic"
SEED_ROWS = 2  # per empty snapshot table: ADD COLUMN failures need rows to show
INI_KINDS = {
    "tenant": "tenantfixtures_tenant_snapshots",
    "system": "tenantfixtures_system_snapshots",
}
ALEMBIC_INI = "tenantfixtures_alembic"


@dataclass(frozen=True)
class SnapshotSpec:
    name: str  # the node id part: file name, or ``alembic:<revision>``
    source: str  # what ``materialize`` takes
    kind: str  # "tenant" or "system"
    path: Path  # where the node points: the snapshot file, or the alembic.ini


@dataclass(frozen=True)
class Plan:
    snapshots: tuple[SnapshotSpec, ...]
    alembic: AlembicProject | None


@dataclass(frozen=True)
class Prepared:
    """A snapshot built once per process; every check works on copies of it."""

    path: Path
    seeded: tuple[str, ...]  # empty tables that were given synthetic rows
    stamped: bool  # has an alembic_version table: Alembic migrates it


PLAN = pytest.StashKey[Plan]()
PREPARED = pytest.StashKey[dict[str, Prepared]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    for kind, key in INI_KINDS.items():
        parser.addini(
            key,
            f"{kind} database snapshots (globs relative to the ini file, or alembic:<revision>)"
            " whose migration the built-in checks test",
            type="linelist",
            default=[],
        )
    parser.addini(ALEMBIC_INI, "alembic.ini of the tenant databases (relative to the ini file)")
    parser.getgroup("tenantfixtures").addoption(
        "--tf-no-migration-checks",
        action="store_true",
        help="do not collect the built-in migration checks (tenantfixtures::migrations::...)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Read the plan once, so that a mistake in it is one usage error before collection."""
    if not (any(config.getini(key) for key in INI_KINDS.values()) or config.getini(ALEMBIC_INI)):
        return
    config.stash[PLAN] = _plan(config)
    config.stash[PREPARED] = {}
    config.addinivalue_line(
        "markers", "migrations: a built-in migration check (tenantfixtures::migrations::...)"
    )


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so both apply to the checks
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    plan = config.stash.get(PLAN, None)
    if plan is None or config.option.tf_no_migration_checks:
        return
    if config.args and all("::" in arg for arg in config.args):
        return  # the run names its tests
    anchor = _anchor(session, items)
    collectors: list[SnapshotChecks | HistoryChecks] = [
        SnapshotChecks.from_parent(
            anchor, name=spec.name, path=spec.path, nodeid=f"{PREFIX}::{spec.name}", spec=spec
        )
        for spec in plan.snapshots
    ]
    if plan.alembic is not None:
        collectors.append(
            HistoryChecks.from_parent(
                anchor,
                name=HISTORY_NAME,
                path=plan.alembic.config_file,
                nodeid=f"{PREFIX}::{HISTORY_NAME}",
            )
        )
    for collector in collectors:
        checks = collector.collect()
        # Reported like any collector's result, so "collected N items" counts them.
        result: list[pytest.Item | pytest.Collector] = [*checks]
        report = pytest.CollectReport(collector.nodeid, "passed", None, result)
        config.hook.pytest_collectreport(report=report)
        items += checks


def _plan(config: pytest.Config) -> Plan:
    from tenantfixtures.migrations.errors import MigrationsUnavailableError, SnapshotError
    from tenantfixtures.topology import ini_base_dir

    base = ini_base_dir(config)
    alembic_value = config.getini(ALEMBIC_INI)
    project = None
    try:
        if alembic_value:
            from tenantfixtures.migrations.alembic_support import AlembicProject

            project = AlembicProject.load(base / alembic_value)
        snapshots = [
            spec
            for kind, key in INI_KINDS.items()
            for line in config.getini(key)
            for spec in _expand(line, kind, key, base, project)
        ]
    except (SnapshotError, MigrationsUnavailableError) as exc:
        raise pytest.UsageError(f"tenantfixtures migration checks: {exc}") from None
    names = [spec.name for spec in snapshots]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise pytest.UsageError(
            f"tenantfixtures migration checks: several snapshots are named {', '.join(duplicates)};"
            " their checks would share node ids: rename the files"
        )
    return Plan(tuple(snapshots), project)


def _expand(
    line: str, kind: str, key: str, base: Path, project: AlembicProject | None
) -> list[SnapshotSpec]:
    if line.startswith("alembic:"):
        if project is None or kind != "tenant":
            raise pytest.UsageError(
                f"{key} = {line}: alembic: snapshots need {ALEMBIC_INI} and are tenant snapshots"
            )
        project.check_revision(line.removeprefix("alembic:"))
        return [SnapshotSpec(line, line, kind, project.config_file)]
    paths = sorted(Path(p) for p in glob.glob(str(base / line), recursive=True))
    if not paths:
        raise pytest.UsageError(f"{key} = {line}: matches no file under {base}")
    return [SnapshotSpec(path.name, str(path), kind, path.resolve()) for path in paths]


def _anchor(session: pytest.Session, items: list[pytest.Item]) -> pytest.Collector:
    """The deepest directory holding every collected test: the checks hang there, so they see
    the ``tenant_topology`` the conftest.py of the test root defines."""
    common: list[Any] = items[0].listchain() if items else []
    for item in items[1:]:
        chain = item.listchain()
        size = 0
        while size < min(len(common), len(chain)) and common[size] is chain[size]:
            size += 1
        del common[size:]
    for node in reversed(common):
        if isinstance(node, pytest.Directory):
            return node
    return session


class MigrationCheck(pytest.Function):
    """A check: its failure report is the check's own text, without a traceback."""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name  # the terminal turns dots in this into '::'

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        from tenantfixtures.migrations.checks import CheckFailed

        if isinstance(excinfo.value, CheckFailed):
            return f"{self.nodeid}\n{excinfo.value}"
        return super().repr_failure(excinfo)


class SnapshotChecks(pytest.Collector):
    """The checks of one snapshot."""

    def __init__(self, *, spec: SnapshotSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def collect(self) -> list[pytest.Item]:
        return [
            MigrationCheck.from_parent(
                self,
                name=check,
                callobj=_snapshot_check(check, self.spec),
                keywords={"migrations": True},
            )
            for check in SNAPSHOT_CHECKS
        ]


class HistoryChecks(pytest.Collector):
    """The checks of the tenant databases' Alembic history."""

    def collect(self) -> list[pytest.Item]:
        return [
            MigrationCheck.from_parent(self, name=check, callobj=_history_check(check))
            for check in HISTORY_CHECKS
        ]


def _snapshot_check(check: str, spec: SnapshotSpec) -> Callable[..., None]:
    @pytest.mark.migrations
    def run(
        tenant_topology: Topology | None, tmp_path: Path, request: pytest.FixtureRequest
    ) -> None:
        from tenantfixtures.migrations import checks

        subject = _subject(spec, _topology(tenant_topology), request)
        getattr(checks, check)(subject, tmp_path)

    run.__name__ = check
    return run


def _history_check(check: str) -> Callable[..., None]:
    @pytest.mark.migrations
    def run(
        tenant_topology: Topology | None, tmp_path: Path, request: pytest.FixtureRequest
    ) -> None:
        from tenantfixtures.migrations import checks

        project = request.config.stash[PLAN].alembic
        assert project is not None
        if check == "single_head":
            checks.single_head(project)
        elif check == "upgrade_from_base":
            checks.upgrade_from_base(project, _topology(tenant_topology).tenant, tmp_path)
        else:
            checks.downgrade_upgrade_roundtrip(project, tmp_path)

    run.__name__ = check
    return run


def _topology(value: Topology | None) -> Topology:
    from tenantfixtures.migrations.checks import CheckFailed

    if value is None:
        raise CheckFailed(
            "the migration checks need the app's topology: define a session-scoped"
            " tenant_topology fixture in the conftest.py of the test root, or the"
            " tenantfixtures_* ini options"
        )
    return value


def _subject(spec: SnapshotSpec, topology: Topology, request: pytest.FixtureRequest) -> Subject:
    """The snapshot's database, built (and empty tables seeded) once per process."""
    from tenantfixtures.migrations import checks
    from tenantfixtures.migrations.errors import SnapshotError
    from tenantfixtures.migrations.seed import seed_empty_tables
    from tenantfixtures.migrations.snapshots import materialize
    from tenantfixtures.migrations.state import connect, quote, table_names

    plan, cache = request.config.stash[PLAN], request.config.stash[PREPARED]
    label = f"{spec.kind} snapshot {spec.name}"
    if spec.source not in cache:
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        path = factory.mktemp("tf-snapshot") / "snapshot.sqlite3"
        config_file = plan.alembic.config_file if plan.alembic else None
        try:
            materialize(spec.source, path, alembic_config=config_file)
        except SnapshotError as exc:
            raise checks.CheckFailed(f"{label}: cannot build it: {exc}") from None
        with connect(path) as connection:
            names = table_names(connection)
            empty = [
                t for t in names if not connection.execute(f"SELECT 1 FROM {quote(t)}").fetchone()
            ]
            skipped = seed_empty_tables(connection, SEED_ROWS)
            stamped = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'"
            ).fetchone()
        cache[spec.source] = Prepared(
            path, tuple(t for t in empty if t not in skipped), stamped is not None
        )
    prepared = cache[spec.source]
    metadata = topology.tenant if spec.kind == "tenant" else topology.system
    initializer = (
        topology.tenant_initializer if spec.kind == "tenant" else topology.system_initializer
    )
    if prepared.seeded:
        label += f" (synthetic rows in {', '.join(prepared.seeded)})"
    if prepared.stamped and plan.alembic is not None:
        migrate = checks.alembic_migration(plan.alembic)
        label += ", migrated by alembic upgrade head"
    else:
        migrate = checks.initializer_migration(initializer, metadata)
    return checks.Subject(label, prepared.path, migrate, metadata)
