"""Tenants never see each other's data; tests never see each other's data."""

import pytest
from factories import ConversationFactory, OrgFactory, headers, owner
from sqlalchemy import select

import tenantfixtures
from app.models import Conversation


@pytest.fixture
def two_orgs():
    """Headers of the owners of acme and globex."""
    return tuple(headers(owner(OrgFactory(id=org_id))) for org_id in ("acme", "globex"))


def test_org_a_never_sees_org_b_conversations(client, two_orgs):
    acme, globex = two_orgs
    ConversationFactory(tenant="acme", title="acme secret")
    ConversationFactory(tenant="globex", title="globex plan")
    acme_titles = [
        c["title"] for c in client.get("/orgs/acme/conversations", headers=acme).json()["items"]
    ]
    globex_titles = [
        c["title"] for c in client.get("/orgs/globex/conversations", headers=globex).json()["items"]
    ]
    assert acme_titles == ["acme secret"]
    assert globex_titles == ["globex plan"]


def test_same_conversation_id_names_different_rows_per_tenant(client, two_orgs, tenancy):
    a = ConversationFactory(tenant="acme", title="A")
    b = ConversationFactory(tenant="globex", title="B")
    assert a.id == b.id == 1
    assert tenancy.tenant("acme").get(Conversation, 1).title == "A"
    assert tenancy.tenant("globex").get(Conversation, 1).title == "B"


def test_user_of_one_org_is_forbidden_in_another(client, two_orgs):
    acme, _ = two_orgs
    assert client.get("/orgs/globex/conversations", headers=acme).status_code == 403
    assert client.get("/orgs/globex", headers=acme).status_code == 403


def test_tenant_databases_are_separate_files(client, two_orgs, tenancy):
    assert tenancy.tenant_path("acme") != tenancy.tenant_path("globex")
    assert tenancy.tenant_path("acme").exists()
    assert tenancy.tenant_path("globex").exists()
    assert tenancy.tenant_path("acme").is_relative_to(tenancy.data_dir)


def test_requests_for_one_org_touch_only_its_database(client, two_orgs, tenancy):
    acme, _ = two_orgs
    with tenancy.only("acme"):
        response = client.post("/orgs/acme/conversations", headers=acme, json={"title": "t"})
    assert response.status_code == 201


def test_only_catches_code_that_opens_another_tenant(tenancy):
    tenancy.add_tenant("acme")
    tenancy.add_tenant("globex")
    with pytest.raises(tenantfixtures.TenantIsolationError, match="globex"), tenancy.only("acme"):
        tenancy.tenant("globex").scalars(select(Conversation)).all()


def test_only_fails_even_when_the_app_swallows_the_error(tenancy):
    tenancy.add_tenant("globex")

    def leaky_handler():
        try:
            tenancy.tenant("globex").scalars(select(Conversation)).all()
        except tenantfixtures.TenantIsolationError:
            return "500 Internal Server Error"
        return "200 OK"

    with (
        pytest.raises(tenantfixtures.TenantIsolationError, match="tenant 'globex'"),
        tenancy.only("acme"),
    ):
        assert leaky_handler() == "500 Internal Server Error"


def test_touched_counts_what_the_app_opened(client, two_orgs, tenancy):
    acme, _ = two_orgs
    client.get("/orgs/acme/conversations", headers=acme)
    touched = tenancy.touched
    assert touched.system > 0
    assert set(touched.tenants) == {"acme", "globex"}


@pytest.mark.tenants("acme", "globex")
def test_marker_provisions_tenants_and_picks_the_default(tenancy):
    assert tenancy.tenants == ("acme", "globex")
    ConversationFactory(title="in acme")
    assert tenancy.tenant("acme").scalars(select(Conversation.title)).all() == ["in acme"]
    assert tenancy.tenant("globex").scalars(select(Conversation)).all() == []


@pytest.mark.parametrize("attempt", range(3))
def test_every_test_gets_fresh_databases(client, tenancy, attempt):
    """Run three times (in any order, on any worker): each starts from empty databases."""
    assert tenancy.tenants == ()
    acme = headers(owner(OrgFactory(id="acme")))
    client.post("/orgs/acme/conversations", headers=acme, json={"title": f"run {attempt}"})
    titles = tenancy.tenant("acme").scalars(select(Conversation.title)).all()
    assert titles == [f"run {attempt}"]


def test_cached_tenant_engines_are_reset_between_tests(tenancy):
    from app import database

    assert database._tenant_engines == {}
