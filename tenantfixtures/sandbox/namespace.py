"""Linux kernel primitives for namespace mode: mount namespaces, overlay mounts, capabilities.

Standard library only, and runnable as a script: the probe executes this very file in a
throwaway interpreter (``python -I namespace.py probe``), so deciding whether namespace mode
works never imports the plugin, SQLAlchemy or the app, and never risks this process.

Why each step is done the way it is (see the isolation research notes):
- ``CLONE_NEWUSER`` is refused once a process has a second thread, so the pytest process that
  starts the run enters the user namespace before anything starts threads; xdist workers
  (which have execnet threads) only ``unshare(CLONE_NEWNS)``, with ``CAP_SYS_ADMIN`` handed to
  them as an *ambient* capability (a non-root uid loses its capabilities across ``execve``).
- The uid and gid are mapped to themselves, so ``os.getuid()`` and permission checks stay the
  user's own; capabilities are *effective* only around ``mount``/``umount``, so a test that
  writes a 0o444 file is refused exactly as it would be without us.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522
CAP_DAC_OVERRIDE = 1
CAP_SYS_ADMIN = 21
# What mounting an overlay needs inside a user namespace (SYS_ADMIN alone gets EACCES).
MOUNT_CAPS = (CAP_SYS_ADMIN, CAP_DAC_OVERRIDE)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def unshare(flags: int) -> None:
    _check(_c().unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str, target: str | Path, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _c().mount(
            source.encode(),
            os.fsencode(target),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {fstype or 'bind'} on {target}",
    )


def umount(target: str | Path) -> None:
    """Lazy unmount: gone for new lookups at once, freed when the last user lets go."""
    _check(_c().umount2(os.fsencode(target), ctypes.c_int(MNT_DETACH)), f"umount {target}")


def make_mounts_private() -> None:
    """Nothing we mount may propagate back to the parent namespace (systemd mounts are shared)."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)


def thread_count() -> int:
    """Kernel threads of this process (C threads included, which ``threading`` misses)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 1


def _capabilities() -> tuple[_CapHeader, ctypes.Array[_CapData]]:
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_c().capget(ctypes.byref(header), data), "capget")
    return header, data


def _set_capabilities(effective: int, permitted: int, inheritable: int) -> None:
    header, data = _capabilities()
    for index in range(2):
        shift = 32 * index
        data[index].effective = (effective >> shift) & 0xFFFFFFFF
        data[index].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[index].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_c().capset(ctypes.byref(header), data), "capset")


def _mask(caps: tuple[int, ...]) -> int:
    mask = 0
    for cap in caps:
        mask |= 1 << cap
    return mask


def keep_only_mount_caps(inheritable: bool) -> None:
    """Permitted = what mounting needs, effective = nothing; optionally inheritable too, which
    ambient capabilities require."""
    mask = _mask(MOUNT_CAPS)
    _set_capabilities(0, mask, mask if inheritable else 0)


def raise_ambient_mount_caps() -> None:
    """Hand the mount capabilities to exec'd children (xdist workers) of this process."""
    for cap in MOUNT_CAPS:
        _check(_c().prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, cap, 0, 0), "prctl ambient")


def clear_ambient_caps() -> None:
    """Children of a worker (the app's subprocesses) get no capabilities."""
    _check(_c().prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl ambient")


class Privilege:
    """The mount capabilities of this thread, effective only inside ``mounting()``.

    As real root nothing is raised or dropped: root tests run as root always did.
    """

    def __init__(self, rootless: bool) -> None:
        self.rootless = rootless
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def mounting(self) -> Iterator[None]:
        if not self.rootless:
            yield
            return
        mask = _mask(MOUNT_CAPS)
        with self._lock:
            _set_capabilities(mask, mask, self._inheritable())
            try:
                yield
            finally:
                _set_capabilities(0, mask, self._inheritable())

    @staticmethod
    def _inheritable() -> int:
        _, data = _capabilities()
        return int(data[0].inheritable) | (int(data[1].inheritable) << 32)


def enter_user_namespace() -> None:
    """Become the same uid/gid in a new user namespace with a private mount namespace.

    Must run while the process has one thread. Capabilities are then dropped to the mount
    capabilities, not effective.
    """
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER | CLONE_NEWNS)
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    make_mounts_private()
    keep_only_mount_caps(inheritable=False)


def enter_mount_namespace(privilege: Privilege) -> None:
    """A private mount namespace for this thread (and every thread and child it starts)."""
    with privilege.mounting():
        unshare(CLONE_NEWNS)
        make_mounts_private()


def overlay_options(lowers: list[Path], upper: Path, work: Path, rootless: bool) -> str:
    def escape(path: Path) -> str:
        text = str(path)
        for special in ("\\", ",", ":"):
            text = text.replace(special, "\\" + special)
        return text

    options = f"lowerdir={':'.join(escape(p) for p in lowers)}"
    options += f",upperdir={escape(upper)},workdir={escape(work)}"
    # Rootless, overlay keeps its bookkeeping in user.* xattrs; as root, trusted.* xattrs also
    # let it rename directories of the lower layer (redirect_dir), as the real fs would.
    return options + (",userxattr" if rootless else ",redirect_dir=on")


# --- the probe -------------------------------------------------------------------------------
# Ubuntu 24.04 lets the namespace be created and fails later; a kernel before 6.6 has no user
# xattrs on tmpfs and fails only on a directory replaced in the upper. So the probe walks the
# whole sequence a run will use, worker stage included, and names the first failing step.
PROBE_OK = "ok"


def _probe_layers(rootless: bool) -> None:
    privilege = Privilege(rootless)
    scratch = Path(tempfile.mkdtemp(prefix="tenantfixtures-probe-"))
    try:
        with privilege.mounting():
            mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700")
        lower, upper, work, merged = (scratch / name for name in ("lower", "up", "work", "mnt"))
        for directory in (lower / "org", upper, work, merged):
            directory.mkdir(parents=True)
        (lower / "org" / "tenant.db").write_text("real")
        with privilege.mounting():
            mount("overlay", merged, "overlay", 0, overlay_options([lower], upper, work, rootless))
        (merged / "org" / "tenant.db").write_text("layer")
        (merged / "org" / "tenant.db").unlink()
        (merged / "org").rmdir()
        (merged / "org").mkdir()  # needs an opaque xattr on the upper: fails without user xattrs
        if (lower / "org" / "tenant.db").read_text() != "real":
            raise OSError("the overlay wrote through to its lower layer")
        with privilege.mounting():
            umount(merged)
            umount(scratch)
    finally:
        with contextlib.suppress(OSError):
            scratch.rmdir()


def _probe(stage: str) -> str:
    """Runs in a throwaway interpreter; prints 'ok' or 'step: error'."""
    rootless = os.geteuid() != 0
    step = "unshare"
    try:
        if stage == "controller":
            if rootless:
                step = "user namespace (unshare CLONE_NEWUSER, uid/gid maps)"
                enter_user_namespace()
                keep_only_mount_caps(inheritable=True)
                step = "ambient capabilities for xdist workers"
                raise_ambient_mount_caps()
            else:
                step = "mount namespace (unshare CLONE_NEWNS)"
                unshare(CLONE_NEWNS)
                make_mounts_private()
            step = "overlay on tmpfs"
            _probe_layers(rootless)
            step = "xdist worker stage"
            import subprocess

            worker = subprocess.run(
                [sys.executable, "-I", __file__, "probe", "worker"],
                capture_output=True,
                text=True,
                check=False,
            )
            return worker.stdout.strip() or f"{step}: {worker.stderr.strip()[-300:]}"
        # The worker stage: threaded, capabilities only from the ambient set.
        threading.Thread(target=threading.Event().wait, args=(5,), daemon=True).start()
        if rootless:
            step = "worker capabilities"
            clear_ambient_caps()
            keep_only_mount_caps(inheritable=False)
        step = "worker mount namespace"
        enter_mount_namespace(Privilege(rootless))
        step = "worker overlay on tmpfs"
        _probe_layers(rootless)
    except OSError as exc:
        return f"{step}: {exc.strerror or exc}"
    return PROBE_OK


if __name__ == "__main__" and sys.argv[1:2] == ["probe"]:
    print(_probe(sys.argv[2] if len(sys.argv) > 2 else "controller"))
