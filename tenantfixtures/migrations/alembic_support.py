"""Alembic, driven programmatically against one tenant database file at a time.

The project's ``env.py`` is run as Alembic runs it; the database is named through the config's
``sqlalchemy.url`` (what the stock ``env.py`` reads), so the app's own engine settings apply.
"""

from __future__ import annotations

import configparser
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tenantfixtures.migrations.errors import SnapshotError, error_text, require_alembic

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class AlembicProject:
    """One ``alembic.ini`` and its script directory, loaded once and checked."""

    config_file: Path

    @classmethod
    def load(cls, config_file: str | os.PathLike[str]) -> AlembicProject:
        """The project at ``config_file``; a SnapshotError says why it cannot be used."""
        require_alembic()
        from alembic.util import CommandError

        project = cls(Path(config_file).resolve())
        if not project.config_file.is_file():
            raise SnapshotError(f"Alembic config {project.config_file} does not exist")
        try:
            script = project.script()
        except (CommandError, KeyError, ValueError, configparser.Error) as exc:
            hint = ""
            if "Path doesn't exist" in str(exc):
                hint = " (a relative script_location is read from the current directory:"
                hint += " start it with %(here)s to make it relative to the ini file)"
            raise SnapshotError(
                f"cannot load the Alembic config {project.config_file}: {exc}{hint}"
            ) from None
        try:
            script.get_heads()  # imports every revision file
        except Exception as exc:
            raise SnapshotError(
                f"cannot load the Alembic history of {project.config_file}: {project.explain(exc)}"
            ) from None
        return project

    def config(self, database: Path | None = None) -> Config:
        from alembic.config import Config

        config = Config(str(self.config_file))
        if database is not None:  # configparser interpolates '%': escape it
            config.set_main_option("sqlalchemy.url", sqlite_url(database).replace("%", "%%"))
        return config

    def script(self) -> ScriptDirectory:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.config())

    def revisions(self) -> list[str]:
        """Revision ids from base to head (a branched history in topological order)."""
        return [revision.revision for revision in reversed(list(self.script().walk_revisions()))]

    def heads(self) -> list[str]:
        return list(self.script().get_heads())

    def describe(self, revision: str) -> str:
        found = self.script().get_revision(revision)
        return f"{revision} ({found.doc})" if found is not None and found.doc else revision

    def check_revision(self, revision: str) -> None:
        """Raise a SnapshotError naming the known revisions if ``revision`` does not exist."""
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        try:
            found = self.script().get_revisions(revision)
        except (CommandError, RevisionError) as exc:
            found, reason = (), str(exc)
        else:
            reason = "not found"
        if not found and revision not in ("base", "heads", "head"):
            known = ", ".join(self.revisions()) or "none"
            raise SnapshotError(
                f"unknown Alembic revision {revision!r} in {self.config_file} ({reason});"
                f" known revisions: {known}"
            )

    def explain(self, exc: BaseException) -> str:
        """The error and, if it arose in the project's env.py or a revision file, where."""
        if isinstance(exc, SyntaxError) and exc.filename:
            return f"SyntaxError: {exc.msg} (at {exc.filename}:{exc.lineno})"
        directory = Path(self.script().dir).resolve()
        inside = [
            entry
            for entry in traceback.extract_tb(exc.__traceback__)
            if Path(entry.filename).resolve().is_relative_to(directory)
        ]
        where = f" (at {inside[-1].filename}:{inside[-1].lineno})" if inside else ""
        return error_text(exc) + where

    def upgrade(self, database: Path, revision: str = "heads") -> None:
        from alembic import command

        command.upgrade(self.config(database), revision)

    def downgrade(self, database: Path, revision: str) -> None:
        from alembic import command

        command.downgrade(self.config(database), revision)
