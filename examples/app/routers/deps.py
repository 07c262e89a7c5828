"""Dependencies shared by the routers: the caller's membership and the tenant session."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Path
from sqlalchemy.orm import Session

from app.database import tenant_session
from app.models import User
from app.services import check_org_id, member

OrgId = Annotated[str, Path(min_length=2, max_length=63)]


def current_member(org_id: OrgId, x_user_id: Annotated[int | None, Header()] = None) -> User:
    check_org_id(org_id)
    return member(org_id, x_user_id)


def org_session(user: Annotated[User, Depends(current_member)]) -> Iterator[Session]:
    with tenant_session(user.org_id) as session:
        yield session


Member = Annotated[User, Depends(current_member)]
TenantSession = Annotated[Session, Depends(org_session)]
