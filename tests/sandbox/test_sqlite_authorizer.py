"""restrict_attach: ATTACH and VACUUM INTO outside the sandbox are refused, inside allowed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantfixtures.sandbox.sqlite_authorizer import (
    GuardedConnection,
    guarded_factory,
    restrict_attach,
)

from .conftest import Tree, snapshot


@pytest.fixture
def refusals() -> list[str]:
    return []


@pytest.fixture
def connection(tree: Tree, refusals: list[str]) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tree.sandbox / "work.db", factory=GuardedConnection)
    restrict_attach(connection, tree.sandbox, refusals.append)
    yield connection
    connection.close()
    assert snapshot(tree.real) == tree.before


def test_attach_of_the_real_data_dir_is_refused_with_the_fix(
    tree: Tree, connection: sqlite3.Connection, refusals: list[str]
) -> None:
    target = tree.real / "organizations" / "acme" / "tenant.db"
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        connection.execute(f"ATTACH DATABASE '{target}' AS acme")
    [message] = refusals
    assert f"ATTACH DATABASE '{target}'" in message
    assert "VACUUM INTO" in message
    assert str(tree.sandbox) in message
    assert "--tf-isolation=namespace" in message
    assert "attach databases inside the sandbox" in message


def test_attach_with_a_bound_or_computed_name_is_refused(
    tree: Tree, connection: sqlite3.Connection, refusals: list[str]
) -> None:
    with pytest.raises(sqlite3.DatabaseError):
        connection.execute("ATTACH ? AS other", (str(tree.sandbox / "other.db"),))
    with pytest.raises(sqlite3.DatabaseError):
        connection.execute("ATTACH 'oth' || 'er.db' AS other")
    assert len(refusals) == 2
    assert "computed at run time" in refusals[0]


def test_attach_inside_the_sandbox_and_memory_databases_are_allowed(
    tree: Tree,
    connection: sqlite3.Connection,
    refusals: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection.execute(f"ATTACH '{tree.sandbox / 'organizations/acme/tenant2.db'}' AS a")
    connection.execute("ATTACH ':memory:' AS m")
    connection.execute("ATTACH 'file::memory:' AS m2")
    connection.execute("ATTACH 'file:scratch?mode=memory' AS m3")
    connection.execute("ATTACH '' AS temp_db")
    monkeypatch.chdir(tree.sandbox)
    connection.execute("ATTACH 'relative.db' AS r")
    assert refusals == []
    assert (tree.sandbox / "relative.db").exists()
    assert (tree.sandbox / "organizations/acme/tenant2.db").exists()


def test_relative_names_resolve_against_the_cwd(
    tree: Tree,
    connection: sqlite3.Connection,
    refusals: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tree.app)
    with pytest.raises(sqlite3.DatabaseError):
        connection.execute("ATTACH 'data/system.db' AS s")
    assert str(tree.real / "system.db") in refusals[0]


def test_vacuum_into(tree: Tree, connection: sqlite3.Connection, refusals: list[str]) -> None:
    connection.execute("CREATE TABLE t (x)")
    connection.execute("VACUUM")
    connection.execute(f"VACUUM INTO '{tree.sandbox / 'backup.db'}'")
    assert (tree.sandbox / "backup.db").exists()
    with pytest.raises(sqlite3.DatabaseError, match="authorization denied"):
        connection.execute("VACUUM INTO ?", (str(tree.real / "backup.db"),))
    assert str(tree.real / "backup.db") in refusals[0]
    assert "VACUUM INTO" in refusals[0]


def test_an_app_authorizer_runs_after_ours_and_cannot_remove_it(
    tree: Tree, connection: sqlite3.Connection, refusals: list[str]
) -> None:
    seen: list[int] = []

    def app_authorizer(action: int, *args: str | None) -> int:
        seen.append(action)
        return sqlite3.SQLITE_OK

    connection.set_authorizer(app_authorizer)
    connection.execute("SELECT 1")
    assert seen
    for replacement in (app_authorizer, None):
        connection.set_authorizer(replacement)
        with pytest.raises(sqlite3.DatabaseError):
            connection.execute(f"ATTACH '{tree.real / 'system.db'}' AS s")
    assert len(refusals) == 2


def test_guarded_factory_keeps_the_apps_connection_class(tree: Tree) -> None:
    class AppConnection(sqlite3.Connection):
        pass

    factory = guarded_factory(AppConnection)
    assert guarded_factory(AppConnection) is factory
    assert guarded_factory() is GuardedConnection
    refusals: list[str] = []
    connection = sqlite3.connect(":memory:", factory=factory)
    try:
        assert isinstance(connection, AppConnection)
        restrict_attach(connection, tree.sandbox, refusals.append)
        connection.set_authorizer(None)
        with pytest.raises(sqlite3.DatabaseError):
            connection.execute(f"ATTACH '{tree.real / 'system.db'}' AS s")
    finally:
        connection.close()
    assert refusals


def test_a_plain_connection_is_restricted_too(tree: Tree, tmp_path: Path) -> None:
    refusals: list[str] = []
    connection = sqlite3.connect(":memory:")
    try:
        restrict_attach(connection, tree.sandbox, refusals.append)
        with pytest.raises(sqlite3.DatabaseError):
            connection.execute(f"ATTACH '{tmp_path / 'elsewhere.db'}' AS e")
    finally:
        connection.close()
    assert not (tmp_path / "elsewhere.db").exists()
    assert refusals
