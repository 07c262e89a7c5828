"""Redirect mode: each test's data dir is a copy of the real one, served to Python's file APIs.

The session layer is a copy of every file of the real data dir but the system and tenant
databases (those are cloned from the templates on first touch); each test's layer is a copy of
the session layer, so files that session fixtures wrote are seen by every test, as in namespace
mode. Above ``copy_limit`` bytes the run stops with a usage error: copying gigabytes per test is
never what anyone wants, and namespace mode copies nothing.

What Python does not do itself escapes the redirect: a subprocess that builds data-dir paths on
its own, a C extension opening files. So the real data dir is fingerprinted when the session
opens and compared after each test: a change fails that test's teardown, naming the paths.
"""

from __future__ import annotations

import os
import shutil
import stat
from contextlib import AbstractContextManager, nullcontext
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
        self._real = Path()
        self._real_state: Fingerprint = {}

    def open_session(self, data_dir: Path, skip: SkipPath) -> Layer:
        """The session layer is a copy of the real data dir; each test's is a copy of it."""
        self._skip = skip
        self._real = data_dir
        self._real_state = _fingerprint(data_dir)
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
        """Drop the test's copy; fail the test's teardown if the real data dir changed."""
        assert self.files is not None
        assert self._session is not None
        self.files.target = self._session.root
        shutil.rmtree(layer.root, ignore_errors=True)
        with self.files.passthrough():
            now = _fingerprint(self._real)
        changes = _changes(self._real_state, now)
        self._real_state = now  # each change is reported once, by the test it happened in
        if changes:
            pytest.fail(
                f"the real data dir {self._real} changed during this test: {changes}. Redirect"
                " mode serves Python's file APIs from the test's copy, but not a subprocess that"
                " builds data-dir paths itself, a C extension, or another program: run in"
                " namespace mode (--tf-isolation=namespace, Linux), or keep such code away from"
                " the data dir in tests",
                pytrace=False,
            )

    def close(self) -> None:
        if self.files is not None:
            self.files.uninstall()
            self.files = None

    def real_files(self) -> AbstractContextManager[None]:
        return self.files.passthrough() if self.files is not None else nullcontext()

    def _copy(self, source: Path, kind: str) -> CopyLayer:
        """A fresh layer holding every file of ``source`` but the skipped databases."""
        assert self.files is not None
        self._count += 1
        root = self._work_root / f"{kind}-{self._count}"
        with self.files.passthrough():
            copied = _copy_tree(source, root, self._skip, self._copy_limit)
        return CopyLayer(root, copied)


Fingerprint = dict[PurePosixPath, tuple[int, int, int, str]]  # type, size, mtime, link target


def _fingerprint(root: Path) -> Fingerprint:
    """Every entry under ``root`` (links not followed): its type, a file's size and modification
    time, a link's target. Directories' own times are left out: reading changes nothing."""
    found: Fingerprint = {}
    for directory, subdirs, filenames in os.walk(root):
        for name in (*subdirs, *filenames):
            path = Path(directory, name)
            try:
                info = path.lstat()
                link = os.readlink(path) if stat.S_ISLNK(info.st_mode) else ""
            except FileNotFoundError:
                continue  # gone since the listing
            regular = stat.S_ISREG(info.st_mode)
            found[PurePosixPath(path.relative_to(root).as_posix())] = (
                stat.S_IFMT(info.st_mode),
                info.st_size if regular else 0,
                info.st_mtime_ns if regular else 0,
                link,
            )
    return found


def _changes(before: Fingerprint, after: Fingerprint, shown: int = 5) -> str:
    """What changed, in words: created, deleted and modified paths, the first few of each."""
    kinds = (
        ("created", sorted(after.keys() - before.keys())),
        ("deleted", sorted(before.keys() - after.keys())),
        ("modified", sorted(k for k in before.keys() & after.keys() if before[k] != after[k])),
    )
    return "; ".join(
        f"{kind} {', '.join(map(str, paths[:shown]))}"
        + (f" (+{len(paths) - shown} more)" if len(paths) > shown else "")
        for kind, paths in kinds
        if paths
    )


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
                made.symlink_to(_link_target(base / name, source))
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
                (target / relative).symlink_to(_link_target(path, source))
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


def _link_target(link: Path, source: Path) -> str:
    """Where the copy of ``link`` points: into the copy when the link points inside ``source``
    (as a relative link, so a copy of the copy works too), else to the same place as the
    original (an absolute link: a relative one leaving the tree would dangle in the copy)."""
    pointed = os.path.normpath(os.path.join(link.parent, os.readlink(link)))
    if pointed == str(source) or pointed.startswith(str(source) + os.sep):
        return os.path.relpath(pointed, link.parent)
    return pointed
