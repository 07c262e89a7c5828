"""Choosing the isolation mode, once per process, and entering the namespace it needs.

Roles, as pytest-rerunfailures chooses its state object:
- the process that starts the run (plain pytest, or the xdist controller) probes namespace mode
  in a throwaway interpreter (the result is cached per boot), then enters it: as root a mount
  namespace, otherwise a user namespace first, while it still has a single thread;
- an xdist worker follows its controller's choice (handed down in an environment variable
  keyed by the controller's pid, so a pytest started *by a test* decides for itself) and only
  needs a mount namespace of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tenantfixtures.sandbox import namespace
from tenantfixtures.sandbox.isolation import (
    ISOLATION_CHOICES,
    Isolation,
    IsolationMode,
    IsolationRequest,
    IsolationStatus,
)
from tenantfixtures.sandbox.overlay import NamespaceIsolation

_RUN_ENV = "TENANTFIXTURES_ISOLATION_RUN"
_HOW_TO_ENABLE = (
    "to enable it: run as root; or allow unprivileged user namespaces (Ubuntu 23.10+:"
    " sysctl kernel.apparmor_restrict_unprivileged_userns=0; Debian:"
    " sysctl kernel.unprivileged_userns_clone=1; user.max_user_namespaces > 0); in a"
    " container, allow unshare and mount (e.g. docker run --privileged); Linux 5.11+ for"
    " rootless overlays, 6.6+ for a tmpfs upper layer"
)


@dataclass(frozen=True)
class _Decision:
    """What the run's first process decided, as handed to its xdist workers."""

    pid: int
    mode: IsolationMode
    reason: str

    def encode(self) -> str:
        return json.dumps({"pid": self.pid, "mode": self.mode.value, "reason": self.reason})

    @classmethod
    def inherited(cls) -> _Decision | None:
        """The controller's decision, if this process is one of its workers."""
        raw = os.environ.pop(_RUN_ENV, None)  # for this process only, not for its children
        if not raw or not os.environ.get("PYTEST_XDIST_WORKER"):
            return None
        try:
            data = json.loads(raw)
            decision = cls(int(data["pid"]), IsolationMode(data["mode"]), str(data["reason"]))
        except (ValueError, KeyError, TypeError):
            return None
        return decision if decision.pid == os.getppid() else None


class IsolationChooser:
    """Chooses and enters the mode; remembers it for the process (and its workers)."""

    def __init__(self) -> None:
        self.decision: _Decision | None = None
        self.privilege: namespace.Privilege | None = None

    @property
    def status(self) -> IsolationStatus | None:
        decision = self.decision
        return IsolationStatus(decision.mode, decision.reason) if decision is not None else None

    def choose(self, request: IsolationRequest) -> IsolationStatus:
        if self.decision is not None:
            return IsolationStatus(self.decision.mode, self.decision.reason)
        requested, source = request.requested, request.source
        if requested not in ISOLATION_CHOICES:
            raise pytest.UsageError(
                f"{source}: {requested!r} is not an isolation mode;"
                f" use one of {', '.join(ISOLATION_CHOICES)}"
            )
        inherited = _Decision.inherited()
        decision = (
            self._follow(inherited) if inherited is not None else self._decide(requested, source)
        )
        self.decision = decision
        return IsolationStatus(decision.mode, decision.reason)

    def isolation(self, work_root: Path, copy_limit: int) -> Isolation:
        assert self.decision is not None, "choose() first"
        status = IsolationStatus(self.decision.mode, self.decision.reason)
        if self.decision.mode is IsolationMode.NAMESPACE:
            assert self.privilege is not None
            return NamespaceIsolation(work_root, self.privilege, status)
        from tenantfixtures.sandbox.portable import RedirectIsolation

        return RedirectIsolation(work_root, status, copy_limit)

    def prepare_workers(self) -> None:
        """Hand the decision to the xdist workers about to start. Rootless, they are exec'd,
        so they get the mount capabilities as ambient ones (the controller itself runs no test
        under xdist)."""
        if self.decision is not None:
            os.environ[_RUN_ENV] = self.decision.encode()
        if self.privilege is not None and self.privilege.rootless:
            namespace.keep_only_mount_caps(inheritable=True)
            namespace.raise_ambient_mount_caps()

    def _decide(self, requested: str, source: str) -> _Decision:
        pid = os.getpid()
        if requested == "redirect":
            return _Decision(pid, IsolationMode.REDIRECT, f"requested by {source}")
        problem = _namespace_problem()
        if problem is None:
            problem = self._enter(workers_follow=True)
        if problem is None:
            how = "as root" if os.geteuid() == 0 else "rootless, in a user namespace"
            why = "requested" if requested == "namespace" else "available"
            return _Decision(pid, IsolationMode.NAMESPACE, f"{why}: overlay per test, {how}")
        if requested == "namespace":
            raise pytest.UsageError(
                f"{source}: namespace isolation is not available here: {problem}; {_HOW_TO_ENABLE}"
                " (or use --tf-isolation=redirect)"
            )
        return _Decision(
            pid, IsolationMode.REDIRECT, f"namespace mode unavailable: {problem}; {_HOW_TO_ENABLE}"
        )

    def _follow(self, inherited: _Decision) -> _Decision:
        if inherited.mode is IsolationMode.REDIRECT:
            return _Decision(inherited.pid, IsolationMode.REDIRECT, inherited.reason)
        problem = self._enter(workers_follow=False)
        if problem is not None:  # the probe said yes: this is a real fault, not a fallback
            raise pytest.UsageError(f"xdist worker could not enter namespace mode: {problem}")
        return inherited

    def _enter(self, workers_follow: bool) -> str | None:
        rootless = os.geteuid() != 0
        privilege = namespace.Privilege(rootless)
        try:
            if not rootless:
                namespace.enter_mount_namespace(privilege)
            elif workers_follow:
                threads = namespace.thread_count()
                if threads != 1:
                    return (
                        f"this process already runs {threads} threads, and a user namespace"
                        " needs a single-threaded process (set tenantfixtures_data_dir in the"
                        " ini file or pass -p tenantfixtures, so the run enters it at start)"
                    )
                namespace.enter_user_namespace()
            else:  # an xdist worker: the controller's user namespace, ambient capabilities
                namespace.clear_ambient_caps()
                namespace.keep_only_mount_caps(inheritable=False)
                namespace.enter_mount_namespace(privilege)
        except OSError as exc:
            return f"{exc.strerror or exc}"
        self.privilege = privilege
        return None


# Namespaces belong to the process, so the choice does too (an inline pytester run inherits it).
CHOOSER = IsolationChooser()


def _namespace_problem() -> str | None:
    """Why namespace mode cannot work here (None: the probe walked the whole sequence)."""
    if platform.system() != "Linux":
        return f"{platform.system()} has no mount namespaces"
    cache = _probe_cache()
    if cache is not None and cache.is_file():
        answer = cache.read_text()
    else:
        answer = _run_probe()
        if cache is not None:
            with contextlib.suppress(OSError):
                cache.write_text(answer)
    return None if answer == namespace.PROBE_OK else answer


def _run_probe() -> str:
    try:
        result = subprocess.run(
            [sys.executable, "-I", namespace.__file__, "probe"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the probe could not run ({exc})"
    return result.stdout.strip() or f"the probe failed: {result.stderr.strip()[-300:]}"


def _probe_cache() -> Path | None:
    """Per user and per boot: the kernel's answer does not change until a reboot (or a sysctl,
    which is why the sysctls are part of the key)."""
    parts = [sys.executable, str(os.geteuid()), platform.release()]
    for source in (
        "/proc/sys/kernel/random/boot_id",
        "/proc/sys/user/max_user_namespaces",
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    ):
        try:
            parts.append(Path(source).read_text().strip())
        except OSError:
            parts.append("-")
    parts.append(hashlib.sha256(Path(namespace.__file__).read_bytes()).hexdigest())
    directory = Path(tempfile.gettempdir()) / f"tenantfixtures-{os.geteuid()}"
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        info = directory.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        return None  # someone else's directory: do not trust (or write) it
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return directory / f"probe-{key}"
