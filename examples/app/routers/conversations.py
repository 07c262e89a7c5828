"""Conversations and their messages (the organisation's own database)."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.models import Conversation, Message, Tag, Vote
from app.routers.deps import Member, TenantSession
from app.services import ServiceError, check_conversation_quota

router = APIRouter(prefix="/orgs/{org_id}/conversations", tags=["conversations"])


class ConversationIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    tags: list[str] = []


class MessageIn(BaseModel):
    role: str = Field(pattern="^(user|assistant|system)$")
    content: str = Field(min_length=1)


def conversation_out(conversation: Conversation) -> dict[str, object]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "archived": conversation.archived,
        "created_by": conversation.created_by,
        "tags": sorted(tag.name for tag in conversation.tags),
    }


def message_out(message: Message) -> dict[str, object]:
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "model": message.model,
        "tokens": message.tokens,
    }


def load(session: TenantSession, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise ServiceError(404, f"no conversation {conversation_id}")
    return conversation


@router.post("", status_code=201)
def create(body: ConversationIn, user: Member, session: TenantSession) -> dict[str, object]:
    check_conversation_quota(user.org_id)
    conversation = Conversation(title=body.title, created_by=user.id)
    conversation.tags = [Tag(name=name) for name in sorted(set(body.tags))]
    session.add(conversation)
    session.commit()
    return conversation_out(conversation)


@router.get("")
def list_conversations(
    user: Member,
    session: TenantSession,
    archived: bool = False,
    tag: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, object]:
    query = select(Conversation).where(Conversation.archived == archived)
    if tag is not None:
        query = query.where(Conversation.tags.any(Tag.name == tag))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = session.scalars(
        query.options(selectinload(Conversation.tags))
        .order_by(Conversation.id)
        .limit(limit)
        .offset(offset)
    )
    return {"total": total, "items": [conversation_out(c) for c in page]}


@router.get("/{conversation_id}")
def get(conversation_id: int, user: Member, session: TenantSession) -> dict[str, object]:
    conversation = load(session, conversation_id)
    votes = session.scalars(select(Vote).where(Vote.conversation_id == conversation_id))
    return {
        **conversation_out(conversation),
        "messages": [message_out(m) for m in conversation.messages],
        "votes": [{"voter": v.voter_model, "chosen": v.chosen_model} for v in votes],
    }


@router.post("/{conversation_id}/messages", status_code=201)
def add_message(
    conversation_id: int, body: MessageIn, user: Member, session: TenantSession
) -> dict[str, object]:
    conversation = load(session, conversation_id)
    if conversation.archived:
        raise ServiceError(409, "the conversation is archived")
    message = Message(conversation_id=conversation.id, role=body.role, content=body.content)
    session.add(message)
    session.commit()
    return message_out(message)


@router.post("/{conversation_id}/archive")
def archive(conversation_id: int, user: Member, session: TenantSession) -> dict[str, object]:
    conversation = load(session, conversation_id)
    conversation.archived = True
    session.commit()
    return conversation_out(conversation)


@router.delete("/{conversation_id}", status_code=204)
def delete(conversation_id: int, user: Member, session: TenantSession) -> None:
    if user.role != "owner" and load(session, conversation_id).created_by != user.id:
        raise ServiceError(403, "only the owner or the author can delete a conversation")
    session.delete(load(session, conversation_id))
    session.commit()
