"""Where databases live under a data dir, and which database a path names.

The layout is the one piece of knowledge shared by the redirect (mapping the app's paths into
a sandbox) and the sandbox (creating files): a path relative to the data dir is either the
system database, a tenant database (with its id), or some other file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from tenantfixtures.errors import UnsafeDatabasePathError, UnsafeTenantIdError

TENANT_PLACEHOLDER = "{tenant}"
_MAX_TENANT_ID_LENGTH = 128


def validate_tenant_id(tenant_id: object) -> str:
    """Return ``tenant_id`` if it is safe as a single path segment, else raise UnsafeTenantIdError.

    Tenant ids come from URLs and request bodies: they are untrusted and end up in file paths.
    """
    if not isinstance(tenant_id, str):
        raise UnsafeTenantIdError(f"tenant id must be a string, got {type(tenant_id).__name__}")
    problem = None
    if not tenant_id:
        problem = "it is empty"
    elif "\x00" in tenant_id:
        problem = "it contains a NUL byte"
    elif "/" in tenant_id or "\\" in tenant_id:
        problem = "it contains a path separator"
    elif tenant_id in {".", ".."}:
        problem = "it names a relative directory"
    elif os.path.isabs(tenant_id) or re.match(r"^[A-Za-z]:", tenant_id):
        problem = "it is an absolute path"
    elif len(tenant_id) > _MAX_TENANT_ID_LENGTH:
        problem = f"it is longer than {_MAX_TENANT_ID_LENGTH} characters"
    elif any(ord(ch) < 32 for ch in tenant_id):
        problem = "it contains a control character"
    if problem:
        raise UnsafeTenantIdError(
            f"unsafe tenant id {tenant_id!r}: {problem}; use a plain name such as 'acme' or '42'"
        )
    return tenant_id


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
        for label, value in (("system_db", system_db), ("tenant_db", tenant_db)):
            if os.path.isabs(value) or ".." in PurePosixPath(value).parts:
                raise ValueError(f"{label}={value!r} must be a path relative to the data dir")
        if tenant_db.count(TENANT_PLACEHOLDER) != 1:
            raise ValueError(
                f"tenant_db={tenant_db!r} must contain the placeholder {TENANT_PLACEHOLDER} once,"
                " e.g. 'organizations/{tenant}/tenant.db'"
            )
        return cls(Path(os.path.abspath(data_dir)), PurePosixPath(system_db), tenant_db)

    @property
    def _tenant_pattern(self) -> re.Pattern[str]:
        before, after = self.tenant_db.split(TENANT_PLACEHOLDER)
        return re.compile(re.escape(before) + r"(?P<tenant>.*)" + re.escape(after), re.DOTALL)

    def relative(self, path: str) -> PurePosixPath | None:
        """The path relative to the data dir if it lies inside it, else None.

        Refuses paths that enter the data dir and climb out again (``organizations/../../x``):
        that is a tenant id doing path traversal, and must not silently reach a real file.
        """
        absolute = os.path.join(os.getcwd(), path)
        normalized = os.path.normpath(absolute)
        data_dir = str(self.data_dir)
        inside = is_within(normalized, data_dir)
        if ".." in Path(path).parts and (inside or _enters(absolute, data_dir)):
            raise UnsafeDatabasePathError(
                f"path {path!r} uses '..' to move around the data dir {data_dir}:"
                " validate tenant ids before building paths from them"
            )
        if not inside or normalized == data_dir:
            return None
        return PurePosixPath(Path(normalized).relative_to(data_dir).as_posix())

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


def is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _enters(absolute: str, directory: str) -> bool:
    """Whether an un-normalized absolute path passes through ``directory`` before any ``..``."""
    prefix = absolute.split(os.sep + ".." + os.sep, 1)[0]
    return is_within(os.path.normpath(prefix), directory)
