"""Business rules shared by the routes: sign-up, membership and plan limits."""

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import org_files
from app.database import SystemSessionLocal, load_defaults, tenant_session
from app.models import Conversation, Organization, Setting, User

ORG_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class ServiceError(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def check_org_id(org_id: str) -> str:
    if not ORG_ID_PATTERN.fullmatch(org_id):
        raise ServiceError(422, "organisation ids are 2-63 lowercase letters, digits or dashes")
    return org_id


def commit_new_user(session: Session, email: str) -> None:
    """Commit a session that adds a user; emails are unique across organisations."""
    try:
        session.commit()
    except IntegrityError:
        raise ServiceError(409, f"a user with email {email!r} already exists") from None


def create_organization(org_id: str, name: str, owner_email: str, owner_name: str) -> Organization:
    """Sign-up: the organisation and its owner in the system DB, then its own database."""
    check_org_id(org_id)
    with SystemSessionLocal() as session:
        if session.get(Organization, org_id) is not None:
            raise ServiceError(409, f"organisation {org_id!r} already exists")
        org = Organization(id=org_id, name=name)
        session.add(org)
        session.add(User(org_id=org_id, email=owner_email, name=owner_name, role="owner"))
        commit_new_user(session, owner_email)
        session.refresh(org)
        session.expunge(org)
    with tenant_session(org_id) as tenant:
        tenant.add(Setting(key="system_prompt", value=load_defaults()["system_prompt"]))
        tenant.commit()
    return org


def add_user(org_id: str, email: str, name: str, role: str = "member") -> User:
    with SystemSessionLocal() as session:
        org = session.get(Organization, org_id)
        if org is None:
            raise ServiceError(404, f"no organisation {org_id!r}")
        limit = load_defaults()["plans"][org.plan]["max_users"]
        count = session.scalar(select(func.count()).where(User.org_id == org_id)) or 0
        if count >= limit:
            raise ServiceError(
                402, f"the {org.plan} plan allows {limit} users; upgrade to add more"
            )
        user = User(org_id=org_id, email=email, name=name, role=role)
        session.add(user)
        commit_new_user(session, email)
        session.refresh(user)
        session.expunge(user)
        return user


def member(org_id: str, user_id: int | None) -> User:
    """The calling user, if they belong to ``org_id``."""
    if user_id is None:
        raise ServiceError(401, "missing X-User-Id header")
    with SystemSessionLocal() as session:
        user = session.get(User, user_id)
        if user is None or user.org_id != org_id:
            raise ServiceError(403, "you are not a member of this organisation")
        session.expunge(user)
        return user


def check_conversation_quota(org_id: str) -> None:
    with SystemSessionLocal() as session:
        org = session.get(Organization, org_id)
        assert org is not None
        limit = load_defaults()["plans"][org.plan]["max_conversations"]
    with tenant_session(org_id) as tenant:
        count = tenant.scalar(select(func.count()).select_from(Conversation)) or 0
    if count >= limit:
        raise ServiceError(402, f"the {org.plan} plan allows {limit} conversations")


def offboard_organization(org_id: str) -> None:
    """Delete the organisation: its users and row in the system DB, then all of its files."""
    with SystemSessionLocal() as session:
        org = session.get(Organization, org_id)
        if org is None:
            raise ServiceError(404, f"no organisation {org_id!r}")
        for user in list(org.users):
            session.delete(user)
        session.delete(org)
        session.commit()
    org_files.offboard_files(org_id)
