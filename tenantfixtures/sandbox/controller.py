"""The sandbox lifecycle across a pytest run: boot (imports), session, and one sandbox per test.

The controller owns this process's isolation (namespace or redirect mode, chosen once), the
SQLite router and the schema templates; the plugin's fixtures only ask it for a test's sandbox
and hand it back.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tenantfixtures.errors import TemplateBuildError
from tenantfixtures.sandbox.choice import CHOOSER
from tenantfixtures.sandbox.isolation import (
    Isolation,
    IsolationMode,
    IsolationRequest,
    IsolationStatus,
    Layer,
)
from tenantfixtures.sandbox.layout import Layout
from tenantfixtures.sandbox.routing import Mirror, SqliteRouter
from tenantfixtures.sandbox.sandbox import Sandbox, Templates
from tenantfixtures.sandbox.templates import SchemaSpec, TemplateCache
from tenantfixtures.topology import Topology

WORK_PREFIX = "tenantfixtures-"
Refuse = Callable[[str], None]


class SandboxController:
    """Owns this process's sandboxes (each xdist worker is its own process, so its own root)."""

    def __init__(
        self, request: IsolationRequest | None = None, keep_sandboxes: bool = False
    ) -> None:
        self.request = request or IsolationRequest()
        self.keep_sandboxes = keep_sandboxes
        self.router = SqliteRouter(passthrough=[])
        self.template_dir: Path | None = None
        self.topology: Topology | None = None
        self.templates: Templates | None = None
        self.template_cache: TemplateCache | None = None
        self.build_error: TemplateBuildError | None = None
        self.isolation: Isolation | None = None
        self.import_protection = "none: databases opened while conftest.py imports the app are real"
        # Who hears of what redirect mode refuses (an ATTACH outside, a subprocess): the guard.
        self.refuse: Refuse | None = None
        self._work_root: Path | None = None
        self._counter = itertools.count(1)
        self._session: Sandbox | None = None
        self._session_layer: Layer | None = None
        self._booted = False

    @property
    def work_root(self) -> Path:
        """This process's private directory, made on first need (an unconfigured run makes none)."""
        if self._work_root is None:
            base = fast_temp_dir()
            remove_abandoned_work_roots(Path(base or tempfile.gettempdir()))
            self._work_root = Path(
                tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=base)
            )
            self.router.passthrough.append(self._work_root)
        return self._work_root

    @property
    def status(self) -> IsolationStatus | None:
        return self.isolation.status if self.isolation is not None else None

    def boot(self, layout: Layout | None, mirror_within: Path | None, exclude: list[Path]) -> None:
        """Protect the real data dir from the moment conftest files start importing the app.

        With a layout from the ini file, its data dir gets the session layer now; with none,
        every database under ``mirror_within`` is copied on write until one is known.
        """
        self._booted = True
        self.router.watch_engines()
        if layout is not None:
            self._use_layout(layout, templates=None)
            self.import_protection = "the data dir named in the ini file"
        elif mirror_within is not None:
            self.router.mirror = Mirror(mirror_within, self.work_root / "boot", exclude)
            self.import_protection = f"every database under {mirror_within} (-p tenantfixtures)"
        else:
            return
        self.router.install()

    def set_template_dir(self, directory: Path) -> None:
        self.template_dir = directory
        self.router.passthrough.append(directory)
        if self.router.mirror is not None:
            self.router.mirror.exclude.append(directory)

    def adopt(self, topology: Topology) -> None:
        """Build (or reuse) the templates of ``topology`` and route its data dir from now on.

        Idempotent; a failed build is remembered and re-raised, never retried within the run.
        """
        if self.build_error is not None:
            raise self.build_error
        if self.topology is topology:
            return
        try:
            layout = layout_of(topology)
        except ValueError as exc:
            raise pytest.UsageError(f"the tenant topology: {exc}") from None
        layout.refuse_inside(self.router.passthrough)  # a topology known only from a fixture
        cache = self.template_cache = TemplateCache(
            self.template_dir or self.work_root / "templates"
        )
        migrations = tuple(str(path) for path in topology.migrations)
        try:
            templates = Templates(
                system=cache.get(
                    SchemaSpec("system", topology.system, topology.system_initializer, migrations)
                ),
                tenant=cache.get(
                    SchemaSpec("tenant", topology.tenant, topology.tenant_initializer, migrations)
                ),
            )
        except TemplateBuildError as exc:
            self.build_error = exc
            raise
        self.topology = topology
        self._use_layout(layout, templates)
        self.router.install()

    def _use_layout(self, layout: Layout, templates: Templates | None) -> None:
        if not self._booted:
            self.router.watch_engines()
            self.router.adopt_existing_engines()
            self._booted = True
        current = self.router.layout
        if self.isolation is None or current is None or current.data_dir != layout.data_dir:
            self._close_isolation()
            self._open_isolation(layout)
        assert self._session_layer is not None
        self.templates = templates
        self.router.layout = layout
        self.router.mirror = None
        self._session = Sandbox(self._session_layer, layout, templates)
        self.router.sandbox = self._session
        self.router.dispose_engines(every_file_engine=True)

    def _open_isolation(self, layout: Layout) -> None:
        CHOOSER.choose(self.request)
        isolation = self.isolation = CHOOSER.isolation(self.work_root, self.request.copy_limit)
        self._session_layer = isolation.open_session(layout.data_dir, layout.is_database)
        redirecting = isolation.status.mode is IsolationMode.REDIRECT
        self.router.restrict = self._restrict_attach if redirecting else None

    def _close_isolation(self) -> None:
        if self.isolation is not None:
            self.router.dispose_engines(every_file_engine=True)
            self.isolation.close()
            self.isolation = None

    def begin_test(self) -> Sandbox:
        assert self.isolation is not None, "adopt() first"
        assert self.router.layout is not None
        self.router.dispose_engines()
        layer = self.isolation.open_test()
        sandbox = Sandbox(layer, self.router.layout, self.templates)
        self.router.sandbox = sandbox
        if self.isolation.status.mode is IsolationMode.REDIRECT:
            from tenantfixtures.sandbox.subprocesses import subprocess_veto

            subprocess_veto().activate(self.router.layout.data_dir, self._refused)
        return sandbox

    def end_test(self, sandbox: Sandbox) -> None:
        assert self.isolation is not None
        if self.isolation.status.mode is IsolationMode.REDIRECT:
            from tenantfixtures.sandbox.subprocesses import subprocess_veto

            subprocess_veto().deactivate()
        self.router.dispose_engines()
        if self.topology is not None:
            reset_engine_caches(self.topology.engine_caches)
        self.router.sandbox = self._session
        if self.keep_sandboxes:
            keep = self.work_root / f"kept-{next(self._counter)}"
            shutil.copytree(sandbox.root, keep, symlinks=True, dirs_exist_ok=True)
        self.isolation.close_test(sandbox.layer)

    def shutdown(self) -> None:
        self.router.dispose_engines()
        self._close_isolation()
        self.router.uninstall()
        if self._work_root is not None and not self.keep_sandboxes:
            shutil.rmtree(self._work_root, ignore_errors=True)

    def _restrict_attach(self, connection: sqlite3.Connection, root: Path) -> None:
        from tenantfixtures.sandbox.sqlite_authorizer import restrict_attach

        restrict_attach(connection, root, self._refused)

    def _refused(self, message: str) -> None:
        if self.refuse is not None:
            self.refuse(message)


def layout_of(topology: Topology) -> Layout:
    return Layout.create(topology.data_dir, topology.system_db, topology.tenant_db)


def fast_temp_dir() -> str | None:
    """A RAM-backed directory when the system has one: creating and copying small files there
    costs a fraction of a disk-backed temp dir (see benchmarks/bench_sandbox.py)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def remove_abandoned_work_roots(base: Path) -> None:
    """Work dirs of processes that died (``kill -9``) are removed by the next run."""
    uid = os.geteuid()
    for path in base.glob(f"{WORK_PREFIX}*-*"):
        pid = path.name[len(WORK_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink() and path.stat().st_uid == uid:
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reset_engine_caches(caches: Any) -> None:
    """Empty the app's engine caches (disposing the engines in them, where they can be read),
    clear its ``functools.lru_cache`` engine factories, or call its reset hooks."""
    for cache in caches:
        if isinstance(cache, Mapping):
            for value in list(cache.values()):
                if isinstance(value, Engine):
                    value.dispose()
            cache.clear()  # type: ignore[attr-defined]
        elif hasattr(cache, "cache_clear"):
            cache.cache_clear()
        elif callable(cache):
            cache()
        else:
            cache.clear()
