"""The pytest plugin: options, hooks and fixtures, wired to the modules that do the work."""

from __future__ import annotations

import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tenantfixtures.errors import SandboxEscapeError
from tenantfixtures.guards.escape import EscapeWatch, escape_guard
from tenantfixtures.guards.plugin import GUARD_MODE
from tenantfixtures.sandbox.controller import SandboxController
from tenantfixtures.sandbox.layout import DatabaseRef, Layout
from tenantfixtures.tenancy import Tenancy, activate
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

pytest_plugins = [
    "tenantfixtures.llm.plugin",
    "tenantfixtures.flaky.plugin",
    "tenantfixtures.guards.plugin",
    "tenantfixtures.factories_plugin",
]

CONTROLLER = pytest.StashKey[SandboxController]()
TENANCY = pytest.StashKey[Tenancy]()
ESCAPE_WATCH = pytest.StashKey[EscapeWatch]()
INI_TOPOLOGY = pytest.StashKey[Topology | None]()
NOT_CONFIGURED = (
    "tenantfixtures has no topology: define a session-scoped `tenant_topology` fixture in"
    " conftest.py returning tenantfixtures.Topology(system=..., tenant=..., data_dir=...),"
    " or set tenantfixtures_system_metadata, tenantfixtures_tenant_metadata and"
    " tenantfixtures_data_dir in the ini file"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    for key, (kind, help_text) in INI_OPTIONS.items():
        parser.addini(f"tenantfixtures_{key}", help_text, type=kind)  # type: ignore[arg-type]
    parser.addini(
        "tenantfixtures_allowed_paths",
        "paths (and database URL prefixes) tests may open besides their sandbox",
        type="linelist",
        default=[],
    )
    group = parser.getgroup("tenantfixtures", "multi-tenant database sandboxes")
    group.addoption(
        "--tf-keep-sandboxes",
        action="store_true",
        help="keep each test's sandbox directory after the run, for debugging",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Start redirecting before conftest.py files import the app (which may open its DBs)."""
    keep = early_config.known_args_namespace.tf_keep_sandboxes
    controller = SandboxController(keep_sandboxes=keep)
    early_config.stash[CONTROLLER] = controller
    layout = _layout_from_ini(early_config)
    explicit = "tenantfixtures" in (early_config.known_args_namespace.plugins or [])
    root = early_config.rootpath
    exclude = [root / ".pytest_cache"]
    history = _history_target(early_config)
    if history and "://" not in history:
        exclude.append(Path(history).resolve())
    controller.boot(layout, root if explicit else None, exclude=exclude)


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
    if CONTROLLER not in config.stash:  # registered after startup, e.g. from a conftest
        config.stash[CONTROLLER] = SandboxController(config.option.tf_keep_sandboxes)
    cache = getattr(config, "cache", None)
    template_dir = (
        cache.mkdir("tenantfixtures-templates")
        if cache is not None
        else Path(tempfile.gettempdir()) / "tenantfixtures-templates"
    )
    config.stash[CONTROLLER].set_template_dir(Path(template_dir))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Resolve an ini-described topology up front: a mistake is one usage error, not N."""
    session.config.stash[INI_TOPOLOGY] = topology_from_ini(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    controller = config.stash.get(CONTROLLER, None)
    if controller is not None:
        controller.shutdown()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """``@pytest.mark.tenant_scope(...)`` runs the body inside ``tenancy.only(...)``; a sandbox
    escape the code caught still fails the test."""
    marker = item.get_closest_marker("tenant_scope")
    tenancy = item.stash.get(TENANCY, None)
    if marker is None or tenancy is None:
        result = yield
    else:
        with tenancy.only(*marker.args):
            result = yield
    watch = item.stash.get(ESCAPE_WATCH, None)
    if watch is not None and watch.violations:  # raised inside, but the code swallowed it
        raise SandboxEscapeError("\n".join(watch.violations))
    return result


@pytest.fixture(scope="session")
def tenant_topology(pytestconfig: pytest.Config) -> Topology | None:
    """The app's databases. Override in conftest.py, or configure through ini options."""
    return pytestconfig.stash[INI_TOPOLOGY]


@pytest.fixture(autouse=True)
def _tenantfixtures_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give every test its own sandbox, so even tests that only call the app are isolated."""
    topology = request.getfixturevalue("tenant_topology")
    if topology is None:
        yield
        return
    controller = request.config.stash[CONTROLLER]
    if topology is not controller.topology:
        ensure_topology(topology, "the tenant_topology fixture")
    try:
        controller.adopt(topology)
    except Exception:
        request.session.shouldfail = "tenantfixtures could not build its schema templates"
        raise
    sandbox = controller.begin_test()
    marker = request.node.get_closest_marker("tenants")
    named = [str(tenant_id) for tenant_id in marker.args] if marker else []
    tenancy = Tenancy(sandbox, named[0] if named else topology.default_tenant)
    request.node.stash[TENANCY] = tenancy
    activate(tenancy)
    mode = request.config.stash.get(GUARD_MODE, "fail")
    if mode != "off":
        request.node.stash[ESCAPE_WATCH] = escape_guard().begin(
            sandbox.root, sandbox.layout.data_dir, _allowed_paths(request, controller), mode
        )
    try:
        for tenant_id in named:
            sandbox.provide(DatabaseRef.tenant(tenant_id))
        yield
    finally:
        escape_guard().end()
        activate(None)
        tenancy.close()
        controller.end_test(sandbox)


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


def _allowed_paths(request: pytest.FixtureRequest, controller: SandboxController) -> list[str]:
    """Our own directories, pytest's temp dirs, the ini list and the test's allow_path marks."""
    allowed = [str(controller.work_root), str(controller.template_dir)]
    allowed.append(str(request.getfixturevalue("tmp_path_factory").getbasetemp()))
    allowed += request.config.getini("tenantfixtures_allowed_paths")
    history = _history_target(request.config)
    if history:  # the flaky recorder writes while tests run (serial runs, PostgreSQL stores)
        allowed.append(history)
    for marker in request.node.iter_markers("allow_path"):
        allowed += [str(arg) for arg in marker.args]
    return allowed


def _history_target(config: pytest.Config) -> str | None:
    """The flaky recorder's store, which is ours: never redirected, never an escape."""
    option = getattr(config.known_args_namespace, "tf_history", None)  # set before configure
    value = option or config.getini("tenantfixtures_history")
    return str(value) if value else None


def _layout_from_ini(config: pytest.Config) -> Layout | None:
    data_dir = data_dir_from_ini(config)
    if data_dir is None:
        return None
    system_db = ini_value(config, "system_db") or DEFAULT_SYSTEM_DB
    tenant_db = ini_value(config, "tenant_db") or DEFAULT_TENANT_DB
    try:
        return Layout.create(data_dir, system_db, tenant_db)
    except ValueError as exc:
        raise pytest.UsageError(f"tenantfixtures ini options: {exc}") from None
