"""A database the app creates in a copy of its data dir elsewhere in the project.

The usual cause: pytest runs from a subdirectory (``cd tests && pytest``) and the app builds
cwd-relative paths (``Path("data")``), so it creates ``tests/data/system.db`` while the
sandbox covers the configured data dir. Nothing fails, and a real file appears in the checkout:
say so, naming both paths.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from tenantfixtures.errors import UnsafeTenantIdError
from tenantfixtures.guards.violations import user_frame
from tenantfixtures.sandbox.layout import Layout, is_within


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
    directory = stray_data_dir(path, layout, project_root)  # no file system access
    if directory is None or os.path.exists(path):
        return
    frame = user_frame()  # the app's line that asked for the database: the one to fix
    warnings.warn_explicit(
        StrayDatabaseWarning(
            f"the app created the database {os.path.abspath(path)}: it treats {directory} as"
            f" its data dir, but the configured data dir is {layout.data_dir}. pytest runs in"
            f" {os.getcwd()}: if the app builds paths relative to the working directory, run"
            f" pytest from {layout.data_dir.parent} or derive the app's data dir from an"
            " absolute path"
        ),
        StrayDatabaseWarning,
        frame.f_code.co_filename if frame else "<unknown>",
        frame.f_lineno if frame else 0,
    )
