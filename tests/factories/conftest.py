"""A pytester project: the mini app plus related models, ``created_at`` columns, factories."""

import textwrap

import pytest

from tests.db.conftest import TOPOLOGY_CONFTEST, mini_project  # noqa: F401  (fixture)

SHOP = '''
"""Models with relationships and timestamps, and their factories."""
import sqlite3
from datetime import UTC, datetime

import factory
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import relationship

from miniapp import Note, SystemBase, TenantBase
from tenantfixtures.factories import SystemFactory, TenantFactory


def utcnow():
    return datetime.now(UTC)


def rows(database, query):
    """Read a database file the way an outsider would: a fresh sqlite3 connection."""
    connection = sqlite3.connect(database)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


class Account(SystemBase):
    __tablename__ = "accounts"
    id = Column(String, primary_key=True)
    name = Column(String)
    created_at = Column(DateTime(timezone=True), default=utcnow)


class Thread(TenantBase):
    __tablename__ = "threads"
    id = Column(Integer, primary_key=True)
    title = Column(String)
    created_at = Column(DateTime(timezone=True), default=utcnow)


class Post(TenantBase):
    __tablename__ = "posts"
    id = Column(Integer, primary_key=True)
    thread_id = Column(ForeignKey("threads.id"))
    body = Column(String)
    thread = relationship(Thread)


class AccountFactory(SystemFactory):
    class Meta:
        model = Account
        tenant_id_field = "id"

    id = factory.Sequence(lambda n: f"account-{n}")
    name = factory.Faker("company")


class ThreadFactory(TenantFactory):
    class Meta:
        model = Thread

    title = factory.Faker("sentence", nb_words=3)


class PostFactory(TenantFactory):
    class Meta:
        model = Post

    thread = factory.SubFactory(ThreadFactory)
    body = factory.Faker("sentence")


class NoteFactory(TenantFactory):
    class Meta:
        model = Note

    body = factory.Sequence(lambda n: f"note {n}")
'''


@pytest.fixture
def factory_project(mini_project: pytest.Pytester) -> pytest.Pytester:  # noqa: F811
    """The mini app, the shop models and factories, registered before the templates are built."""
    mini_project.makepyfile(shop=textwrap.dedent(SHOP))
    write_conftest(mini_project)
    return mini_project


def write_conftest(project: pytest.Pytester, extra: str = "") -> None:
    """The mini app's topology conftest, importing the shop models, plus ``extra`` lines."""
    source = textwrap.dedent(TOPOLOGY_CONFTEST) + "import shop  # noqa\n" + textwrap.dedent(extra)
    project.makeconftest(source)


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner session with the factories plugin (until plugin.py loads it itself)."""
    return project.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "tenantfixtures.factories_plugin", *args
    )
