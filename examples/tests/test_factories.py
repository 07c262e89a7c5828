"""The example's factories: rows land in the right organisation's database, deterministically."""

from datetime import datetime

import pytest
from factories import (
    ConversationFactory,
    MessageFactory,
    OrgFactory,
    TagFactory,
    UserFactory,
    VoteFactory,
    headers,
    owner,
)
from faker import Faker
from sqlalchemy import func, select

from app.models import Conversation, Message, Organization, Setting, Tag, User, Vote
from tenantfixtures.factories import TenantFactoryError


def test_org_factory_signs_up_like_the_app(tenancy, system_db):
    org = OrgFactory()
    assert org.id == "org-0"
    assert owner(org).email == "owner@org-0.example"
    assert system_db.get(Organization, "org-0") is org
    assert tenancy.tenants == ("org-0",)
    assert tenancy.tenant(org.id).get(Setting, "system_prompt").value.startswith("You are")


def test_factory_data_is_what_the_api_serves(client, acme_org):
    conversation = ConversationFactory(title="Roadmap", tags=["q3"])
    MessageFactory.create_batch(2, conversation=conversation)
    fetched = client.get(
        f"/orgs/acme/conversations/{conversation.id}", headers=headers(owner(acme_org))
    ).json()
    assert fetched["title"] == "Roadmap"
    assert fetched["tags"] == ["q3"]
    assert len(fetched["messages"]) == 2


def test_subfactories_stay_in_their_parent_tenant(tenancy):
    message = MessageFactory(tenant="globex")
    vote = VoteFactory(conversation=message.conversation)
    tag = TagFactory(conversation=message.conversation)
    globex = tenancy.tenant("globex")
    assert globex.scalar(select(func.count()).select_from(Conversation)) == 1
    assert {type(row) for row in (message, vote, tag)} == {Message, Vote, Tag}
    assert all(row in globex for row in (message, vote, tag))
    assert tenancy.tenants == ("globex",)


def test_using_makes_a_tenant_the_default(tenancy):
    with tenancy.using("globex"):
        ConversationFactory.create_batch(3)
    ConversationFactory()
    assert tenancy.tenant("globex").scalar(select(func.count(Conversation.id))) == 3
    assert tenancy.tenant("acme").scalar(select(func.count(Conversation.id))) == 1


def test_users_belong_to_an_org_in_the_system_database(system_db):
    ann = UserFactory(name="Ann")
    assert system_db.scalars(select(User.name).where(User.org_id == ann.org_id)).all() == [
        f"{ann.org_id} owner",
        "Ann",
    ]


def test_system_models_take_no_tenant():
    with pytest.raises(TenantFactoryError, match="drop tenant='acme'"):
        UserFactory(tenant="acme")


def test_other_tenants_rows_cannot_be_mixed_in():
    conversation = ConversationFactory(tenant="globex")
    with pytest.raises(TenantFactoryError, match="from tenant 'globex'"):
        MessageFactory(tenant="acme", conversation=conversation)


@pytest.mark.tf_freeze_time("2026-03-01 12:00:00")
def test_frozen_clock_covers_fixtures_the_app_and_factories(acme_org, frozen_time, system_db):
    frozen_time.tick(60)
    message = MessageFactory()
    noon = datetime(2026, 3, 1, 12, 0)
    assert system_db.get(Organization, "acme").created_at == noon  # made in a fixture
    assert message.created_at == datetime(2026, 3, 1, 12, 1)


def test_data_is_seeded_per_test(tf_seed, conversation):
    """Faker draws from this test's seed (rerun with the header's --tf-seed: same data)."""
    replay = Faker()
    replay.seed_instance(tf_seed)
    assert conversation.title == replay.sentence(nb_words=4)
