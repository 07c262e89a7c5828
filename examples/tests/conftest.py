"""The example suite's conftest: describe the databases once, then test the app as it is."""

import os

import pytest
from factories import ConversationFactory, MessageFactory, OrgFactory
from fastapi.testclient import TestClient

import tenantfixtures
from app import database, models  # noqa: F401  (registers the tables)
from app.main import app
from app.models import Organization
from tenantfixtures.factories import register

os.environ.setdefault("OPENROUTER_API_KEY", "sk-or-v1-test-key-never-sent-anywhere")


@pytest.fixture(scope="session")
def tenant_topology() -> tenantfixtures.Topology:
    return tenantfixtures.Topology(
        system=database.SystemBase.metadata,
        tenant=database.TenantBase.metadata,
        data_dir=database.DATA_DIR,  # the app's real data dir: never written in tests
        system_db="system.db",
        tenant_db="organizations/{tenant}/tenant.db",
        tenant_initializer=database.init_tenant_schema,  # the app's own create_all + migration
        engine_caches=[database._tenant_engines],
        default_tenant="acme",
    )


@pytest.fixture
def client() -> TestClient:
    return TestClient(app)


@pytest.fixture
def sign_up(client: TestClient):
    """Create an organisation through the API; returns (org json, headers of its owner)."""

    def sign_up(org_id: str, owner_email: str | None = None) -> tuple[dict, dict[str, str]]:
        response = client.post(
            "/orgs",
            json={
                "id": org_id,
                "name": org_id.title(),
                "owner_email": owner_email or f"owner@{org_id}.example",
                "owner_name": f"{org_id} owner",
            },
        )
        assert response.status_code == 201, response.text
        org = response.json()
        return org, {"X-User-Id": str(org["owner"]["id"])}

    return sign_up


# Fixtures `conversation`/`conversation_factory` and `message`/`message_factory` (default tenant).
register(ConversationFactory)
register(MessageFactory)


@pytest.fixture
def acme_org() -> Organization:
    """The organisation 'acme', signed up by the app's own code (owner, database, settings)."""
    return OrgFactory(id="acme")
