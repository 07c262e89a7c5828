"""A miniature multi-tenant app with every hard edge, laid out in each pytester project."""

import os
import textwrap
from pathlib import Path

import pytest

# The declarative models of every mini app (its source needs Column, Integer, String and
# DeclarativeBase imported).
MODELS = """
class SystemBase(DeclarativeBase):
    pass


class TenantBase(DeclarativeBase):
    pass


class Org(SystemBase):
    __tablename__ = "orgs"
    id = Column(String, primary_key=True)


class Note(TenantBase):
    __tablename__ = "notes"
    id = Column(Integer, primary_key=True)
    body = Column(String)
    stars = Column(Integer, default=0)
"""

MINI_APP = (
    '''
"""Import-time engine, cwd-relative paths, cached tenant engines, lazy migration."""
import os
from pathlib import Path

from sqlalchemy import Column, Integer, String, create_engine, text
from sqlalchemy.orm import DeclarativeBase, sessionmaker

DATA_DIR = Path("data")
DATA_DIR.mkdir(exist_ok=True)
system_engine = create_engine(f"sqlite:///{DATA_DIR}/system.db")
SystemSessionLocal = sessionmaker(bind=system_engine)


'''
    + MODELS
    + """

SystemBase.metadata.create_all(system_engine)
_tenant_engines = {}


def migrate(engine):
    with engine.begin() as conn:
        columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(notes)")}
        if "stars" not in columns:
            conn.exec_driver_sql("ALTER TABLE notes ADD COLUMN stars INTEGER DEFAULT 0")


def get_tenant_engine(org_id):
    if org_id not in _tenant_engines:
        os.makedirs(f"data/organizations/{org_id}", exist_ok=True)
        engine = create_engine(f"sqlite:///data/organizations/{org_id}/tenant.db")
        TenantBase.metadata.create_all(engine)
        migrate(engine)
        _tenant_engines[org_id] = engine
    return _tenant_engines[org_id]


def add_note(org_id, body):
    with get_tenant_engine(org_id).begin() as conn:
        conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})


def notes(org_id):
    with get_tenant_engine(org_id).connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT body FROM notes ORDER BY id"))]


def sign_up(org_id):
    with SystemSessionLocal() as session:
        session.add(Org(id=org_id))
        session.commit()
    get_tenant_engine(org_id)
"""
)

TOPOLOGY_CONFTEST = """
import pytest
import tenantfixtures
import miniapp


@pytest.fixture(scope="session")
def tenant_topology():
    return tenantfixtures.Topology(
        system=miniapp.SystemBase.metadata,
        tenant=miniapp.TenantBase.metadata,
        data_dir=miniapp.DATA_DIR,
        engine_caches=[miniapp._tenant_engines],
    )
"""


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``directory`` (names, modes, sizes, contents, link targets), read as
    bytes and never through SQLite (which would create -wal/-shm files), to prove that nothing
    there changed."""
    tree: dict[str, tuple[int, int, bytes]] = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            content = os.readlink(path).encode()
        elif path.is_file():
            content = path.read_bytes()
        else:
            content = b"<dir>"
        tree[str(path.relative_to(directory))] = (info.st_mode, info.st_size, content)
    return tree


ISOLATION_MODES = ("namespace", "redirect")


@pytest.fixture(params=ISOLATION_MODES)
def isolation(request: pytest.FixtureRequest) -> str:
    """Run the inner session once in each isolation mode: the promise is the same."""
    return f"--tf-isolation={request.param}"


@pytest.fixture
def mini_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with the mini app, a data dir holding shipped files, and its conftest."""
    pytester.makepyfile(miniapp=textwrap.dedent(MINI_APP))
    pytester.makeconftest(textwrap.dedent(TOPOLOGY_CONFTEST))
    pytester.makeini("[pytest]\npythonpath = .\n")
    defaults = pytester.path / "data" / "defaults"
    defaults.mkdir(parents=True)
    (defaults / "readme.txt").write_text("shipped with the app\n")
    return pytester
