"""Portable "redirect" isolation: Python file operations on the app's real data dir are served
from the test's sandbox directory instead.

``FileRedirect`` replaces the file primitives of ``os`` (and ``open``) with wrappers that map a
path under the real data dir onto the active sandbox. Everything built on them follows:
``os.path``, ``shutil``, ``pathlib``, ``glob``, ``os.walk``, ``tempfile``. Functions bound by
name before install (``from os import remove``) are found by scanning ``sys.modules``, as
pyfakefs does.

How a path is matched, cheapest first:
1. a string-prefix test of the normalised absolute path against the data dir;
2. symlink aliases (``/tmp/alias -> data``): the *parent directory* is resolved with
   ``realpath`` once; that, and each absolute path found to be outside, is cached until the
   target changes or a wrapper changes the tree (symlink, rename, replace, remove, rmdir);
3. for writes that follow symlinks, one ``lstat`` of the last component, so a file symlink into
   the data dir (``/tmp/x.db -> data/system.db``) is caught too.
The trade-off: *reads* through a last-component symlink (``os.listdir("/tmp/alias")``) see the
real data dir, and a symlink made outside these wrappers (C code, a subprocess) after its path
was cached is not seen until the cache is dropped.

A relative path used while the cwd is inside the sandbox (after ``os.chdir`` into the data
dir) is resolved as from the real data dir, so ``..`` leaves it as it would; ``os.getcwd()``
itself then names the sandbox.

POSIX only (Linux, macOS). Not covered: C code (SQLite, extensions), subprocesses,
``io.FileIO`` and ``io.open_code`` called directly, file functions saved as default argument
values or class attributes (other than those of ``glob``, ``pathlib`` and ``shutil``), and
modules imported after the last ``rescan()``.
"""

from __future__ import annotations

import _io
import builtins
import functools
import io
import os
import posixpath
import stat
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CACHE_LIMIT = 4096

# Modules whose bindings are the primitives themselves, or that must keep the real ones
# (import machinery); the attributes we need on os/io/builtins are patched explicitly.
_SKIPPED_MODULES = frozenset(
    {
        "os",
        "posix",
        "posixpath",
        "genericpath",
        "io",
        "_io",
        "builtins",
        "sys",
        "importlib._bootstrap",
        "importlib._bootstrap_external",
        "zipimport",
    }
)
# Modules whose classes cache primitives as static methods (``glob._StringGlobber`` on 3.13+).
_CLASS_SCANNED_MODULES = frozenset({"glob", "pathlib", "pathlib._local", "pathlib._abc", "shutil"})

# os functions by how their path argument is used.
_READS = ("stat", "lstat", "access", "chdir", "getxattr", "statvfs", "pathconf")
_WRITES = (
    "truncate",
    "chmod",
    "lchmod",
    "utime",
    "chown",
    "lchown",
    "chflags",
    "lchflags",
    "setxattr",
    "removexattr",
)
_CREATES = ("mkdir", "mkfifo", "mknod")  # never follow the last component
_REMOVES = ("remove", "unlink", "rmdir")  # change what a path resolves to
_LISTINGS = ("listdir", "listxattr")  # path defaults to the cwd
_NO_FOLLOW_VARIANTS = frozenset({"lstat", "lchmod", "lchown", "lchflags"})


class _Local(threading.local):
    depth = 0  # > 0 while this thread must see the real files (our own I/O, on_touch)


class _Entry:
    """A ``DirEntry`` of the sandbox that spells its ``path`` as under the real data dir, so
    code listing the data dir (3.13 ``Path.iterdir`` uses ``entry.path``) sees familiar paths."""

    __slots__ = ("_entry", "name", "path")

    def __init__(self, entry: os.DirEntry[Any], path: str | bytes) -> None:
        self._entry = entry
        self.name = entry.name
        self.path = path

    def __fspath__(self) -> str | bytes:
        return self.path

    def __getattr__(self, name: str) -> Any:  # is_dir, is_file, stat, inode, is_junction...
        return getattr(self._entry, name)

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"


class _Entries:
    """The ``os.scandir`` iterator over a sandbox directory, yielding ``_Entry`` objects."""

    def __init__(self, iterator: Any, spelled: str | bytes) -> None:
        self._iterator = iterator
        self._spelled = spelled

    def __iter__(self) -> _Entries:
        return self

    def __next__(self) -> _Entry:
        entry = next(self._iterator)
        return _Entry(entry, posixpath.join(self._spelled, entry.name))

    def __enter__(self) -> _Entries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._iterator.close()


class FileRedirect:
    """Serves Python file operations on ``real_root`` from ``target`` while it is set.

    One instance per process: ``install()`` patches once, ``target`` switches per test.
    """

    def __init__(self, real_root: Path) -> None:
        self._local = _Local()
        self._lstat: Callable[..., os.stat_result] = os.lstat
        with self.passthrough():
            given = posixpath.normpath(os.path.abspath(os.fspath(real_root)))
            resolved = posixpath.realpath(given)
        self.real_root = Path(resolved)
        self._real_prefix = resolved.rstrip("/") + "/"
        self._spelling = given  # how results inside the sandbox are spelled back
        self._prefixes = tuple(dict.fromkeys(p.rstrip("/") + "/" for p in (given, resolved)))
        self.on_touch: Callable[[PurePosixPath], None] | None = None
        self._target: str | None = None
        self._target_prefix = ""
        self._target_path: Path | None = None
        self._parents: dict[str, str | bool] = {}
        self._outside: dict[str, bool] = {}  # absolute path -> checked its last component
        self._lock = threading.RLock()
        self._installed = False
        self._wrappers: dict[int, tuple[Any, Any]] = {}  # id(original) -> (original, wrapper)
        # (module namespace or class, attribute, original, replacement)
        self._restore: list[tuple[dict[str, Any] | type, str, Any, Any]] = []
        self._scanned: set[str] = set()

    # -- the mapping ---------------------------------------------------------------------

    @property
    def target(self) -> Path | None:
        return self._target_path

    @target.setter
    def target(self, value: Path | None) -> None:
        self._forget()
        if value is None:
            self._target = None
            self._target_path = None
            return
        with self.passthrough():
            spelled = posixpath.normpath(os.path.abspath(os.fspath(value)))
            if self._under_root(spelled) is not None or self._under_root(
                posixpath.realpath(spelled)
            ):
                raise ValueError(f"the sandbox {spelled} must not be inside {self.real_root}")
        self._target_prefix = spelled.rstrip("/") + "/"
        self._target_path = Path(value)
        self._target = spelled

    @contextmanager
    def passthrough(self) -> Iterator[None]:
        """In this thread, file operations reach the real files (for our own file I/O)."""
        self._local.depth += 1
        try:
            yield
        finally:
            self._local.depth -= 1

    def to_sandbox(self, path: str | bytes | os.PathLike[str]) -> str | None:
        """The sandbox path serving ``path``, or None when it is not under the real data dir
        (or no test is active). Does not call ``on_touch``."""
        target = self._target
        if target is None or isinstance(path, int):
            return None
        relative = self._relative(self._absolute(os.fsdecode(path), target)[0], final=True)
        if relative is None:
            return None
        return target + "/" + relative if relative else target

    def _under_root(self, normalised: str) -> str | None:
        for prefix in self._prefixes:
            if normalised.startswith(prefix):
                return normalised[len(prefix) :]
            if normalised == prefix[:-1]:
                return ""
        return None

    def _absolute(self, text: str, target: str) -> tuple[str, bool]:
        """``text`` made absolute, and whether it was relative to a cwd inside the sandbox (then
        it is spelled from the real data dir, so ``..`` climbs out as it would from there)."""
        if text.startswith("/"):
            return text, False
        cwd = os.getcwd()
        if cwd == target or cwd.startswith(self._target_prefix):
            return posixpath.join(self._spelling + cwd[len(target) :], text), True
        return posixpath.join(cwd, text), False

    def _relative(self, absolute: str, final: bool) -> str | None:
        """The data-dir-relative path that the absolute path reaches, or None."""
        normalised = posixpath.normpath(absolute)
        relative = self._under_root(normalised)
        if relative is not None:
            return relative
        if normalised.startswith(self._target_prefix):
            return None
        parent, _, name = normalised.rpartition("/")
        cached = self._parents.get(parent)
        if cached is None:
            cached = self._resolve_dir(parent or "/")
        if cached is not False:
            assert isinstance(cached, str)
            return cached + "/" + name if cached else name
        if final and name:
            try:
                is_link = stat.S_ISLNK(self._lstat(normalised).st_mode)
            except OSError:
                return None
            if is_link:
                with self.passthrough():
                    resolved = posixpath.realpath(normalised)
                return resolved[len(self._real_prefix) :] if self._within_real(resolved) else None
        return None

    def _within_real(self, resolved: str) -> bool:
        return resolved.startswith(self._real_prefix) or resolved == self._real_prefix[:-1]

    def _resolve_dir(self, parent: str) -> str | bool:
        with self.passthrough():
            resolved = posixpath.realpath(parent)
        result: str | bool = (
            resolved[len(self._real_prefix) :] if self._within_real(resolved) else False
        )
        if len(self._parents) >= _CACHE_LIMIT:
            self._parents.clear()
        self._parents[parent] = result
        return result

    def _map(self, path: Any, final: bool) -> Any:
        """``path`` mapped into the sandbox, in its own type (str or bytes), or None."""
        target = self._target
        if target is None or isinstance(path, int) or self._local.depth:
            return None
        try:
            raw = os.fspath(path)
        except TypeError:
            return None  # let the original function raise its own error
        text = os.fsdecode(raw)
        outside = self._outside
        checked = outside.get(text)
        if checked is not None and (checked or not final):
            return None
        absolute, from_sandbox = self._absolute(text, target)
        relative = self._relative(absolute, final)
        if relative is None:
            if not from_sandbox:
                if absolute is text:  # relative paths depend on the cwd: not cached
                    if len(outside) >= _CACHE_LIMIT:
                        outside.clear()
                    outside[text] = final
                return None
            climbed = posixpath.normpath(absolute)  # out of a cwd inside the sandbox
            return os.fsencode(climbed) if isinstance(raw, bytes) else climbed
        on_touch = self.on_touch
        if on_touch is not None:
            with self.passthrough():
                on_touch(PurePosixPath(relative))
        mapped = target + "/" + relative if relative else target
        if text.endswith("/") and relative:
            mapped += "/"
        return os.fsencode(mapped) if isinstance(raw, bytes) else mapped

    def _spell_back(self, result: Any) -> Any:
        """A path that came back from the sandbox, spelled as under the real data dir."""
        text = os.fsdecode(result)
        if text.startswith(self._target_prefix) or text == self._target:
            text = self._spelling + text[len(self._target or "") :]
            return os.fsencode(text) if isinstance(result, bytes) else text
        return result

    def _forget(self) -> None:
        """Drop what we learnt about paths outside the data dir: the tree changed."""
        if self._parents:
            self._parents.clear()
        if self._outside:
            self._outside.clear()

    # -- wrappers --------------------------------------------------------------------------

    def _path_wrapper(self, original: Any, *, writes: bool, structural: bool = False) -> Any:
        redirect = self

        def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
            if redirect._target is None or kwargs.get("dir_fd") is not None:
                return original(path, *args, **kwargs)
            if structural:
                redirect._forget()
            final = writes and kwargs.get("follow_symlinks", True)
            mapped = redirect._map(path, final)
            if mapped is None:
                return original(path, *args, **kwargs)
            return original(mapped, *args, **kwargs)

        return wrapper

    def _listing_wrapper(self, original: Any) -> Any:
        redirect = self

        def wrapper(path: Any = None, *args: Any, **kwargs: Any) -> Any:
            if redirect._target is None:
                return original(path, *args, **kwargs)
            mapped = redirect._map("." if path is None else path, False)
            return original(path if mapped is None else mapped, *args, **kwargs)

        return wrapper

    def _scandir_wrapper(self, original: Any) -> Any:
        redirect = self

        def scandir(path: Any = None) -> Any:
            if redirect._target is None:
                return original(path)
            spelled = "." if path is None else path
            mapped = redirect._map(spelled, False)
            if mapped is None:
                return original(path)
            return _Entries(original(mapped), os.fspath(spelled))

        return scandir

    def _os_open_wrapper(self, original: Any) -> Any:
        redirect = self

        def open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> Any:
            if redirect._target is None or dir_fd is not None:
                return original(path, flags, mode, dir_fd=dir_fd)
            final = bool(flags & _WRITE_FLAGS) and not flags & _NOFOLLOW
            mapped = redirect._map(path, final)
            return original(path if mapped is None else mapped, flags, mode)

        return open

    def _open_wrapper(self, original: Any) -> Any:
        redirect = self

        def open(
            file: Any,
            mode: str = "r",
            buffering: int = -1,
            encoding: str | None = None,
            errors: str | None = None,
            newline: str | None = None,
            closefd: bool = True,
            opener: Any = None,
        ) -> Any:
            if redirect._target is None or isinstance(file, int):
                return original(file, mode, buffering, encoding, errors, newline, closefd, opener)
            writes = mode != "r" and any(flag in mode for flag in "wax+")
            mapped = redirect._map(file, writes)
            if mapped is None:
                return original(file, mode, buffering, encoding, errors, newline, closefd, opener)
            stream = original(mapped, mode, buffering, encoding, errors, newline, closefd, opener)
            raw = getattr(stream, "buffer", stream)
            raw = getattr(raw, "raw", raw)
            with suppress(AttributeError, TypeError):
                raw.name = os.fspath(file)  # error messages and f.name keep the app's spelling
            return stream

        return open

    def _two_paths_wrapper(self, original: Any, *, structural: bool, final_source: bool) -> Any:
        redirect = self

        def wrapper(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
            if redirect._target is None:
                return original(src, dst, *args, **kwargs)
            if structural:
                redirect._forget()
            if kwargs.get("src_dir_fd") is None:
                final = final_source and kwargs.get("follow_symlinks", True)
                mapped = redirect._map(src, final)
                src = src if mapped is None else mapped
            if kwargs.get("dst_dir_fd") is None:
                mapped = redirect._map(dst, False)
                dst = dst if mapped is None else mapped
            return original(src, dst, *args, **kwargs)

        return wrapper

    def _symlink_wrapper(self, original: Any) -> Any:
        redirect = self

        def symlink(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
            if redirect._target is None or kwargs.get("dir_fd") is not None:
                return original(src, dst, *args, **kwargs)
            redirect._forget()
            mapped_dst = redirect._map(dst, False)
            content = os.fsdecode(src)
            if content.startswith("/"):
                mapped_src = redirect._map(src, False)
                src = src if mapped_src is None else mapped_src
            elif mapped_dst is not None:
                # A relative link that climbs out of the data dir must still point where it
                # would have pointed from the real data dir.
                real_dst = redirect._absolute(os.fsdecode(dst), redirect._target)[0]
                pointee = posixpath.normpath(posixpath.join(posixpath.dirname(real_dst), content))
                if redirect._relative(pointee, final=False) is None:
                    src = os.fsencode(pointee) if isinstance(src, bytes) else pointee
            return original(src, dst if mapped_dst is None else mapped_dst, *args, **kwargs)

        return symlink

    def _readlink_wrapper(self, original: Any) -> Any:
        redirect = self

        def readlink(path: Any, *, dir_fd: int | None = None) -> Any:
            if redirect._target is None or dir_fd is not None or redirect._local.depth:
                return original(path, dir_fd=dir_fd)
            mapped = redirect._map(path, False)
            return redirect._spell_back(original(path if mapped is None else mapped))

        return readlink

    def _factories(self) -> dict[str, Callable[[Any], Any]]:
        """For each ``os`` function, how to build its wrapper from the original."""
        reads = functools.partial(self._path_wrapper, writes=False)
        factories: dict[str, Callable[[Any], Any]] = {}
        factories.update(dict.fromkeys(_READS + _CREATES, reads))
        for name in _WRITES:
            follows = name not in _NO_FOLLOW_VARIANTS
            factories[name] = functools.partial(self._path_wrapper, writes=follows)
        factories.update(
            dict.fromkeys(_REMOVES, functools.partial(reads, structural=True)),
        )
        factories.update(dict.fromkeys(_LISTINGS, self._listing_wrapper))
        factories["scandir"] = self._scandir_wrapper
        factories["open"] = self._os_open_wrapper
        factories["rename"] = factories["replace"] = functools.partial(
            self._two_paths_wrapper, structural=True, final_source=False
        )
        factories["link"] = functools.partial(
            self._two_paths_wrapper, structural=False, final_source=True
        )
        factories["symlink"] = self._symlink_wrapper
        factories["readlink"] = self._readlink_wrapper
        return factories

    # -- install / uninstall ---------------------------------------------------------------

    def install(self) -> None:
        """Patch ``os``, ``open`` and every module that bound them by name. Idempotent."""
        with self._lock:
            if self._installed:
                return
            for name, make in self._factories().items():
                original = getattr(os, name, None)
                if original is None:
                    continue
                wrapper = functools.update_wrapper(make(original), original)
                self._wrappers[id(original)] = (original, wrapper)
                self._set(vars(os), name, original, wrapper)
            original_open = builtins.open
            open_wrapper = functools.update_wrapper(
                self._open_wrapper(original_open), original_open
            )
            self._wrappers[id(original_open)] = (original_open, open_wrapper)
            for module in (builtins, io, _io):
                if vars(module).get("open") is original_open:
                    self._set(vars(module), "open", original_open, open_wrapper)
            for support in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks):
                support.update(w for o, w in self._wrappers.values() if o in support)
            self._installed = True
            self._scan(list(sys.modules))

    def uninstall(self) -> None:
        """Put every original back where it was (only where our wrapper is still in place)."""
        with self._lock:
            if not self._installed:
                return
            for owner, name, original, wrapper in reversed(self._restore):
                if isinstance(owner, dict):
                    if owner.get(name) is wrapper:
                        owner[name] = original
                elif vars(owner).get(name) is wrapper:
                    setattr(owner, name, original)
            wrappers = {id(w) for _, w in self._wrappers.values()}
            for support in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks):
                for function in [f for f in support if id(f) in wrappers]:
                    support.discard(function)
            self._restore.clear()
            self._wrappers.clear()
            self._scanned.clear()
            self._installed = False

    @property
    def installed(self) -> bool:
        return self._installed

    def rescan(self) -> None:
        """Patch modules imported since the last scan (cheap when there are none)."""
        if not self._installed:
            return
        new = sys.modules.keys() - self._scanned
        if new:
            with self._lock:
                self._scan(new)

    def _set(self, namespace: dict[str, Any], name: str, original: Any, replacement: Any) -> None:
        namespace[name] = replacement
        self._restore.append((namespace, name, original, replacement))

    def _scan(self, names: Any) -> None:
        wrappers = self._wrappers
        for name in names:
            self._scanned.add(name)
            if name in _SKIPPED_MODULES or name.partition(".")[0] == "tenantfixtures":
                continue
            module = sys.modules.get(name)
            if not isinstance(module, types.ModuleType):
                continue
            namespace = module.__dict__
            for attribute, value in list(namespace.items()):
                found = wrappers.get(id(value))
                if found is not None and found[0] is value:
                    self._set(namespace, attribute, value, found[1])
            if name in _CLASS_SCANNED_MODULES:
                self._scan_classes(namespace)

    def _scan_classes(self, namespace: dict[str, Any]) -> None:
        for value in list(namespace.values()):
            if not isinstance(value, type) or value.__module__ != namespace.get("__name__"):
                continue
            members = vars(value)
            for attribute, member in list(members.items()):
                if not isinstance(member, staticmethod):
                    continue
                found = self._wrappers.get(id(member.__func__))
                if found is not None and found[0] is member.__func__:
                    replacement = staticmethod(found[1])
                    setattr(value, attribute, replacement)
                    self._restore.append((value, attribute, member, replacement))
