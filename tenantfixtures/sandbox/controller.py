"""The sandbox lifecycle across a pytest run: boot (imports), session, and one sandbox per test."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tenantfixtures.errors import TemplateBuildError
from tenantfixtures.sandbox.layout import Layout
from tenantfixtures.sandbox.redirect import Mirror, Redirect
from tenantfixtures.sandbox.sandbox import Sandbox, Templates
from tenantfixtures.sandbox.templates import SchemaSpec, TemplateCache
from tenantfixtures.topology import Topology


class SandboxController:
    """Owns this process's sandboxes (each xdist worker is its own process, so its own root)."""

    def __init__(self, keep_sandboxes: bool = False) -> None:
        self.work_root = Path(tempfile.mkdtemp(prefix="tenantfixtures-", dir=fast_temp_dir()))
        self.keep_sandboxes = keep_sandboxes
        self.redirect = Redirect(passthrough=[self.work_root])
        self.template_dir: Path | None = None
        self.topology: Topology | None = None
        self.templates: Templates | None = None
        self.template_cache: TemplateCache | None = None
        self.build_error: TemplateBuildError | None = None
        self.import_protection = "none: databases opened while conftest.py imports the app are real"
        self._counter = itertools.count(1)
        self._session: Sandbox | None = None

    def boot(self, layout: Layout | None, mirror_within: Path | None, exclude: list[Path]) -> None:
        """Protect the real data dir from the moment conftest files start importing the app.

        With a layout from the ini file, its databases are served from a session sandbox; with
        none, every database under ``mirror_within`` is copied on write until one is known.
        """
        self.redirect.watch_engines()
        if layout is not None:
            self._use_layout(layout, templates=None)
            self.import_protection = "the data dir named in the ini file"
        elif mirror_within is not None:
            self.redirect.mirror = Mirror(mirror_within, self.work_root / "boot", exclude)
            self.import_protection = f"every database under {mirror_within} (-p tenantfixtures)"
        else:
            return
        self.redirect.install()

    def set_template_dir(self, directory: Path) -> None:
        self.template_dir = directory
        self.redirect.passthrough.append(directory)
        if self.redirect.mirror is not None:
            self.redirect.mirror.exclude.append(directory)

    def adopt(self, topology: Topology) -> None:
        """Build (or reuse) the templates of ``topology`` and route its data dir from now on.

        Idempotent; a failed build is remembered and re-raised, never retried within the run.
        """
        if self.build_error is not None:
            raise self.build_error
        if self.topology is topology:
            return
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
        self._use_layout(topology.layout(), templates)
        self.redirect.install()

    def _use_layout(self, layout: Layout, templates: Templates | None) -> None:
        self.templates = templates
        self.redirect.layout = layout
        self.redirect.mirror = None
        root = self.work_root / f"session-{next(self._counter)}"
        self._session = Sandbox(root, layout, templates)
        self.redirect.sandbox = self._session
        self.redirect.dispose_engines(every_file_engine=True)

    def begin_test(self) -> Sandbox:
        assert self.redirect.layout is not None, "adopt() a topology first"
        sandbox = Sandbox(
            self.work_root / f"test-{next(self._counter)}", self.redirect.layout, self.templates
        )
        self.redirect.dispose_engines()
        self.redirect.sandbox = sandbox
        return sandbox

    def end_test(self, sandbox: Sandbox) -> None:
        self.redirect.dispose_engines()
        if self.topology is not None:
            reset_engine_caches(self.topology.engine_caches)
        self.redirect.sandbox = self._session
        if not self.keep_sandboxes:
            sandbox.remove()

    def shutdown(self) -> None:
        self.redirect.dispose_engines()
        self.redirect.uninstall()
        if not self.keep_sandboxes:
            shutil.rmtree(self.work_root, ignore_errors=True)


def fast_temp_dir() -> str | None:
    """A RAM-backed directory when the system has one: creating and copying small files there
    costs a fraction of a disk-backed temp dir (see benchmarks/bench_sandbox.py)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def reset_engine_caches(caches: Any) -> None:
    """Empty the app's engine caches (disposing the engines in them) or call its reset hooks."""
    for cache in caches:
        if isinstance(cache, Mapping):
            for value in list(cache.values()):
                if isinstance(value, Engine):
                    value.dispose()
            cache.clear()  # type: ignore[attr-defined]
        elif callable(cache):
            cache()
        else:
            cache.clear()
