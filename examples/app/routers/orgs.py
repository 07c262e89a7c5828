"""Organisations and their users (system database)."""

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.database import SystemSessionLocal
from app.models import Organization, User
from app.routers.deps import Member
from app.services import ServiceError, add_user, create_organization

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
