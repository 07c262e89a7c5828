"""Organisations and their users (system database)."""

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from app import org_files
from app.database import SystemSessionLocal
from app.models import Organization, User
from app.routers.deps import Member
from app.services import ServiceError, add_user, create_organization, offboard_organization

router = APIRouter(prefix="/orgs", tags=["organisations"])
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", max_length=320)]


class OrgIn(BaseModel):
    id: str
    name: str
    owner_email: Email
    owner_name: str


class UserIn(BaseModel):
    email: Email
    name: str
    role: str = "member"


def org_out(org: Organization) -> dict[str, object]:
    return {"id": org.id, "name": org.name, "plan": org.plan}


def user_out(user: User) -> dict[str, object]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role}


@router.post("", status_code=201)
def sign_up(body: OrgIn) -> dict[str, object]:
    org = create_organization(body.id, body.name, body.owner_email, body.owner_name)
    with SystemSessionLocal() as session:
        owner = session.scalars(select(User).where(User.org_id == org.id)).one()
        return {**org_out(org), "owner": user_out(owner)}


@router.get("/{org_id}")
def get_org(user: Member) -> dict[str, object]:
    with SystemSessionLocal() as session:
        org = session.get(Organization, user.org_id)
        assert org is not None
        return {**org_out(org), "members": len(org.users)}


@router.get("/{org_id}/users")
def list_users(user: Member) -> list[dict[str, object]]:
    with SystemSessionLocal() as session:
        users = session.scalars(select(User).where(User.org_id == user.org_id).order_by(User.id))
        return [user_out(u) for u in users]


@router.post("/{org_id}/users", status_code=201)
def invite_user(body: UserIn, user: Member) -> dict[str, object]:
    if user.role != "owner":
        raise ServiceError(403, "only the owner can add users")
    return user_out(add_user(user.org_id, body.email, body.name, body.role))


class InvitationIn(BaseModel):
    email: Email


class PersonalityIn(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,40}$")
    prompt: str


def _require_owner(user: User) -> None:
    if user.role != "owner":
        raise ServiceError(403, "only the owner can do this")


@router.post("/{org_id}/invitations", status_code=201)
def create_invitation(body: InvitationIn, user: Member) -> dict[str, object]:
    _require_owner(user)
    org_files.invite(user.org_id, body.email)
    return {"pending": org_files.pending_invitations(user.org_id)}


@router.get("/{org_id}/settings")
def get_settings(user: Member) -> dict[str, object]:
    return {**org_files.read_settings(user.org_id), "texts": org_files.personalities(user.org_id)}


@router.post("/{org_id}/personalities", status_code=201)
def add_personality(body: PersonalityIn, user: Member) -> dict[str, object]:
    _require_owner(user)
    org_files.add_personality(user.org_id, body.name, body.prompt)
    return org_files.read_settings(user.org_id)


@router.delete("/{org_id}", status_code=204)
def offboard(user: Member) -> None:
    _require_owner(user)
    offboard_organization(user.org_id)
