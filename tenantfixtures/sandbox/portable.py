"""Redirect mode: each test's data dir is a copy of the real one, served to Python's file APIs.

The session layer is a copy of every file of the real data dir but the system and tenant
databases (those are cloned from the templates on first touch); each test's layer is a copy of
the session layer, so files that session fixtures wrote are seen by every test, as in namespace
mode. Above ``copy_limit`` bytes the run stops with a usage error: copying gigabytes per test is
never what anyone wants, and namespace mode copies nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path, PurePosixPath

import pytest

from tenantfixtures.sandbox.files import FileRedirect
from tenantfixtures.sandbox.isolation import (
    COPY_LIMIT_INI,
    Isolation,
    IsolationStatus,
    Layer,
    SkipPath,
)


class CopyLayer(Layer):
    def __init__(self, root: Path, copied: frozenset[PurePosixPath]) -> None:
        self.root = root
        self._copied = copied

    def written_here(self, relative: PurePosixPath) -> bool:
        return relative not in self._copied and (self.root / relative).is_file()


class RedirectIsolation(Isolation):
    def __init__(self, work_root: Path, status: IsolationStatus, copy_limit: int) -> None:
        self.status = status
        self.files: FileRedirect | None = None
        self._work_root = work_root
        self._copy_limit = copy_limit
        self._skip: SkipPath = lambda relative: False
        self._session: CopyLayer | None = None
        self._count = 0

    def open_session(self, data_dir: Path, skip: SkipPath) -> Layer:
        """The session layer is a copy of the real data dir; each test's is a copy of it."""
        self._skip = skip
        self.files = FileRedirect(data_dir)
        self._session = self._copy(data_dir, "session")
        self.files.target = self._session.root
        self.files.install()
        return self._session

    def open_test(self) -> Layer:
        assert self.files is not None
        assert self._session is not None, "open_session() first"
        layer = self._copy(self._session.root, "test")
        self.files.rescan()
        self.files.target = layer.root
        return layer

    def close_test(self, layer: Layer) -> None:
        assert self.files is not None
        assert self._session is not None
        self.files.target = self._session.root
        shutil.rmtree(layer.root, ignore_errors=True)

    def close(self) -> None:
        if self.files is not None:
            self.files.uninstall()
            self.files = None

    def _copy(self, source: Path, kind: str) -> CopyLayer:
        """A fresh layer holding every file of ``source`` but the skipped databases."""
        assert self.files is not None
        self._count += 1
        root = self._work_root / f"{kind}-{self._count}"
        with self.files.passthrough():
            copied = _copy_tree(source, root, self._skip, self._copy_limit)
        return CopyLayer(root, copied)


def _copy_tree(source: Path, target: Path, skip: SkipPath, limit: int) -> frozenset[PurePosixPath]:
    """Copy directories (their modes, plus ours to write), files and symlinks; refuse a tree
    over ``limit``."""
    target.mkdir(parents=True)
    copied: set[PurePosixPath] = set()
    total = 0
    if not source.is_dir():
        return frozenset()
    for directory, subdirs, filenames in os.walk(source):
        base = Path(directory)
        relative_base = base.relative_to(source)
        for name in sorted(subdirs):
            made = target / relative_base / name
            if (base / name).is_symlink():
                made.symlink_to(os.readlink(base / name))
                continue
            made.mkdir()
            # The test's own copy: writable for us even when the checkout is read-only.
            made.chmod(stat.S_IMODE((base / name).stat().st_mode) | stat.S_IRWXU)
        for name in sorted(filenames):
            relative = PurePosixPath((relative_base / name).as_posix())
            if skip(relative):
                continue
            path = base / name
            if path.is_symlink():
                (target / relative).symlink_to(os.readlink(path))
                continue
            total += path.stat().st_size
            if total > limit:
                raise pytest.UsageError(
                    f"redirect mode copies the data dir {source} for every test, and it holds"
                    f" more than {limit / 2**20:.0f} MiB: use namespace mode"
                    " (--tf-isolation=namespace, Linux), shrink the data dir, or raise the ini"
                    f" option {COPY_LIMIT_INI} (bytes)"
                )
            shutil.copy2(path, target / relative)
            copied.add(relative)
    return frozenset(copied)
