"""The attempt history store: a versioned SQLAlchemy Core schema on SQLite (default) or any URL.

SQLite files run in WAL mode so readers never block the recorder; PostgreSQL (or any server)
takes many CI runners writing at once, each insert being independent rows keyed by run id.
Rows go in and come out as the typed records of :mod:`models`; a URL's password never appears
in a message (``label``).
"""

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tenantfixtures.flaky.models import Attempt, Finding, Outcome, Run
from tenantfixtures.flaky.spool import read_journal
from tenantfixtures.redact import is_secret_key, redact

BUSY_SECONDS = 30.0  # how long a process waits for another holding the history file
SCHEMA_VERSION = 2  # 2: runs.seed_source/data_seed/rootdir, findings.p_value/confirmed

metadata = sa.MetaData()

meta_table = sa.Table(
    "tf_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

runs = sa.Table(
    "tf_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(128), nullable=False, default="pytest"),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("exitstatus", sa.Integer),
    sa.Column("commit", sa.String(64)),
    sa.Column("branch", sa.String(256)),
    sa.Column("ci_job", sa.String(256)),
    sa.Column("shard", sa.String(64)),
    sa.Column("python", sa.String(32)),
    sa.Column("platform", sa.String(64)),
    sa.Column("seed", sa.BigInteger),
    sa.Column("seed_source", sa.String(16)),
    sa.Column("data_seed", sa.BigInteger),
    sa.Column("rootdir", sa.Text),
)

attempts = sa.Table(
    "tf_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("nodeid", sa.String(1024), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("worker", sa.String(32)),
    sa.Column("position", sa.Integer),
    sa.Column("seed", sa.BigInteger),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("stopped_at", sa.Float, nullable=False),
    sa.Column("message", sa.Text),
    sa.UniqueConstraint("run_id", "seq", name="uq_tf_attempts_run_seq"),
    # Covers the report's per-test aggregate: an index-only scan even over millions of rows.
    sa.Index("ix_tf_attempts_test", "nodeid", "outcome", "attempt", "started_at"),
    sa.Index("ix_tf_attempts_started", "started_at"),
)

findings = sa.Table(
    "tf_findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("nodeid", sa.String(1024), nullable=False, index=True),
    sa.Column("commit", sa.String(64)),
    sa.Column("classification", sa.String(32), nullable=False),
    sa.Column("culprits", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("p_value", sa.Float),
    sa.Column("confirmed", sa.Boolean),
)

FAILED = [outcome.value for outcome in Outcome if outcome.failed]
EXECUTED = [outcome.value for outcome in Outcome if outcome.executed]
DEFAULT_HISTORY = ".tenantfixtures/history.db"


class StoreError(Exception):
    """The history store cannot be used; the message says why and what to do."""


def label(target: str) -> str:
    """``target`` fit to print: a URL's password hidden, also one in the query string or one
    with an unescaped ``@`` (which the URL parser splits into the host)."""
    if "://" not in target:
        return target
    try:
        url = sa.make_url(target)
    except Exception:
        return redact(target)
    shown = url.render_as_string(hide_password=True)
    if "@" in (url.host or "") or any(is_secret_key(key) for key in url.query):
        return redact(shown)
    return shown


def _secrets(target: str) -> list[str]:
    """The parts of a URL a driver's message may quote that hold (part of) its password."""
    try:
        url = sa.make_url(target) if "://" in target else None
    except Exception:
        return []
    if url is None:
        return []
    found = [url.password, *(value for key, value in url.query.items() if is_secret_key(key))]
    host = url.host or ""
    if "@" in host:  # an unescaped @: the password's tail was taken for the host
        found.append(host.rpartition("@")[0] + "@")
    return [str(part) for part in found if part]


def spool_dir_for(target: str, rootdir: Path) -> Path:
    """Where records wait when the store fails: beside a SQLite file, else under ``rootdir``."""
    if "://" in target:
        return rootdir / ".tenantfixtures" / "spool"
    path = Path(target).expanduser().resolve()
    return path.with_name(path.name + ".spool")


def _sqlite_creator(path: str) -> Callable[[], Any]:
    """Connect with the C-level ``_sqlite3.connect``: the history file is infrastructure, so
    test sandboxes wrapping ``sqlite3.connect`` or SQLAlchemy's ``do_connect`` never move it."""
    import _sqlite3

    def connect() -> Any:
        connection = _sqlite3.connect(path, timeout=BUSY_SECONDS, check_same_thread=False)
        try:
            _write_ahead_log(connection)
            connection.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            connection.close()
            raise
        return connection

    return connect


def _write_ahead_log(connection: Any) -> None:
    """Switch a new history file to WAL. The switch needs the file to itself and SQLite returns
    "database is locked" at once, without its busy handler, when another process holds it (as
    when xdist workers open a fresh history together): retried until the timeout. WAL stays
    with the file, so once switched, opening it takes no lock for this."""
    import _sqlite3

    deadline = time.monotonic() + BUSY_SECONDS
    pause = 0.005
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                # SQLite keeps the old mode where WAL cannot be had (a file system without
                # shared memory): the store works on in its rollback journal.
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except _sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(0.1, pause * 2)


class Store:
    """Reads and writes attempt history; every failure surfaces as a :class:`StoreError`."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.label = label(target)
        self._secrets = _secrets(target)
        try:
            if "://" not in target:  # a path: SQLite, the default
                path = Path(target).expanduser().resolve()
                path.parent.mkdir(parents=True, exist_ok=True)
                self.engine: Engine = sa.create_engine(
                    f"sqlite:///{path}", creator=_sqlite_creator(str(path))
                )
            else:
                self.engine = sa.create_engine(target)
        except Exception as exc:
            raise StoreError(
                f"cannot use history store {self.label!r}: {_reason(exc, self._secrets)};"
                " pass a file path or a SQLAlchemy URL such as postgresql+psycopg://user@host/db"
            ) from exc
        with self._guard("open"):
            self._ensure_schema()

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(
                f"history store {self.label!r} failed to {action}: {_reason(exc, self._secrets)} "
                "(check the path/URL, permissions and that it is a tenantfixtures history store)"
            ) from exc

    def _ensure_schema(self) -> None:
        """Create or upgrade the schema once, even when several processes open a new store."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(727274)"))
            elif conn.dialect.name == "sqlite":
                # The write lock first: otherwise two processes both see no table, both create.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            metadata.create_all(conn)
            found = conn.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).scalar()
            if found is not None and int(found) > SCHEMA_VERSION:
                raise StoreError(
                    f"history store {self.label!r} has schema version {found}, newer than this "
                    f"tenantfixtures supports ({SCHEMA_VERSION}); upgrade tenantfixtures"
                )
            if found is None:
                conn.execute(
                    meta_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
                )
            elif int(found) < SCHEMA_VERSION:
                _add_missing_columns(conn)
                conn.execute(
                    meta_table.update()
                    .where(meta_table.c.key == "schema_version")
                    .values(value=str(SCHEMA_VERSION))
                )

    def close(self) -> None:
        self.engine.dispose()

    def add_run(self, run: Run) -> None:
        with self._guard("record a run"), self.engine.begin() as conn:
            self._add_run(conn, run)

    @staticmethod
    def _add_run(conn: Connection, run: Run) -> None:
        exists = conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run.run_id)).first()
        if exists is None:
            conn.execute(runs.insert().values(**run.row()))

    def add_attempts(self, rows: Sequence[Attempt]) -> None:
        if rows:
            with self._guard("record attempts"), self.engine.begin() as conn:
                conn.execute(attempts.insert(), [row.row() for row in rows])

    def finish_run(self, run_id: str, finished_at: float, exitstatus: int | None) -> None:
        with self._guard("finish a run"), self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(finished_at=finished_at, exitstatus=exitstatus)
            )

    def run(self, run_id: str) -> Run | None:
        with self._guard("read"), self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).first()
        return Run.from_row(row._mapping) if row is not None else None

    def attempts_of(self, run_ids: Sequence[str], *, first_only: bool = False) -> list[Attempt]:
        """The given runs' attempts in recording order (``first_only``: attempt 0 only)."""
        query = sa.select(attempts).where(attempts.c.run_id.in_(list(run_ids)))
        if first_only:
            query = query.where(attempts.c.attempt == 0)
        with self._guard("read"), self.engine.connect() as conn:
            rows = conn.execute(query.order_by(attempts.c.id)).all()
        return [Attempt.from_row(row._mapping) for row in rows]

    def last_failure(self, nodeid: str, run_id: str | None = None) -> Attempt | None:
        """The latest failing attempt of ``nodeid`` (in ``run_id`` if given)."""
        query = sa.select(attempts).where(
            attempts.c.nodeid == nodeid, attempts.c.outcome.in_(FAILED)
        )
        if run_id is not None:
            query = query.where(attempts.c.run_id == run_id)
        with self._guard("read"), self.engine.connect() as conn:
            row = conn.execute(query.order_by(attempts.c.id.desc()).limit(1)).first()
        return Attempt.from_row(row._mapping) if row is not None else None

    def add_findings(self, rows: Iterable[Finding]) -> None:
        values = [
            {
                "nodeid": f.nodeid,
                "commit": f.commit,
                "classification": f.classification.value,
                "culprits": json.dumps(list(f.culprits)),
                "evidence": f.evidence,
                "created_at": f.created_at,
                "p_value": f.p_value,
                "confirmed": f.confirmed,
            }
            for f in rows
        ]
        if values:
            with self._guard("record findings"), self.engine.begin() as conn:
                conn.execute(findings.insert(), values)

    def import_journal(self, path: Path) -> int:
        """Copy a spooled run into the store (only rows it lacks), then delete the journal."""
        run, rows, finish = read_journal(path)
        if run is None:
            path.unlink(missing_ok=True)
            return 0
        with self._guard("import spooled records"), self.engine.begin() as conn:
            self._add_run(conn, run)
            stored = conn.execute(
                sa.select(sa.func.max(attempts.c.seq)).where(attempts.c.run_id == run.run_id)
            ).scalar()
            missing = [row for row in rows if stored is None or row.seq > stored]
            if missing:
                conn.execute(attempts.insert(), [row.row() for row in missing])
            if finish is not None:
                conn.execute(runs.update().where(runs.c.run_id == run.run_id).values(**finish))
        path.unlink(missing_ok=True)
        return len(missing)

    def import_pending(self, spool_dir: Path) -> int:
        """Import every journal left in ``spool_dir`` that no live run is still writing."""
        from filelock import FileLock, Timeout

        imported = 0
        if not spool_dir.is_dir():
            return 0
        for path in sorted(spool_dir.glob("*.jsonl")):
            lock = FileLock(str(path) + ".lock")
            try:
                with lock.acquire(timeout=0):
                    if path.exists():
                        imported += self.import_journal(path)
            except Timeout:
                continue
            Path(str(path) + ".lock").unlink(missing_ok=True)
        return imported

    def connect(self) -> Connection:
        """A read connection for the analysis modules (classify, report)."""
        try:
            return self.engine.connect()
        except Exception as exc:
            raise StoreError(
                f"cannot read history store {self.label!r}: {_reason(exc, self._secrets)}"
            ) from exc


def _reason(exc: Exception, secrets: Sequence[str]) -> str:
    """The first line of a driver's message, redacted (some quote the URL they were given)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return redact(text)


def _add_missing_columns(conn: Connection) -> None:
    """Upgrade an older store in place: add the columns later versions introduced."""
    inspector = sa.inspect(conn)
    for table in (runs, attempts, findings):
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                kind = column.type.compile(conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")


def open_store(target: str | None) -> Store:
    """Open ``target``, else ``$TENANTFIXTURES_HISTORY``, else the default file in the cwd."""
    return Store(history_target(target))


def history_target(target: str | None) -> str:
    return target or os.environ.get("TENANTFIXTURES_HISTORY") or DEFAULT_HISTORY
