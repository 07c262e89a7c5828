"""One violation log per test: every guard records into it, one hook wrapper reports it.

The guards (sandbox escape, network, ``tenancy.only``, the OpenRouter mock) raise their own
error where the code under test went wrong, and *also* record a ``Violation`` here: an app
that catches the error (and answers 500, or retries, or falls back) cannot hide it. After each
phase of a test (setup, call, teardown) ``guards.plugin`` fails that phase, or warns
(``--tf-guard=warn``, for the guards that have a mode), for what was recorded during it, with
one message style::

    <guard>: <what happened, how to fix it>
      (from <the user's file:line in function>)

Recording works from any thread: while a test runs, its log is this process's active log
(pytest runs one test at a time per process, xdist workers included). The module imports
only the standard library and pytest: it loads at pytest start-up.
"""

from __future__ import annotations

import contextlib
import enum
import sys
import sysconfig
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Literal

import pytest

from tenantfixtures.redact import redact

Mode = Literal["fail", "warn"]
Phase = Literal["setup", "call", "teardown"]


class GuardKind(enum.Enum):
    """Which guard recorded a violation; the value starts its message."""

    SANDBOX_ESCAPE = "sandbox escape"
    NETWORK = "network guard"
    TENANT_SCOPE = "cross-tenant access"
    OPENROUTER = "openrouter"


class GuardViolationWarning(pytest.PytestWarning):
    """``--tf-guard=warn``: a guard violation that was let through (one warning each)."""


@dataclass(frozen=True)
class Violation:
    """What one guard saw: its kind, the explanation (with the fix), and the user's call site."""

    kind: GuardKind
    message: str
    where: str | None = None
    mode: Mode = "fail"
    phase: Phase | None = None

    def render(self) -> str:
        """The one text users see: in the exception, the failed phase and the warning."""
        text = f"{self.kind.value}: {self.message}"
        if self.where:
            text += f"\n  (from {self.where})"
        return redact(text)


@dataclass
class ViolationLog:
    """The violations of one test run (a rerun starts a new log)."""

    nodeid: str
    entries: list[Violation] = field(default_factory=list)
    phase: Phase | None = None
    checked: int = 0  # entries before this index were judged after an earlier phase
    # id(violation) -> the exception that carried it out of a guard's block (``tenancy.only``)
    _carriers: dict[int, BaseException] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, violation: Violation) -> Violation:
        """Keep ``violation`` unless the same one was already recorded in this test."""
        with self._lock:
            for seen in self.entries:
                if (seen.kind, seen.message, seen.where) == (
                    violation.kind,
                    violation.message,
                    violation.where,
                ):
                    return seen
            violation = _in_phase(violation, self.phase)
            self.entries.append(violation)
            return violation

    def carried_by(self, violations: Iterable[Violation], error: BaseException) -> None:
        """These violations left the guard's block inside ``error`` (``tenancy.only`` raising at
        its end): if the test catches it (``pytest.raises``), the test has dealt with them."""
        with self._lock:
            for violation in violations:
                self._carriers[id(violation)] = error

    def failing(self) -> list[Violation]:
        """The violations of the running phase (so far) that will fail it."""
        with self._lock:
            return [v for v in self.entries[self.checked :] if v.mode == "fail"]

    def take_new(self, failure: BaseException | None) -> list[Violation]:
        """What the phase that just ended must answer for: the violations recorded since the
        last phase, except those carried out by an error the test caught."""
        with self._lock:
            new = self.entries[self.checked :]
            self.checked = len(self.entries)
            carriers = dict(self._carriers)
        return [
            violation
            for violation in new
            if id(violation) not in carriers or _contains(failure, carriers[id(violation)])
        ]


def _in_phase(violation: Violation, phase: Phase | None) -> Violation:
    if violation.phase is not None or phase is None:
        return violation
    return Violation(violation.kind, violation.message, violation.where, violation.mode, phase)


LOG = pytest.StashKey[ViolationLog]()
_active: ViolationLog | None = None


def begin(item: pytest.Item, phase: Phase) -> ViolationLog:
    """Make ``item``'s log the active one for ``phase`` (a new log at setup: reruns reuse
    the item)."""
    global _active
    if phase == "setup" or LOG not in item.stash:
        item.stash[LOG] = ViolationLog(item.nodeid)
    log = item.stash[LOG]
    log.phase = phase
    _active = log
    return log


def end(log: ViolationLog) -> None:
    """The test is over: later records (a thread that outlived it) go nowhere."""
    global _active
    if _active is log:
        _active = None


def active_log() -> ViolationLog | None:
    return _active


def record(
    kind: GuardKind, message: str, *, mode: Mode = "fail", where: str | None = None
) -> Violation:
    """Record a violation in the running test's log (outside a test: only returned). The
    caller then raises its own error with ``violation.render()`` (unless ``mode`` is warn)."""
    violation = Violation(kind, message, where if where is not None else call_site(), mode)
    log = _active
    return log.add(violation) if log is not None else violation


def render_all(violations: Sequence[Violation]) -> str:
    return "\n".join(violation.render() for violation in violations)


def report(
    item: pytest.Item,
    violations: Sequence[Violation],
    failure: BaseException | None,
) -> None:
    """After a phase: one warning per violation let through, then fail the phase for the
    others. The failure replaces what the code made of the guard's error (a 502, a retry, an
    ExceptionGroup): the violation is the root cause."""
    for violation in violations:
        if violation.mode == "warn":
            item.warn(GuardViolationWarning(violation.render()))
    failing = [violation for violation in violations if violation.mode == "fail"]
    if not failing:
        return
    text = render_all(failing)
    if failure is None:
        text += (
            "\n(the code under test caught the error; tenantfixtures fails the "
            f"{failing[0].phase or 'test'} all the same)"
        )
    elif not _is_guard_error(failure):
        detail = redact(f"{type(failure).__name__}: {failure}".splitlines()[0])
        text += f"\n(the test then failed with {detail})"
    pytest.fail(text, pytrace=False)


def _contains(failure: BaseException | None, error: BaseException) -> bool:
    """Whether ``error`` is the failure, inside its group, or its cause or context."""
    seen: set[int] = set()
    pending = [failure]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        if current is error:
            return True
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            pending += list(current.exceptions)
    return False


def _is_guard_error(failure: BaseException) -> bool:
    """Whether the phase failed with a guard's own error (maybe inside an ExceptionGroup)."""
    from tenantfixtures.errors import SandboxEscapeError, TenantIsolationError
    from tenantfixtures.guards.network import NetworkBlockedError
    from tenantfixtures.llm.errors import OpenRouterMockError

    ours = (SandboxEscapeError, TenantIsolationError, NetworkBlockedError, OpenRouterMockError)
    if isinstance(failure, ours):
        return True
    if isinstance(failure, BaseExceptionGroup):
        return any(_is_guard_error(inner) for inner in failure.exceptions)
    return False


# -- call sites ------------------------------------------------------------------------------

_OURS = str(Path(__file__).resolve().parent.parent)  # the tenantfixtures package
_LIBRARIES = tuple(
    {
        path
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (raw := sysconfig.get_paths().get(key))
        for path in (raw, str(Path(raw).resolve()))
    }
)
# The call site that submitted the running executor job, per thread (see ``submitted_from``).
_ORIGIN = threading.local()


def call_site() -> str | None:
    """The innermost frame of the user's own code (test or app), as ``path:line in func``;
    in an executor job, the call site that submitted it."""
    frame = user_frame()
    if frame is not None:
        path = Path(frame.f_code.co_filename)
        with contextlib.suppress(ValueError):
            path = path.relative_to(Path.cwd())
        return f"{path}:{frame.f_lineno} in {frame.f_code.co_name}"
    origin: str | None = getattr(_ORIGIN, "site", None)
    return origin


def user_frame() -> FrameType | None:
    """The innermost frame of the user's own code (test or app): neither ours nor a library's."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith((_OURS, *_LIBRARIES, "<")):
        frame = frame.f_back
    return frame


@contextlib.contextmanager
def submitted_from(site: str) -> Iterator[None]:
    """Run an executor job as if called from ``site`` (asyncio resolves names in a thread)."""
    previous = getattr(_ORIGIN, "site", None)
    _ORIGIN.site = site
    try:
        yield
    finally:
        _ORIGIN.site = previous
