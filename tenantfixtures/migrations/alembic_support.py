"""Alembic, driven programmatically against one tenant database file at a time.

The project's ``env.py`` is run as Alembic runs it; the database is named through the config's
``sqlalchemy.url`` (what the stock ``env.py`` reads), so the app's own engine settings apply.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tenantfixtures.migrations.errors import SnapshotError, require_alembic

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
            project.script()
        except (CommandError, KeyError, ValueError) as exc:
            raise SnapshotError(
                f"cannot load the Alembic config {project.config_file}: {exc}"
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

    def upgrade(self, database: Path, revision: str = "heads") -> None:
        from alembic import command

        command.upgrade(self.config(database), revision)

    def downgrade(self, database: Path, revision: str) -> None:
        from alembic import command

        command.downgrade(self.config(database), revision)
