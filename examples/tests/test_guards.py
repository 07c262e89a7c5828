"""The guards on the app: cross-tenant reads and N+1 queries.

(Sandbox escapes are shown by the plugin's own tests, tests/db/test_guards.py: a test that
expects an escape cannot be written in-process, since an escape fails the test even when caught.)
"""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import tenantfixtures
from app.main import service_error
from app.routers import search
from app.services import ServiceError


@pytest.fixture
def orgs(client, sign_up):
    """acme and globex, each with a conversation titled 'roadmap'."""
    _, acme = sign_up("acme")
    _, globex = sign_up("globex")
    client.post("/orgs/acme/conversations", headers=acme, json={"title": "acme roadmap"})
    client.post("/orgs/globex/conversations", headers=globex, json={"title": "globex roadmap"})
    return acme, globex


@pytest.fixture
def leaky_client():
    """The app with the deliberately broken search mounted (never in app.main)."""
    leaky = FastAPI()
    leaky.include_router(search.leaky_router)
    leaky.add_exception_handler(ServiceError, service_error)
    return TestClient(leaky)


def test_search_stays_in_the_callers_tenant(client, orgs, tenancy):
    acme, _ = orgs
    with tenancy.only("acme"):
        response = client.get("/orgs/acme/search?q=roadmap", headers=acme)
    assert response.json() == {"titles": ["acme roadmap"]}


@pytest.mark.tenant_scope("acme")
def test_marker_form_of_the_same_check(client, orgs):
    acme, _ = orgs
    assert client.get("/orgs/acme/search?q=road", headers=acme).json()["titles"] == ["acme roadmap"]


def test_guard_catches_the_leaky_search(leaky_client, orgs, tenancy):
    acme, _ = orgs
    with (
        pytest.raises(tenantfixtures.TenantIsolationError, match="tenant 'globex' was touched"),
        tenancy.only("acme"),
    ):
        leaky_client.get("/orgs/acme/search?q=roadmap", headers=acme)


def test_without_the_guard_the_leak_is_silent(leaky_client, orgs):
    """What the bug looks like when nothing checks: acme's user sees globex's title."""
    acme, _ = orgs
    titles = leaky_client.get("/orgs/acme/search?q=roadmap", headers=acme).json()["titles"]
    assert titles == ["acme roadmap", "globex roadmap"]


def test_listing_conversations_is_not_n_plus_one(client, sign_up, tenancy):
    _, acme = sign_up("acme")
    for i in range(10):
        body = {"title": f"c{i}", "tags": ["a", "b"]}
        client.post("/orgs/acme/conversations", headers=acme, json=body)
    with tenancy.assert_queries(max=3, tenant="acme") as captured:
        page = client.get("/orgs/acme/conversations", headers=acme).json()
    assert len(page["items"]) == 10
    assert any("tags" in sql for sql in captured.statements)


def test_sign_up_query_budget_on_the_system_db(client, tenancy):
    with tenancy.assert_queries(max=6, system=True):
        response = client.post(
            "/orgs",
            json={"id": "acme", "name": "A", "owner_email": "o@a.example", "owner_name": "O"},
        )
    assert response.status_code == 201
