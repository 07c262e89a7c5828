"""Settings, personalities and invitations live in plain files beside the databases; every test
owns its own copy of them (run in any order, on any worker: no test sees another's files)."""

import json
import os

from app import database, org_files


def test_personalities_are_written_as_files_of_the_org(client, sign_up):
    _, headers = sign_up("acme")
    response = client.post(
        "/orgs/acme/personalities", json={"name": "skeptic", "prompt": "Doubt it."}, headers=headers
    )
    assert response.status_code == 201
    assert response.json()["personalities"] == ["skeptic"]
    assert os.path.isfile("data/organizations/acme/personalities/skeptic.md")
    settings = client.get("/orgs/acme/settings", headers=headers).json()
    assert settings["texts"] == {"skeptic": "Doubt it."}


def test_settings_are_per_organisation(client, sign_up):
    _, acme = sign_up("acme")
    _, globex = sign_up("globex")
    client.post(
        "/orgs/acme/personalities", json={"name": "optimist", "prompt": "Yes!"}, headers=acme
    )
    assert client.get("/orgs/globex/settings", headers=globex).json()["personalities"] == []


def test_invitations_are_appended_to_the_shared_file(client, sign_up):
    _, headers = sign_up("acme")
    response = client.post("/orgs/acme/invitations", json={"email": "a@x.example"}, headers=headers)
    assert response.json() == {"pending": ["a@x.example"]}
    client.post("/orgs/acme/invitations", json={"email": "b@x.example"}, headers=headers)
    stored = json.loads(org_files.INVITATIONS.read_text())
    assert [entry["email"] for entry in stored] == ["a@x.example", "b@x.example"]


def test_every_test_starts_from_the_shipped_invitations_file():
    """Whatever other tests appended, this test sees the file as the app ships it."""
    assert json.loads((database.DATA_DIR / "invitations.json").read_text()) == []


def test_offboarding_deletes_the_org_folder_and_database(client, sign_up, tenancy):
    _, headers = sign_up("acme")
    client.post("/orgs/acme/invitations", json={"email": "a@x.example"}, headers=headers)
    client.post(
        "/orgs/acme/personalities", json={"name": "judge", "prompt": "Rule."}, headers=headers
    )
    assert tenancy.tenant_path("acme").exists()
    response = client.delete("/orgs/acme", headers=headers)
    assert response.status_code == 204
    assert not os.path.exists("data/organizations/acme")
    assert org_files.pending_invitations("acme") == []
    assert client.get("/orgs/acme", headers=headers).status_code == 403


def test_offboarding_one_org_leaves_the_others(client, sign_up):
    _, acme = sign_up("acme")
    _, globex = sign_up("globex")
    client.post("/orgs/globex/invitations", json={"email": "g@x.example"}, headers=globex)
    client.delete("/orgs/acme", headers=acme)
    assert os.path.isdir("data/organizations/globex")
    assert org_files.pending_invitations("globex") == ["g@x.example"]
