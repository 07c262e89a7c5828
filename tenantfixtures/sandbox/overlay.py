"""Namespace mode: an overlay on the real data dir's path, a fresh upper layer per test.

The stack, inside this process's private mount namespace (nothing is visible outside it):

    <work>/ns            tmpfs: everything below lives in RAM and dies with the namespace
    <work>/ns/real       read-only bind of the real data dir (the overlays' lowest layer)
    <work>/ns/session    upper layer of the session overlay (imports, session fixtures)
    <work>/ns/test       a tmpfs per test holding its upper layer
    <data dir>           session overlay (lower = real); during a test, the test's overlay on
                         top of it (lowers = session upper, real), so the test sees what the
                         session wrote and nothing the test writes outlives it

A test's layer costs a tmpfs mount, an overlay mount and two lazy unmounts (no file is copied
and nothing is deleted file by file). A ``kill -9`` leaves nothing: the mounts belong to the
namespace, which ends with its last process.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from tenantfixtures.sandbox import namespace
from tenantfixtures.sandbox.isolation import Isolation, IsolationStatus, Layer, SkipPath
from tenantfixtures.sandbox.layout import is_within


class OverlayLayer(Layer):
    def __init__(self, root: Path, upper: Path) -> None:
        self.root = root
        self.upper = upper

    def written_here(self, relative: PurePosixPath) -> bool:
        # A whiteout (the test deleted the file) is a character device, not a regular file.
        return (self.upper / relative).is_file()


class NamespaceIsolation(Isolation):
    def __init__(self, work_root: Path, privilege: namespace.Privilege, status: IsolationStatus):
        self.status = status
        self._privilege = privilege
        self._rootless = privilege.rootless
        self._scratch = work_root / "ns"
        self._real = self._scratch / "real"
        self._session_upper = self._scratch / "session" / "upper"
        self._test_mount = self._scratch / "test"
        self._data_dir: Path | None = None
        self._mounted: list[Path] = []  # innermost last, for close()

    def open_session(self, data_dir: Path, skip: SkipPath) -> Layer:
        """Mount the session overlay. ``skip`` is unused: nothing is copied in this mode."""
        # The overlay needs a mount point: an absent data dir is created, empty, once (as the
        # app itself would on its first start).
        data_dir.mkdir(parents=True, exist_ok=True)
        self._data_dir = data_dir
        self._scratch.mkdir(parents=True, exist_ok=True)
        with self._privilege.mounting():
            self._mount("tmpfs", self._scratch, "tmpfs", namespace.MS_NOSUID, "mode=0700")
            for directory in (
                self._real,
                self._session_upper,
                self._session_upper.with_name("work"),
                self._test_mount,
            ):
                directory.mkdir(parents=True)
            self._mount(str(data_dir), self._real, None, namespace.MS_BIND | namespace.MS_REC)
            namespace.mount(
                "none",
                self._real,
                None,
                namespace.MS_BIND | namespace.MS_REMOUNT | namespace.MS_RDONLY,
            )
            self._mount_overlay([self._real], self._session_upper)
        return OverlayLayer(data_dir, self._session_upper)

    def open_test(self) -> Layer:
        assert self._data_dir is not None, "open_session() first"
        upper = self._test_mount / "upper"
        with self._privilege.mounting():
            self._mount("tmpfs", self._test_mount, "tmpfs", namespace.MS_NOSUID, "mode=0700")
            upper.mkdir()
            upper.with_name("work").mkdir()
            self._mount_overlay([self._session_upper, self._real], upper)
        return OverlayLayer(self._data_dir, upper)

    def close_test(self, layer: Layer) -> None:
        with self._privilege.mounting():
            self._unmount(2)  # the test's overlay, then its tmpfs

    def close(self) -> None:
        if not self._mounted:
            return
        with self._privilege.mounting():
            self._unmount(len(self._mounted))

    def _mount_overlay(self, lowers: list[Path], upper: Path) -> None:
        assert self._data_dir is not None
        options = namespace.overlay_options(lowers, upper, upper.with_name("work"), self._rootless)
        self._mount("overlay", self._data_dir, "overlay", 0, options)

    def _mount(
        self, source: str, target: Path, fstype: str | None, flags: int, data: str = ""
    ) -> None:
        namespace.mount(source, target, fstype, flags, data)
        self._mounted.append(target)
        self._follow_cwd()

    def _unmount(self, count: int) -> None:
        for _ in range(count):
            namespace.umount(self._mounted.pop())
        self._follow_cwd()

    def _follow_cwd(self) -> None:
        """A cwd inside the data dir still points at the old layer: look it up again."""
        if self._data_dir is None:
            return
        try:
            cwd = os.getcwd()
        except FileNotFoundError:
            return
        if is_within(cwd, str(self._data_dir)):
            os.chdir(cwd)
