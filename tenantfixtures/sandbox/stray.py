"""A database the app creates in a copy of its data dir elsewhere in the project.

The usual cause: pytest runs from a subdirectory (``cd tests && pytest``) and the app builds
cwd-relative paths (``Path("data")``), so it creates ``tests/data/system.db`` while the
sandbox covers the configured data dir. Nothing fails, and a real file appears in the checkout:
say so, naming both paths.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import warnings
from pathlib import Path

import pytest

from tenantfixtures.errors import UnsafeTenantIdError
from tenantfixtures.sandbox.layout import Layout, is_within

_LIBRARIES = ("tenantfixtures.", "sqlalchemy.", "aiosqlite")
_STDLIB = sysconfig.get_paths()["stdlib"]


class StrayDatabaseWarning(pytest.PytestWarning):
    """The app created one of its databases outside the configured data dir."""


def stray_data_dir(path: str, layout: Layout, project_root: Path) -> Path | None:
    """The directory that ``path`` treats as the data dir, when ``path`` names the system or a
    tenant database relative to some directory of the project other than the real data dir."""
    absolute = Path(os.path.abspath(path))
    if not is_within(str(absolute), str(project_root)) or is_within(
        str(absolute), str(layout.data_dir)
    ):
        return None
    for directory in absolute.parents:
        if not is_within(str(directory), str(project_root)):
            return None
        try:
            kind = layout.ref_for(Layout.relative_path_in(absolute, directory)).kind
        except UnsafeTenantIdError:
            continue
        if kind != "other":
            return directory
    return None


def warn_if_stray(path: str, layout: Layout, project_root: Path) -> None:
    """Warn when the app is about to create ``path`` as a database in a stray data dir."""
    if os.path.exists(path):
        return
    directory = stray_data_dir(path, layout, project_root)
    if directory is None:
        return
    filename, lineno, module = _app_frame()
    warnings.warn_explicit(
        StrayDatabaseWarning(
            f"the app created the database {os.path.abspath(path)}: it treats {directory} as"
            f" its data dir, but the configured data dir is {layout.data_dir}. pytest runs in"
            f" {os.getcwd()}: if the app builds paths relative to the working directory, run"
            f" pytest from {layout.data_dir.parent} or derive the app's data dir from an"
            " absolute path"
        ),
        StrayDatabaseWarning,
        filename,
        lineno,
        module,
    )


def _app_frame() -> tuple[str, int, str]:
    """Where the app asked for the database: the first caller outside the database libraries
    and this package, so the warning points at the line to fix."""
    frame = sys._getframe(1)
    while frame.f_back is not None and (
        frame.f_globals.get("__name__", "").startswith(_LIBRARIES)
        or frame.f_code.co_filename.startswith(_STDLIB)
    ):
        frame = frame.f_back
    return frame.f_code.co_filename, frame.f_lineno, frame.f_globals.get("__name__", "")
