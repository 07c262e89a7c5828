"""Search over conversation titles.

``leaky_router`` is a deliberately broken variant kept for the test suite (it is not mounted by
``app.main``): it answers from *every* organisation's database, the classic multi-tenant bug.
"""

from fastapi import APIRouter
from sqlalchemy import select

from app.database import SystemSessionLocal, tenant_session
from app.models import Conversation, Organization
from app.routers.deps import Member, TenantSession

router = APIRouter(prefix="/orgs/{org_id}", tags=["search"])
leaky_router = APIRouter(prefix="/orgs/{org_id}", tags=["search"])


def titles_matching(session: TenantSession, q: str) -> list[str]:
    query = select(Conversation.title).where(Conversation.title.contains(q))
    return list(session.scalars(query.order_by(Conversation.id)))


@router.get("/search")
def search(q: str, user: Member, session: TenantSession) -> dict[str, list[str]]:
    return {"titles": titles_matching(session, q)}


@leaky_router.get("/search")
def search_everywhere(q: str, user: Member) -> dict[str, list[str]]:
    """The bug: "search all my organisations" written as "search all organisations"."""
    with SystemSessionLocal() as system:
        org_ids = list(system.scalars(select(Organization.id)))
    titles: list[str] = []
    for org_id in org_ids:
        with tenant_session(org_id) as session:
            titles += titles_matching(session, q)
    return {"titles": titles}
