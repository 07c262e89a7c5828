"""``tenantfixtures doctor``: does this project's topology import, and do its templates build?

It runs pytest in-process on the project with one collected test, whose setup exercises the
real machinery (topology fixture or ini, template build, one clone); the test body is not run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tenantfixtures.plugin import CONTROLLER, INI_TOPOLOGY, TENANCY
from tenantfixtures.sandbox.controller import SandboxController
from tenantfixtures.topology import Topology

DOCTOR_TENANT = "tenantfixtures-doctor"


class Doctor:
    """A pytest plugin object: keeps one test, inspects its sandbox instead of running it."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.problems: list[str] = []
        self.inspected = False

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        del items[1:]

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool:
        self.inspected = True
        config = pyfuncitem.config
        controller = config.stash[CONTROLLER]
        topology = controller.topology
        if TENANCY not in pyfuncitem.stash or topology is None:
            self.problems.append(
                "no topology: define a session-scoped tenant_topology fixture or the"
                " tenantfixtures_* ini options (see README, Configuration)"
            )
            return True
        from_ini = topology is config.stash[INI_TOPOLOGY]
        source = "the ini options" if from_ini else "the tenant_topology fixture"
        self.lines.append(("topology", f"from {source}"))
        self._describe_data_dir(topology, controller)
        self._describe_schemas(topology)
        self._describe_templates(controller)
        started = time.perf_counter()
        pyfuncitem.stash[TENANCY].add_tenant(DOCTOR_TENANT)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.lines.append(("clone", f"one tenant database in {elapsed_ms:.2f} ms"))
        caches = len(topology.engine_caches)
        self.lines.append(("engine caches", f"{caches} reset after each test"))
        return True

    def _describe_data_dir(self, topology: Topology, controller: SandboxController) -> None:
        data_dir = Path(topology.data_dir).resolve()
        if not data_dir.is_dir():
            self.lines.append(("data dir", f"{data_dir} (does not exist: nothing to protect)"))
        else:
            assert controller.isolation is not None, "a test is running"
            with controller.isolation.real_files():
                databases = [p for p in data_dir.rglob("*") if p.suffix in {".db", ".sqlite3"}]
            note = f"{len(databases)} database file(s) there, never opened by tests"
            self.lines.append(("data dir", f"{data_dir} ({note})"))
        self.lines.append(("import time", f"protects {controller.import_protection}"))
        status = controller.status
        if status is not None:
            self.lines.append(("isolation", status.describe()))

    def _describe_schemas(self, topology: Topology) -> None:
        for name, metadata in (("system", topology.system), ("tenant", topology.tenant)):
            tables = sorted(metadata.tables)
            self.lines.append((f"{name} schema", f"{len(tables)} tables: {', '.join(tables)}"))
            if not tables:
                self.problems.append(
                    f"the {name} metadata has no tables: import the models module in conftest.py"
                )

    def _describe_templates(self, controller: SandboxController) -> None:
        templates, cache = controller.templates, controller.template_cache
        assert templates is not None
        assert cache is not None
        for name, path in (("system", templates.system), ("tenant", templates.tenant)):
            seconds = cache.build_seconds.get(name)
            how = f"built in {seconds * 1000:.0f} ms" if seconds is not None else "reused"
            size = path.stat().st_size // 1024
            self.lines.append((f"{name} template", f"{path.name} ({size} KiB, {how})"))

    def report(self, exit_code: int | pytest.ExitCode) -> int:
        print("\ntenantfixtures doctor")
        for label, text in self.lines:
            print(f"  {label:<16}{text}")
        if not self.inspected and not self.problems:
            self.problems.append(
                f"pytest exited with {exit_code!s} before a test could be set up:"
                " see its output above (a project needs at least one collected test)"
            )
        for problem in self.problems:
            print(f"  PROBLEM         {problem}")
        ok = not self.problems and exit_code == pytest.ExitCode.OK
        print(f"  result          {'OK' if ok else 'problems found'}")
        return 0 if ok else 1


def run(pytest_args: Sequence[str]) -> int:
    doctor = Doctor()
    args = ["-p", "tenantfixtures", "-p", "no:randomly", "-p", "no:xdist", "-q"]
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning", *pytest_args]
    exit_code = pytest.main(args, plugins=[doctor])
    return doctor.report(exit_code)


def add_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check that the project's topology imports and its templates build",
        description="Check that this project's topology imports and its templates build: runs"
        " pytest in-process on the project and sets up one collected test (topology fixture or"
        " ini, template build, one clone) without running its body. Run it where you run"
        " pytest.",
        usage="tenantfixtures doctor [-h] [-- PYTEST_ARG ...]",
    )
    parser.add_argument(
        "pytest_args",
        nargs="*",
        metavar="PYTEST_ARG",
        help="extra pytest arguments, after --, e.g. -- tests/api (default: none, the"
        " project's own pytest configuration)",
    )
    parser.set_defaults(handler=lambda args: run(args.pytest_args))
