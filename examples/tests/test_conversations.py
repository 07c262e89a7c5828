"""Conversations and messages: the tenant database, through the HTTP API.

Data a test only needs to exist is made with factories (straight into acme's database); the
API is called for what the test is about.
"""

import factory
import pytest
from factories import ConversationFactory, UserFactory, headers, owner
from sqlalchemy import select

from app.models import Conversation, Message, Tag


@pytest.fixture
def acme(acme_org):
    """Headers of acme's owner."""
    return headers(owner(acme_org))


def create(client, headers, title="Plan the launch", org="acme", **extra):
    response = client.post(
        f"/orgs/{org}/conversations", headers=headers, json={"title": title, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_and_fetch(client, acme):
    created = create(client, acme, tags=["launch", "q3"])
    fetched = client.get(f"/orgs/acme/conversations/{created['id']}", headers=acme).json()
    assert fetched["title"] == "Plan the launch"
    assert fetched["tags"] == ["launch", "q3"]
    assert fetched["messages"] == []
    assert fetched["votes"] == []


def test_creation_is_committed_to_the_tenant_database(client, acme, tenant_db):
    create(client, acme, title="Stored")
    assert tenant_db.scalars(select(Conversation.title)).all() == ["Stored"]


def test_duplicate_tags_are_stored_once(client, acme, tenant_db):
    create(client, acme, tags=["x", "x", "y"])
    assert sorted(tenant_db.scalars(select(Tag.name))) == ["x", "y"]


def test_list_is_paginated_in_creation_order(client, acme):
    ConversationFactory.create_batch(5, title=factory.Iterator(["c0", "c1", "c2", "c3", "c4"]))
    page = client.get("/orgs/acme/conversations?limit=2&offset=2", headers=acme).json()
    assert page["total"] == 5
    assert [c["title"] for c in page["items"]] == ["c2", "c3"]


def test_list_filters_by_tag(client, acme):
    ConversationFactory(title="a", tags=["red"])
    ConversationFactory(title="b", tags=["blue"])
    page = client.get("/orgs/acme/conversations?tag=blue", headers=acme).json()
    assert [c["title"] for c in page["items"]] == ["b"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1"])
def test_bad_pagination_is_rejected(client, acme, query):
    assert client.get(f"/orgs/acme/conversations?{query}", headers=acme).status_code == 422


def test_archive_hides_from_default_list(client, acme):
    kept = ConversationFactory(title="kept")
    gone = ConversationFactory(title="gone")
    assert client.post(f"/orgs/acme/conversations/{gone.id}/archive", headers=acme).json()[
        "archived"
    ]
    active = client.get("/orgs/acme/conversations", headers=acme).json()["items"]
    archived = client.get("/orgs/acme/conversations?archived=true", headers=acme).json()["items"]
    assert [c["id"] for c in active] == [kept.id]
    assert [c["id"] for c in archived] == [gone.id]


def test_messages_are_appended_in_order(client, acme, conversation):
    for role, content in [("user", "hi"), ("assistant", "hello"), ("user", "bye")]:
        response = client.post(
            f"/orgs/acme/conversations/{conversation.id}/messages",
            headers=acme,
            json={"role": role, "content": content},
        )
        assert response.status_code == 201
    fetched = client.get(f"/orgs/acme/conversations/{conversation.id}", headers=acme).json()
    assert [(m["role"], m["content"]) for m in fetched["messages"]] == [
        ("user", "hi"),
        ("assistant", "hello"),
        ("user", "bye"),
    ]


def test_archived_conversations_take_no_messages(client, acme):
    conversation = ConversationFactory(archived=True)
    response = client.post(
        f"/orgs/acme/conversations/{conversation.id}/messages",
        headers=acme,
        json={"role": "user", "content": "late"},
    )
    assert response.status_code == 409


def test_invalid_role_is_rejected(client, acme, conversation):
    response = client.post(
        f"/orgs/acme/conversations/{conversation.id}/messages",
        headers=acme,
        json={"role": "robot", "content": "x"},
    )
    assert response.status_code == 422


def test_missing_conversation_is_404(client, acme):
    assert client.get("/orgs/acme/conversations/999", headers=acme).status_code == 404


def test_delete_removes_messages_too(client, acme, tenant_db, message):
    conversation_id = message.conversation.id
    assert (
        client.delete(f"/orgs/acme/conversations/{conversation_id}", headers=acme).status_code
        == 204
    )
    assert tenant_db.scalars(select(Message)).all() == []
    assert tenant_db.scalars(select(Conversation)).all() == []


def test_members_cannot_delete_others_conversations(client, acme_org):
    conversation = ConversationFactory(author=owner(acme_org))
    ann = UserFactory(organization=acme_org)
    response = client.delete(f"/orgs/acme/conversations/{conversation.id}", headers=headers(ann))
    assert response.status_code == 403


def test_free_plan_conversation_quota(client, acme):
    ConversationFactory.create_batch(20)
    response = client.post("/orgs/acme/conversations", headers=acme, json={"title": "one more"})
    assert response.status_code == 402


def test_data_written_by_the_test_is_seen_by_the_app(client, acme):
    ConversationFactory(title="seeded by the test")
    items = client.get("/orgs/acme/conversations", headers=acme).json()["items"]
    assert [c["title"] for c in items] == ["seeded by the test"]
