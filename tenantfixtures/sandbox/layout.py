"""Where databases live under a data dir, and which database a path names.

The layout is the one piece of knowledge shared by the redirect (mapping the app's paths into
a sandbox) and the sandbox (creating files): a path relative to the data dir is either the
system database, a tenant database (with its id), or some other file.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import pytest

from tenantfixtures.errors import UnsafeDatabasePathError, UnsafeTenantIdError
from tenantfixtures.sandbox.sqlite import SIDE_SUFFIXES
from tenantfixtures.topology import TENANT_PLACEHOLDER, validate_layout_paths

_MAX_TENANT_ID_BYTES = 128  # UTF-8 bytes: well under any file system's 255-byte name limit
# Characters that mean something in a URL or SQLite URI: an id holding one can change which
# file a database URL built from it opens ("a?mode=ro", "x%2f..%2facme").
_URL_SPECIAL = frozenset("?#%")
# How alike a missing path's name and an existing sibling's must be to call it a typo:
# 'dat'/'data' score 0.86 and 'systen.db'/'system.db' 0.89; 'tenants'/'data' score 0.36.
_NEAR_MISS_RATIO = 0.8


def validate_tenant_id(tenant_id: object) -> str:
    """Return ``tenant_id`` if it is safe as a single path segment, else raise UnsafeTenantIdError.

    Tenant ids come from URLs and request bodies: they are untrusted and end up in file paths
    and database URLs.
    """
    if not isinstance(tenant_id, str):
        raise UnsafeTenantIdError(f"tenant id must be a string, got {type(tenant_id).__name__}")
    problem = _id_problem(tenant_id)
    if problem:
        raise UnsafeTenantIdError(
            f"unsafe tenant id {tenant_id!r}: {problem}; use a plain name such as 'acme' or '42'"
        )
    return tenant_id


def _id_problem(tenant_id: str) -> str | None:
    if not tenant_id:
        return "it is empty"
    if "\x00" in tenant_id:
        return "it contains a NUL byte"
    if "/" in tenant_id or "\\" in tenant_id:
        return "it contains a path separator"
    if tenant_id in {".", ".."}:
        return "it names a relative directory"
    if os.path.isabs(tenant_id) or re.match(r"^[A-Za-z]:", tenant_id):
        return "it is an absolute path"
    if len(tenant_id.encode("utf-8", "surrogatepass")) > _MAX_TENANT_ID_BYTES:
        return f"it is longer than {_MAX_TENANT_ID_BYTES} bytes in UTF-8"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in tenant_id):
        return "it contains a control character"
    if tenant_id != tenant_id.strip():
        return "it starts or ends with white space (it would read as another tenant in a log)"
    special = sorted(_URL_SPECIAL.intersection(tenant_id))
    if special:
        return f"it contains {', '.join(map(repr, special))}, which change a database URL"
    return None


@dataclass(frozen=True)
class DatabaseRef:
    """Which logical database a file is: the system DB, one tenant's DB, or another file."""

    kind: Literal["system", "tenant", "other"]
    name: str  # the tenant id, or the path relative to the data dir for "other"

    @classmethod
    def system(cls) -> DatabaseRef:
        return cls("system", "system")

    @classmethod
    def tenant(cls, tenant_id: str) -> DatabaseRef:
        return cls("tenant", validate_tenant_id(tenant_id))

    def __str__(self) -> str:
        if self.kind == "tenant":
            return f"tenant {self.name!r}"
        return "the system database" if self.kind == "system" else repr(self.name)


@dataclass(frozen=True)
class Layout:
    """The app's real data dir and where the system and tenant databases sit inside it."""

    data_dir: Path
    system_db: PurePosixPath
    tenant_db: str  # relative, with one "{tenant}" placeholder

    @classmethod
    def create(cls, data_dir: str | os.PathLike[str], system_db: str, tenant_db: str) -> Layout:
        """Validate the relative paths so that mistakes surface as configuration errors."""
        validate_layout_paths(system_db, tenant_db)
        layout = cls(Path(os.path.abspath(data_dir)), PurePosixPath(system_db), tenant_db)
        layout._refuse_near_misses()
        return layout

    def _refuse_near_misses(self) -> None:
        """A data dir or system database that does not exist beside one that nearly has its
        name is a typo (``dat`` for ``data``, ``systen.db``): sandboxing the misspelt path
        would leave the real files in reach of every test, so it is refused."""
        system_db = self.data_dir / self.system_db
        if not self.data_dir.exists():
            meant = _near_miss(self.data_dir, lambda p: (p / self.system_db).is_file())
            if meant is not None:
                raise ValueError(
                    f"the data dir {self.data_dir} does not exist, but {meant} holds"
                    f" {self.system_db}: is data_dir a typo for {meant.name!r}?"
                )
        elif not system_db.exists():
            suffix = system_db.suffix
            meant = _near_miss(system_db, lambda p: p.is_file() and p.suffix == suffix)
            if meant is not None:
                raise ValueError(
                    f"the system database {system_db} does not exist, but {meant} does:"
                    f" is system_db a typo for {Layout.relative_path_in(meant, self.data_dir)}?"
                )

    def refuse_inside(self, passthrough: Iterable[Path]) -> None:
        """Files our own parts write during tests (the flaky history) must not lie in the data
        dir, where every test would see its own copy of them."""
        for path in passthrough:
            if is_within(os.path.abspath(path), str(self.data_dir)):
                raise pytest.UsageError(
                    f"{path} lies inside the app's data dir {self.data_dir}, which every"
                    " test sees as its own copy: store it elsewhere"
                    " (e.g. --tf-history=reports/history.db)"
                )

    @property
    def _tenant_pattern(self) -> re.Pattern[str]:
        before, after = self.tenant_db.split(TENANT_PLACEHOLDER)
        return re.compile(re.escape(before) + r"(?P<tenant>.*)" + re.escape(after), re.DOTALL)

    @property
    def _raw_tenant_pattern(self) -> re.Pattern[str]:
        """The tenant segment of a path as the app wrote it ('' and '.' ids still visible):
        the whole tenant database, or, where the id names a directory, anything inside it."""
        before, after = self.tenant_db.split(TENANT_PLACEHOLDER)
        if after.startswith("/"):
            return re.compile(re.escape(before) + r"(?P<tenant>[^/]*)(?=/|$)")
        return re.compile(re.escape(before) + r"(?P<tenant>[^/]*)" + re.escape(after) + "$")

    def check_raw(self, path: str, standing_in: Path | None = None) -> None:
        """Refuse, before any normalising hides it, a path that enters the data dir and climbs
        out with ``..``, or whose tenant segment is unsafe (``organizations//tenant.db``).
        ``standing_in``: the directory serving as the data dir (redirect mode's copy)."""
        absolute = os.path.join(os.getcwd(), path)
        data_dir = str(standing_in or self.data_dir)
        if ".." in Path(path).parts and (
            is_within(os.path.normpath(absolute), data_dir) or _enters(absolute, data_dir)
        ):
            raise UnsafeDatabasePathError(
                f"path {path!r} uses '..' to move around the data dir {data_dir}:"
                " validate tenant ids before building paths from them"
            )
        prefix = data_dir.rstrip(os.sep) + os.sep
        if absolute.startswith(prefix):
            inside = absolute[len(prefix) :]
            match = self._raw_tenant_pattern.match(inside)
            if match:
                DatabaseRef.tenant(match["tenant"])
            tenant_area = self.tenant_db.split(TENANT_PLACEHOLDER)[0]
            if inside.startswith(tenant_area) and "" in inside.split(os.sep)[:-1]:
                raise UnsafeDatabasePathError(
                    f"path {path!r} has an empty segment where tenant databases live in {data_dir}"
                    " (an id ending in '/' makes 'acme//tenant.db', which is acme's):"
                    " validate tenant ids before building paths from them"
                )

    def relative(self, path: str) -> PurePosixPath | None:
        """The path relative to the data dir if it lies inside it, else None (see check_raw)."""
        self.check_raw(path)
        normalized = os.path.normpath(os.path.join(os.getcwd(), path))
        data_dir = str(self.data_dir)
        if not is_within(normalized, data_dir) or normalized == data_dir:
            return None
        return PurePosixPath(Path(normalized).relative_to(data_dir).as_posix())

    def is_database(self, relative: PurePosixPath) -> bool:
        """The system or a tenant database (or a file SQLite keeps beside one)."""
        name = relative.as_posix()
        for suffix in SIDE_SUFFIXES:
            name = name.removesuffix(suffix)
        try:
            return self.ref_for(PurePosixPath(name)).kind != "other"
        except UnsafeTenantIdError:
            return False

    def ref_for(self, relative: PurePosixPath) -> DatabaseRef:
        """Which database a data-dir-relative path names (tenant ids are validated)."""
        if relative == self.system_db:
            return DatabaseRef.system()
        match = self._tenant_pattern.fullmatch(relative.as_posix())
        if match:
            return DatabaseRef.tenant(match["tenant"])
        return DatabaseRef("other", relative.as_posix())

    @staticmethod
    def relative_path_in(path: Path, root: Path) -> PurePosixPath:
        return PurePosixPath(path.relative_to(root).as_posix())

    def relative_path(self, ref: DatabaseRef) -> PurePosixPath:
        if ref.kind == "system":
            return self.system_db
        if ref.kind == "tenant":
            return PurePosixPath(self.tenant_db.replace(TENANT_PLACEHOLDER, ref.name))
        return PurePosixPath(ref.name)


def _near_miss(path: Path, qualifies: Callable[[Path], bool]) -> Path | None:
    """The sibling of a missing ``path`` whose name is nearly the same, if one qualifies."""
    try:
        names = os.listdir(path.parent)
    except OSError:
        return None
    for name in difflib.get_close_matches(path.name, names, n=3, cutoff=_NEAR_MISS_RATIO):
        if qualifies(path.parent / name):
            return path.parent / name
    return None


def is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _enters(absolute: str, directory: str) -> bool:
    """Whether an un-normalized absolute path passes through ``directory`` before any ``..``."""
    prefix = absolute.split(os.sep + ".." + os.sep, 1)[0]
    return is_within(os.path.normpath(prefix), directory)
