"""The pytest plugin: options, hooks and fixtures, wired to the modules that do the work."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tenantfixtures import hookspecs
from tenantfixtures.errors import TemplateBuildError
from tenantfixtures.guards.plugin import GUARD_MODE
from tenantfixtures.sandbox.isolation import COPY_LIMIT_INI, ISOLATION_CHOICES, IsolationRequest
from tenantfixtures.topology import (
    DEFAULT_SYSTEM_DB,
    DEFAULT_TENANT_DB,
    INI_OPTIONS,
    Topology,
    data_dir_from_ini,
    ensure_topology,
    ini_value,
    topology_from_ini,
)

if TYPE_CHECKING:  # SQLAlchemy and the sandbox machinery load once a project uses them
    from sqlalchemy.orm import Session

    from tenantfixtures.sandbox.controller import SandboxController
    from tenantfixtures.sandbox.layout import DatabaseRef, Layout
    from tenantfixtures.tenancy import SnapshotOpener, Tenancy

pytest_plugins = [
    "tenantfixtures.llm.plugin",
    "tenantfixtures.flaky.plugin",
    "tenantfixtures.guards.plugin",
    "tenantfixtures.factories_plugin",
    "tenantfixtures.migrations.plugin",
]

CONTROLLER: pytest.StashKey[SandboxController] = pytest.StashKey()
TENANCY: pytest.StashKey[Tenancy] = pytest.StashKey()
INI_TOPOLOGY = pytest.StashKey[Topology | None]()
_ISOLATION_INI = "tenantfixtures_isolation"
NOT_CONFIGURED = (
    "tenantfixtures has no topology: define a session-scoped `tenant_topology` fixture in"
    " conftest.py returning tenantfixtures.Topology(system=..., tenant=..., data_dir=...),"
    " or set tenantfixtures_system_metadata, tenantfixtures_tenant_metadata and"
    " tenantfixtures_data_dir in the ini file"
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    for key, (kind, help_text) in INI_OPTIONS.items():
        parser.addini(f"tenantfixtures_{key}", help_text, type=kind)  # type: ignore[arg-type]
    parser.addini(
        "tenantfixtures_allowed_paths",
        "paths (and database URL prefixes) tests may open besides their sandbox",
        type="linelist",
        default=[],
    )
    parser.addini(_ISOLATION_INI, "default for --tf-isolation (auto, namespace, redirect)")
    parser.addini(
        COPY_LIMIT_INI,
        "redirect mode: the most bytes of data-dir files copied per test (default 64 MiB)",
    )
    group = parser.getgroup("tenantfixtures", "multi-tenant database sandboxes")
    group.addoption(
        "--tf-keep-sandboxes",
        action="store_true",
        help="keep a copy of each test's data dir after the run, for debugging",
    )
    group.addoption(
        "--tf-isolation",
        dest="tf_isolation",
        choices=ISOLATION_CHOICES,
        default=None,
        help="how each test owns the data dir: namespace (Linux: an overlay per test), redirect"
        " (a copy served to Python's file APIs) or auto (namespace where the kernel allows it)."
        f" Default: the ini option {_ISOLATION_INI}, else auto",
    )


def _isolation_request(config: pytest.Config) -> IsolationRequest:
    option = config.known_args_namespace.tf_isolation
    source = "--tf-isolation" if option else _ISOLATION_INI
    requested = str(option or config.getini(_ISOLATION_INI) or "auto").strip().lower()
    raw_limit = str(config.getini(COPY_LIMIT_INI) or "").strip()
    if not raw_limit:
        return IsolationRequest(requested, source)
    if not raw_limit.isdigit():
        raise pytest.UsageError(f"{COPY_LIMIT_INI} = {raw_limit!r}: give a number of bytes")
    return IsolationRequest(requested, source, int(raw_limit))


def _configured_at_start(config: pytest.Config) -> bool:
    """Whether the run asks for tenantfixtures before any conftest is imported."""
    namespace = config.known_args_namespace
    explicit = "tenantfixtures" in (namespace.plugins or [])
    asked = namespace.tf_isolation or config.getini(_ISOLATION_INI)
    return bool(explicit or asked or data_dir_from_ini(config) is not None)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Enter the isolation mode and protect the data dir before conftest files import the app
    (which may open its databases), and before xdist starts any worker."""
    if not _configured_at_start(early_config):
        return
    controller = _new_controller(early_config, early_config.known_args_namespace.tf_keep_sandboxes)
    early_config.stash[CONTROLLER] = controller
    layout = _layout_from_ini(early_config)
    passthrough = _passthrough_paths(early_config, layout)
    controller.router.passthrough.extend(passthrough)
    if layout is None:
        from tenantfixtures.sandbox.choice import CHOOSER

        CHOOSER.choose(controller.request)  # enter the namespace while single-threaded
    explicit = "tenantfixtures" in (early_config.known_args_namespace.plugins or [])
    root = early_config.rootpath
    controller.boot(
        layout, root if explicit else None, exclude=[root / ".pytest_cache", *passthrough]
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "tenants(*ids): create these tenants' databases; the first is tenant_db's"
    )
    config.addinivalue_line(
        "markers", "tenant_scope(*ids): fail the test if its body touches any other tenant's DB"
    )
    config.addinivalue_line(
        "markers", "allow_path(*paths): let this test open these databases outside its sandbox"
    )
    if CONTROLLER in config.stash:
        _use_template_dir(config, config.stash[CONTROLLER])
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "tenantfixtures-xdist")


class _XdistHooks:
    """Registered only with xdist: workers are exec'd, and need the mount capabilities."""

    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: object) -> None:
        from tenantfixtures.sandbox.choice import CHOOSER  # what this process chose, if any

        CHOOSER.prepare_workers()


def _controller(config: pytest.Config) -> SandboxController:
    """The controller, made when a topology appears from a conftest fixture."""
    if CONTROLLER not in config.stash:
        controller = _new_controller(config, config.option.tf_keep_sandboxes)
        controller.router.passthrough.extend(_passthrough_paths(config, None))
        _use_template_dir(config, controller)
        config.stash[CONTROLLER] = controller
    return config.stash[CONTROLLER]


def _new_controller(config: pytest.Config, keep_sandboxes: bool) -> SandboxController:
    """The sandbox machinery (and SQLAlchemy) is imported here, once the project uses it."""
    from tenantfixtures.sandbox.controller import SandboxController

    controller = SandboxController(_isolation_request(config), keep_sandboxes)
    controller.router.project_root = config.rootpath
    return controller


def _use_template_dir(config: pytest.Config, controller: SandboxController) -> None:
    """Templates live in pytest's cache dir; a read-only checkout or ``-p no:cacheprovider``
    puts them in a per-user, per-project temp dir instead (a cache never breaks a run)."""
    cache = getattr(config, "cache", None)
    directory: Path | None = None
    if cache is not None:
        try:
            directory = Path(cache.mkdir("tenantfixtures-templates"))
        except OSError:
            directory = None
    if directory is None:
        project = hashlib.sha256(str(config.rootpath).encode()).hexdigest()[:12]
        directory = Path(tempfile.gettempdir()) / f"tenantfixtures-{os.geteuid()}" / project
    controller.set_template_dir(directory)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Which isolation mode runs, and why (on a fallback: how to enable namespace mode)."""
    if CONTROLLER not in config.stash:
        return None
    from tenantfixtures.sandbox.choice import CHOOSER

    status = CHOOSER.status
    return f"tenantfixtures isolation: {status.describe()}" if status is not None else None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Resolve an ini-described topology up front: a mistake is one usage error, not N."""
    session.config.stash[INI_TOPOLOGY] = topology_from_ini(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    controller = config.stash.get(CONTROLLER, None)
    if controller is not None:
        controller.shutdown()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """``@pytest.mark.tenant_scope(...)`` runs the body inside ``tenancy.only(...)``. (Escapes
    and other guard violations the code caught fail the test through ``guards.violations``.)"""
    marker = item.get_closest_marker("tenant_scope")
    tenancy = item.stash.get(TENANCY, None)
    if marker is None or tenancy is None:
        return (yield)
    with tenancy.only(*marker.args):
        return (yield)


@pytest.fixture(scope="session")
def tenant_topology(pytestconfig: pytest.Config) -> Topology | None:
    """The app's databases. Override in conftest.py, or configure through ini options."""
    return pytestconfig.stash[INI_TOPOLOGY]


@pytest.fixture(autouse=True)
def _tenantfixtures_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give every test its own data dir, so even tests that only call the app are isolated."""
    topology = request.getfixturevalue("tenant_topology")
    if topology is None:
        yield
        return
    from tenantfixtures.lifecycle import allowed_paths, isolated_test

    controller = _controller(request.config)
    if topology is not controller.topology:
        ensure_topology(topology, "the tenant_topology fixture")
    marker = request.node.get_closest_marker("tenants")
    tenants = [str(tenant_id) for tenant_id in marker.args] if marker else []
    configured = list(request.config.getini("tenantfixtures_allowed_paths"))
    for allow in request.node.iter_markers("allow_path"):
        configured += [str(arg) for arg in allow.args]
    allowed = allowed_paths(
        controller, request.getfixturevalue("tmp_path_factory").getbasetemp(), configured
    )
    mode = request.config.stash.get(GUARD_MODE, "fail")
    try:
        controller.adopt(topology)
    except TemplateBuildError:
        request.session.shouldfail = "tenantfixtures could not build its schema templates"
        raise
    opener = _snapshot_opener(request.config, topology)
    with isolated_test(controller, topology, tenants, mode, allowed, opener) as test:
        request.node.stash[TENANCY] = test.tenancy
        yield


@pytest.fixture
def tenancy(request: pytest.FixtureRequest) -> Tenancy:
    """The test's sandbox: ``system()``, ``tenant(id)``, ``tenants``, ``touched``, ``only()``."""
    tenancy: Tenancy | None = request.node.stash.get(TENANCY, None)
    if tenancy is None:
        raise pytest.UsageError(NOT_CONFIGURED)
    return tenancy


@pytest.fixture
def system_db(tenancy: Tenancy) -> Session:
    """A session on the test's system database."""
    return tenancy.system()


@pytest.fixture
def tenant_db(tenancy: Tenancy) -> Session:
    """A session on the default tenant's database (the first of ``@pytest.mark.tenants``)."""
    return tenancy.tenant()


def _snapshot_opener(config: pytest.Config, topology: Topology) -> SnapshotOpener:
    """``tenancy.tenant(id, snapshot=...)``: the old database, then the app's initializer."""

    def open_snapshot(ref: DatabaseRef, snapshot: str | os.PathLike[str], path: Path) -> None:
        from tenantfixtures.migrations import open_from_snapshot
        from tenantfixtures.migrations.errors import hide_snapshot_errors
        from tenantfixtures.migrations.plugin import PLAN

        __tracebackhide__ = hide_snapshot_errors

        plan = config.stash.get(PLAN, None)
        alembic = plan.alembic.config_file if plan is not None and plan.alembic else None
        tenant = ref.kind == "tenant"
        initializer = topology.tenant_initializer if tenant else topology.system_initializer
        metadata = topology.tenant if tenant else topology.system
        open_from_snapshot(snapshot, path, initializer, metadata, alembic_config=alembic)

    return open_snapshot


def _passthrough_paths(config: pytest.Config, layout: Layout | None) -> list[Path]:
    """What the plugin's parts (the flaky store...) write during tests; never in the data dir."""
    paths = [
        Path(p)
        for group in config.hook.pytest_tenantfixtures_passthrough_paths(config=config)
        for p in group
    ]
    if layout is not None:
        layout.refuse_inside(paths)
    return paths


def _layout_from_ini(config: pytest.Config) -> Layout | None:
    data_dir = data_dir_from_ini(config)
    if data_dir is None:
        return None
    system_db = ini_value(config, "system_db") or DEFAULT_SYSTEM_DB
    tenant_db = ini_value(config, "tenant_db") or DEFAULT_TENANT_DB
    try:
        from tenantfixtures.sandbox.layout import Layout

        return Layout.create(data_dir, system_db, tenant_db)
    except ValueError as exc:
        raise pytest.UsageError(f"tenantfixtures ini options: {exc}") from None
