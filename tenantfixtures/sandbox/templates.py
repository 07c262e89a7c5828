"""Schema templates: built once per run (one builder across xdist workers), cached across runs.

A template is a SQLite file holding an empty schema. Its file name carries a hash of everything
that shapes the schema (the DDL of the metadata, the initializer's source, migration files), so
a change to any of them builds a new template instead of reusing a stale one.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import inspect
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy
from filelock import FileLock
from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.dialects import sqlite
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateIndex, CreateTable

from tenantfixtures.errors import TemplateBuildError
from tenantfixtures.sandbox.sqlite import finalize_template

# Bump when the way templates are built changes, so old caches are not reused.
TEMPLATE_FORMAT = "1"

Initializer = Callable[[Engine], None]
UNUSED_TEMPLATE_SECONDS = 7 * 24 * 3600
# Set by pytest-xdist in every worker of one run (and only there).
XDIST_RUN_ENV = "PYTEST_XDIST_TESTRUNUID"


@dataclass(frozen=True)
class SchemaSpec:
    """What goes into one template: metadata, optional app initializer, migration files."""

    name: str
    metadata: MetaData
    initializer: Initializer | None = None
    migrations: tuple[str, ...] = ()

    def key(self) -> str:
        digest = hashlib.sha256()
        for part in self._key_parts():
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()[:20]

    def _key_parts(self) -> Iterable[str]:
        yield TEMPLATE_FORMAT
        yield sqlalchemy.__version__
        dialect = sqlite.dialect()
        for table in self.metadata.sorted_tables:
            yield str(CreateTable(table).compile(dialect=dialect))
            for index in sorted(table.indexes, key=lambda index: str(index.name)):
                yield str(CreateIndex(index).compile(dialect=dialect))
        if self.initializer is not None:
            yield _source_of(self.initializer)
        for path in _expand(self.migrations):
            yield path
            yield hashlib.sha256(Path(path).read_bytes()).hexdigest()

    def build(self, path: Path) -> None:
        engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
        try:
            if self.initializer is not None:
                self.initializer(engine)
            else:
                self.metadata.create_all(engine)
        finally:
            engine.dispose()


def _mark_used(path: Path) -> None:
    """Templates in use are recent: unused ones are collected after a week."""
    with contextlib.suppress(OSError):  # a read-only cache still serves its templates
        os.utime(path)


def _failure_marker(path: Path) -> Path:
    return path.with_name(path.name + ".failed")


def _source_of(function: Initializer) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}"


def _expand(patterns: Iterable[str]) -> list[str]:
    return sorted({path for pattern in patterns for path in glob.glob(pattern, recursive=True)})


class TemplateCache:
    """A directory of built templates shared by every process of the run (and later runs)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.build_seconds: dict[str, float] = {}  # templates this process built, and how fast

    def get(self, spec: SchemaSpec) -> Path:
        """The template for ``spec``, building it under a file lock if no process has yet."""
        path = self.directory / f"{spec.name}-{spec.key()}.sqlite3"
        if path.exists():
            _mark_used(path)
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock"):
            if not path.exists():
                self._raise_if_failed_in_this_run(spec, path)
                self._build(spec, path)
        return path

    def _raise_if_failed_in_this_run(self, spec: SchemaSpec, path: Path) -> None:
        """Under xdist, a build that failed in one worker is not retried (and its traceback
        not repeated) by the others: they point at the first worker's error instead."""
        marker = _failure_marker(path)
        run = os.environ.get(XDIST_RUN_ENV)
        if not run or not marker.exists():
            return
        failed_run, _, message = marker.read_text().partition("\n")
        if failed_run == run:
            raise TemplateBuildError(
                f"the {spec.name} schema template failed to build in another worker of this run"
                f" (its error is reported there): {message}"
            )

    def _build(self, spec: SchemaSpec, path: Path) -> None:
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            spec.build(partial)
            finalize_template(partial)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            message = (
                f"building the {spec.name} schema template failed: {type(exc).__name__}: {exc}"
            )
            run = os.environ.get(XDIST_RUN_ENV)
            if run:
                _failure_marker(path).write_text(f"{run}\n{message}")
            raise TemplateBuildError(message) from exc
        _failure_marker(path).unlink(missing_ok=True)
        os.replace(partial, path)
        self.build_seconds[spec.name] = time.perf_counter() - started
        self._collect_unused(spec.name)

    def _collect_unused(self, name: str) -> None:
        """Delete this schema's templates no run has used for a week. Another run of the same
        checkout (tox with two SQLAlchemy versions, say) may be using a template of another
        key right now: it is kept."""
        cutoff = time.time() - UNUSED_TEMPLATE_SECONDS
        for stale in self.directory.glob(f"{name}-*.sqlite3"):
            try:
                if stale.stat().st_mtime < cutoff:
                    stale.unlink(missing_ok=True)
            except OSError:
                continue
