"""The app's lazy migration, on tenant databases created by older releases."""

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from app import database
from app.models import Conversation, Message
from tenantfixtures.migrations import open_from_snapshot, schema_diff

# Frozen schemas of older releases, with rows (the built-in checks replay them too).
SNAPSHOTS = Path(__file__).parent / "snapshots"

RELEASE_1_SCHEMA = """
CREATE TABLE conversations (id INTEGER PRIMARY KEY, title VARCHAR(200) NOT NULL,
                            created_by INTEGER NOT NULL, created_at DATETIME);
CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL
                       REFERENCES conversations(id), role VARCHAR(20) NOT NULL,
                       content TEXT NOT NULL, created_at DATETIME);
INSERT INTO conversations (id, title, created_by) VALUES (1, 'from release 1', 1);
INSERT INTO messages (conversation_id, role, content) VALUES (1, 'user', 'old question');
"""


def lay_down_release_1(tenancy, tenant_id="oldco"):
    """Write a tenant database the way release 1 of the app created it; returns its path."""
    path = tenancy.tenant_path(tenant_id)
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path)
    connection.executescript(RELEASE_1_SCHEMA)
    connection.close()
    return path


@pytest.fixture
def release_1_tenant(tenancy):
    lay_down_release_1(tenancy)
    return "oldco"


def columns(engine, table):
    return [column["name"] for column in inspect(engine).get_columns(table)]


def test_old_database_gains_the_new_columns_and_tables(release_1_tenant):
    engine = database.get_tenant_engine(release_1_tenant)
    assert "tokens" in columns(engine, "messages")
    assert "model" in columns(engine, "messages")
    assert "archived" in columns(engine, "conversations")
    assert {"votes", "tags", "settings"} <= set(inspect(engine).get_table_names())


def test_old_rows_survive_with_defaults(release_1_tenant):
    with database.tenant_session(release_1_tenant) as session:
        conversation = session.get(Conversation, 1)
        assert conversation.title == "from release 1"
        assert conversation.archived is False
        message = session.scalars(select(Message)).one()
        assert (message.content, message.tokens, message.model) == ("old question", 0, None)


def test_migration_is_idempotent(release_1_tenant):
    engine = database.get_tenant_engine(release_1_tenant)
    assert database.migrate_tenant_db(engine) == []


def test_migration_reports_what_it_added(tenancy):
    path = lay_down_release_1(tenancy)
    engine = database.create_engine(f"sqlite:///{path}")
    assert database.migrate_tenant_db(engine) == [
        "messages.tokens",
        "messages.model",
        "conversations.archived",
    ]
    engine.dispose()


def test_api_works_on_a_migrated_tenant(client, release_1_tenant, system_db, tenancy):
    from app.models import Organization, User

    system_db.add(Organization(id="oldco", name="Old Co"))
    system_db.add(User(id=7, org_id="oldco", email="o@old.example", name="O", role="owner"))
    system_db.commit()
    headers = {"X-User-Id": "7"}
    response = client.get("/orgs/oldco/conversations/1", headers=headers)
    assert response.status_code == 200
    assert response.json()["messages"][0]["content"] == "old question"
    created = client.post("/orgs/oldco/conversations", headers=headers, json={"title": "new"})
    assert created.json()["id"] == 2


def test_new_tenant_gets_the_current_schema(tenancy):
    engine = tenancy.tenant_engine("fresh")
    assert columns(engine, "messages") == [
        "id",
        "conversation_id",
        "role",
        "content",
        "model",
        "tokens",
        "created_at",
    ]


@pytest.mark.parametrize("snapshot", ["release-1.sql", "release-2.sql"])
def test_a_frozen_release_migrates_to_the_models_keeping_its_rows(tenancy, snapshot):
    open_from_snapshot(
        SNAPSHOTS / snapshot,
        tenancy.tenant_path("oldco"),
        database.init_tenant_schema,
        database.TenantBase.metadata,
    )
    assert schema_diff(tenancy.tenant_engine("oldco"), database.TenantBase.metadata) == []
    conversation = tenancy.tenant("oldco").get(Conversation, 1)
    assert conversation.archived is False
    assert [message.tokens for message in conversation.messages][:1] == [0]


def test_the_lazy_migration_cannot_repair_nullability(release_1_tenant):
    """The hand-written release-1 schema above left created_at nullable: ALTER TABLE cannot
    add NOT NULL, so these databases drift from the models until a table rebuild."""
    drift = schema_diff(database.get_tenant_engine(release_1_tenant), database.TenantBase.metadata)
    for table in ("conversations", "messages"):
        assert (
            f"error: {table}: column created_at: the database allows NULL, the model says"
            " NOT NULL (making it NOT NULL needs a table rebuild on SQLite)"
        ) in drift
