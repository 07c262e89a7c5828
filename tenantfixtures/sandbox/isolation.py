"""How a test comes to own the whole data dir: one interface, two implementations.

- ``namespace`` (Linux): the process has a private mount namespace and the real data dir's
  path carries an overlay whose upper layer is the test's own tmpfs. Everything the test
  does, from any thread, C extension or subprocess, lands in that layer.
- ``redirect`` (anywhere): the test's layer is a copy of the data dir's files, and every Python
  file API on a path under the real data dir is served from it; what Python cannot serve
  (an ``ATTACH`` outside, a subprocess reaching the data dir) is refused.

Either way the test sees a ``Layer``: a directory that stands for the data dir, and the answer
to "did this test write that file?" (so a database the test laid down itself is not replaced
by a template clone).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Relative paths (under the data dir) that a layer does not copy: the system and tenant
# databases, which come from the templates instead.
SkipPath = Callable[[PurePosixPath], bool]
ISOLATION_CHOICES = ("auto", "namespace", "redirect")
COPY_LIMIT_INI = "tenantfixtures_redirect_copy_limit"


@dataclass(frozen=True)
class IsolationRequest:
    """What the configuration asks for: ``--tf-isolation``/``tenantfixtures_isolation``."""

    requested: str = "auto"
    source: str = "--tf-isolation"
    copy_limit: int = 64 * 1024 * 1024  # redirect mode: bytes copied per test at most


class IsolationMode(enum.Enum):
    NAMESPACE = "namespace"
    REDIRECT = "redirect"


@dataclass(frozen=True)
class IsolationStatus:
    """The mode this process runs in, and why (shown in the header and by doctor)."""

    mode: IsolationMode
    reason: str

    def describe(self) -> str:
        return f"{self.mode.value} ({self.reason})"


class Layer(ABC):
    """One test's (or the session's) data dir."""

    root: Path

    @abstractmethod
    def written_here(self, relative: PurePosixPath) -> bool:
        """Whether this layer itself holds the file (created or changed while it was on top)."""


class Isolation(ABC):
    """Serves the data dir from a fresh layer per test; one instance per process."""

    status: IsolationStatus

    @abstractmethod
    def open_session(self, data_dir: Path, skip: SkipPath) -> Layer:
        """The layer seen outside tests: imports, session and module fixtures."""

    @abstractmethod
    def open_test(self) -> Layer:
        """A fresh layer on top of the session's, for one test."""

    @abstractmethod
    def close_test(self, layer: Layer) -> None:
        """Drop the test's layer: the session layer is what the data dir shows again."""

    @abstractmethod
    def close(self) -> None:
        """Undo everything this process set up."""

    def real_files(self) -> AbstractContextManager[None]:
        """Inside, Python's file APIs see the real data dir's files (``doctor`` counts them);
        a mode that serves them from a copy lets them through."""
        return nullcontext()
