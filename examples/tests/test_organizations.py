"""Sign-up, users and membership: the system database, through the HTTP API.

Sign-up itself is tested through the API; other tests start from factory-made organisations
(made by the same sign-up code) and users.
"""

import pytest
from factories import OrgFactory, UserFactory, headers, owner
from sqlalchemy import select

from app.models import Organization, Setting, User


def test_sign_up_creates_org_owner_and_tenant_database(client, sign_up, tenancy):
    org, _ = sign_up("acme")

    assert org["id"] == "acme"
    assert org["owner"]["role"] == "owner"
    assert tenancy.system().get(Organization, "acme").name == "Acme"
    assert tenancy.tenants == ("acme",)
    assert tenancy.tenant_path("acme").exists()
    setting = tenancy.tenant("acme").get(Setting, "system_prompt")
    assert setting.value.startswith("You are one member of a council")


def test_duplicate_org_id_is_a_conflict(client, acme_org):
    response = client.post(
        "/orgs",
        json={"id": "acme", "name": "Other", "owner_email": "x@y.example", "owner_name": "X"},
    )
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_duplicate_owner_email_is_a_conflict_and_leaves_no_org(client, system_db):
    OrgFactory(id="acme", owner_email="boss@example.com")
    response = client.post(
        "/orgs",
        json={"id": "globex", "name": "G", "owner_email": "boss@example.com", "owner_name": "B"},
    )
    assert response.status_code == 409
    assert system_db.get(Organization, "globex") is None


@pytest.mark.parametrize("bad_id", ["A", "x", "has space", "UPPER", "-dash-first", "a" * 64])
def test_invalid_org_ids_are_rejected(client, bad_id):
    response = client.post(
        "/orgs",
        json={"id": bad_id, "name": "N", "owner_email": "n@n.example", "owner_name": "N"},
    )
    assert response.status_code == 422


def test_get_org_counts_members(client, acme_org):
    UserFactory(organization=acme_org)
    response = client.get("/orgs/acme", headers=headers(owner(acme_org)))
    assert response.json() == {"id": "acme", "name": "Acme", "plan": "free", "members": 2}


def test_missing_user_header_is_unauthorized(client, acme_org):
    assert client.get("/orgs/acme").status_code == 401


def test_owner_invites_users_in_order(client, acme_org):
    boss = headers(owner(acme_org))
    for name in ("ann", "bob"):
        response = client.post(
            "/orgs/acme/users", headers=boss, json={"email": f"{name}@acme.example", "name": name}
        )
        assert response.status_code == 201
    users = client.get("/orgs/acme/users", headers=boss).json()
    assert [u["name"] for u in users] == ["acme owner", "ann", "bob"]


def test_members_cannot_invite(client, acme_org):
    ann = UserFactory(organization=acme_org)
    response = client.post(
        "/orgs/acme/users",
        headers=headers(ann),
        json={"email": "eve@acme.example", "name": "Eve"},
    )
    assert response.status_code == 403


def test_free_plan_user_limit(client, acme_org, system_db):
    boss = headers(owner(acme_org))
    statuses = [
        client.post(
            "/orgs/acme/users", headers=boss, json={"email": f"u{i}@acme.example", "name": "U"}
        ).status_code
        for i in range(3)
    ]
    assert statuses == [201, 201, 402]
    assert system_db.scalar(select(User).where(User.email == "u2@acme.example")) is None


def test_team_plan_lifts_the_limit(client):
    boss = headers(owner(OrgFactory(id="acme", plan="team")))
    for i in range(4):
        response = client.post(
            "/orgs/acme/users", headers=boss, json={"email": f"u{i}@acme.example", "name": "U"}
        )
        assert response.status_code == 201


def test_invalid_email_is_rejected(client, acme_org):
    response = client.post(
        "/orgs/acme/users", headers=headers(owner(acme_org)), json={"email": "nope", "name": "N"}
    )
    assert response.status_code == 422


def test_each_test_starts_with_an_empty_system_database(system_db):
    assert system_db.scalars(select(Organization)).all() == []
    assert system_db.scalars(select(User)).all() == []


def test_health(client):
    assert client.get("/health").json() == {"status": "ok"}
