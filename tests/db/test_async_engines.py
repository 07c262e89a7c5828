"""An app on aiosqlite: every test's pooled connections are closed, none leaked.

aiosqlite runs each connection in a thread of its own; a pool dropped without closing them
leaves the threads alive and warns ``ResourceWarning: ... was deleted before being closed``.
"""

import textwrap

import pytest

from tests.db.conftest import MODELS

ASYNC_APP = (
    """
from pathlib import Path

from sqlalchemy import Column, Integer, String, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase

DATA_DIR = Path("data")
DATA_DIR.mkdir(exist_ok=True)


"""
    + MODELS
    + """

engine = create_async_engine(f"sqlite+aiosqlite:///{DATA_DIR}/system.db")


async def add_org(org_id):
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO orgs (id) VALUES (:id)"), {"id": org_id})


async def org_ids():
    async with engine.connect() as conn:
        return [row[0] for row in await conn.execute(text("SELECT id FROM orgs"))]
"""
)

CONFTEST = """
import pytest
import tenantfixtures
import asyncapp


@pytest.fixture(scope="session")
def tenant_topology():
    return tenantfixtures.Topology(
        system=asyncapp.SystemBase.metadata,
        tenant=asyncapp.TenantBase.metadata,
        data_dir=asyncapp.DATA_DIR,
    )
"""

TESTS = """
import gc
import threading

import pytest

import asyncapp

BEFORE_ANY_TEST = {thread.ident for thread in threading.enumerate()}

@pytest.mark.parametrize("n", range(20))
async def test_each_test_sees_only_its_own_org(tenancy, n):
    await asyncapp.add_org(f"org-{n}")
    assert await asyncapp.org_ids() == [f"org-{n}"]


def test_zz_no_connection_thread_outlives_its_test():
    gc.collect()
    assert [t.name for t in threading.enumerate() if t.ident not in BEFORE_ANY_TEST] == []
"""


@pytest.mark.parametrize("mode", ["namespace", "redirect"])
def test_async_pools_are_closed_between_tests(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(asyncapp=textwrap.dedent(ASYNC_APP), test_async=TESTS)
    pytester.makeconftest(CONFTEST)
    pytester.makeini(
        "[pytest]\npythonpath = .\nasyncio_mode = auto\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:randomly",
        f"--tf-isolation={mode}",
        "-W",
        "error::ResourceWarning",
        "-W",
        "error::pytest.PytestUnraisableExceptionWarning",
    )
    result.assert_outcomes(passed=21)
    assert "ResourceWarning" not in result.stdout.str() + result.stderr.str()
