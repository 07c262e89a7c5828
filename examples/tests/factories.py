"""Test data for the example app, written to the running test's sandbox databases.

Organisations are made by the app's own sign-up (owner, tenant database, default settings), so
factory-made data has the same shape as real data; everything else is a plain row.
"""

from typing import Any

import factory
from sqlalchemy.orm import Session

from app import services
from app.models import Conversation, Message, Organization, Tag, User, Vote
from tenantfixtures.factories import SystemFactory, TenantFactory


class OrgFactory(SystemFactory):
    """An organisation signed up through ``services.create_organization`` (create only)."""

    class Meta:
        model = Organization

    id = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda org: org.id.title())
    plan = "free"
    owner_email = factory.LazyAttribute(lambda org: f"owner@{org.id}.example")
    owner_name = factory.LazyAttribute(lambda org: f"{org.id} owner")

    @classmethod
    def _save(
        cls, model_class: type, session: Session, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Organization:
        services.create_organization(
            kwargs["id"], kwargs["name"], kwargs["owner_email"], kwargs["owner_name"]
        )
        org = session.get(Organization, kwargs["id"])
        assert org is not None
        org.plan = kwargs["plan"]
        return org


class UserFactory(SystemFactory):
    class Meta:
        model = User

    organization = factory.SubFactory(OrgFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    role = "member"


class ConversationFactory(TenantFactory):
    """A conversation; ``tags=["a", "b"]`` adds tags, ``author=user`` sets ``created_by``."""

    class Meta:
        model = Conversation

    class Params:
        author = None

    title = factory.Faker("sentence", nb_words=4)
    created_by = factory.LazyAttribute(lambda c: c.author.id if c.author else 1)

    @factory.post_generation
    def tags(conversation: Conversation, create: bool, names: list[str] | None) -> None:
        for name in names or ():
            TagFactory(conversation=conversation, name=name)


class MessageFactory(TenantFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = "user"
    content = factory.Faker("paragraph")
    tokens = factory.Faker("pyint", min_value=1, max_value=500)


class VoteFactory(TenantFactory):
    class Meta:
        model = Vote

    class Params:
        conversation = factory.SubFactory(ConversationFactory)

    conversation_id = factory.SelfAttribute("conversation.id")
    voter_model = "openai/gpt-4o"
    chosen_model = "anthropic/claude-sonnet-4"


class TagFactory(TenantFactory):
    class Meta:
        model = Tag

    class Params:
        conversation = factory.SubFactory(ConversationFactory)

    conversation_id = factory.SelfAttribute("conversation.id")
    name = factory.Sequence(lambda n: f"tag-{n}")


def headers(user: User) -> dict[str, str]:
    """The app's authentication: who is calling."""
    return {"X-User-Id": str(user.id)}


def owner(org: Organization) -> User:
    """The user the sign-up made the organisation's owner."""
    return next(user for user in org.users if user.role == "owner")
