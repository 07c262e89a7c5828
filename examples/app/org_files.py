"""Plain files beside the databases, the way many apps keep them (and the way tests break them).

- ``data/organizations/{org_id}/settings.json``: per-organisation settings, cwd-relative path;
- ``data/organizations/{org_id}/personalities/*.md``: one file per council personality;
- ``data/invitations.json``: one shared file of pending invitations for every organisation;
- offboarding removes the organisation's whole folder (its database included) with rmtree.
"""

import json
import os
import secrets
import shutil
from typing import Any

from app.database import DATA_DIR, _tenant_engines

INVITATIONS = DATA_DIR / "invitations.json"


def org_dir(org_id: str) -> str:
    return os.path.join("data", "organizations", org_id)


def read_settings(org_id: str) -> dict[str, Any]:
    path = os.path.join(org_dir(org_id), "settings.json")
    if not os.path.exists(path):
        return {"language": "en", "personalities": []}
    with open(path) as file:
        settings: dict[str, Any] = json.load(file)
    return settings


def write_settings(org_id: str, settings: dict[str, Any]) -> None:
    os.makedirs(org_dir(org_id), exist_ok=True)
    temporary = os.path.join(org_dir(org_id), "settings.json.tmp")
    with open(temporary, "w") as file:
        json.dump(settings, file, indent=2)
    os.replace(temporary, os.path.join(org_dir(org_id), "settings.json"))


def add_personality(org_id: str, name: str, prompt: str) -> None:
    folder = os.path.join(org_dir(org_id), "personalities")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}.md"), "w") as file:
        file.write(prompt)
    settings = read_settings(org_id)
    settings["personalities"] = sorted({*settings["personalities"], name})
    write_settings(org_id, settings)


def personalities(org_id: str) -> dict[str, str]:
    folder = os.path.join(org_dir(org_id), "personalities")
    if not os.path.isdir(folder):
        return {}
    found = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as file:
            found[name.removesuffix(".md")] = file.read()
    return found


def _load_invitations() -> list[dict[str, str]]:
    invitations: list[dict[str, str]] = json.loads(INVITATIONS.read_text())
    return invitations


def invite(org_id: str, email: str) -> str:
    token = secrets.token_urlsafe(12)
    invitations = _load_invitations()
    invitations.append({"org_id": org_id, "email": email, "token": token})
    INVITATIONS.write_text(json.dumps(invitations, indent=2))
    return token


def pending_invitations(org_id: str) -> list[str]:
    return [entry["email"] for entry in _load_invitations() if entry["org_id"] == org_id]


def offboard_files(org_id: str) -> None:
    """Forget the organisation's invitations and delete its folder, database and all."""
    engine = _tenant_engines.pop(org_id, None)
    if engine is not None:
        engine.dispose()
    remaining = [entry for entry in _load_invitations() if entry["org_id"] != org_id]
    INVITATIONS.write_text(json.dumps(remaining, indent=2))
    shutil.rmtree(org_dir(org_id), ignore_errors=True)
