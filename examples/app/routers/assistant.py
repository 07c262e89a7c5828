"""Asking the models: one model in a conversation, or the whole council."""

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from app import council, openrouter
from app.database import load_defaults
from app.models import Conversation, Message, Setting, Vote
from app.routers.conversations import load, message_out
from app.routers.deps import Member, TenantSession
from app.services import ServiceError

router = APIRouter(prefix="/orgs/{org_id}", tags=["assistant"])


class AskIn(BaseModel):
    content: str = Field(min_length=1)
    model: str = "openai/gpt-4o"


class CouncilIn(BaseModel):
    question: str = Field(min_length=1)
    models: list[str] | None = None


def system_prompt(session: TenantSession) -> str:
    setting = session.get(Setting, "system_prompt")
    return setting.value if setting else str(load_defaults()["system_prompt"])


@router.post("/conversations/{conversation_id}/ask", status_code=201)
async def ask(
    conversation_id: int, body: AskIn, user: Member, session: TenantSession
) -> dict[str, object]:
    conversation = load(session, conversation_id)
    history = [{"role": "system", "content": system_prompt(session)}]
    history += [{"role": m.role, "content": m.content} for m in conversation.messages]
    history.append({"role": "user", "content": body.content})
    session.add(Message(conversation_id=conversation.id, role="user", content=body.content))
    try:
        result = await openrouter.query_model(body.model, history)
    except openrouter.OpenRouterError as exc:
        session.commit()  # keep the question even if no model answered
        raise ServiceError(502, f"the model did not answer: {exc}") from None
    answer = Message(
        conversation_id=conversation.id,
        role="assistant",
        content=result["content"],
        model=result["model"],
        tokens=int(result.get("usage", {}).get("total_tokens", 0)),
    )
    session.add(answer)
    session.commit()
    return message_out(answer)


@router.post("/council", status_code=201)
async def convene(body: CouncilIn, user: Member, session: TenantSession) -> dict[str, object]:
    models = body.models or list(load_defaults()["models"])
    result = await council.run_council(body.question, models)
    if not result.answers:
        raise ServiceError(502, "no model of the council answered")
    conversation = Conversation(title=body.question[:200], created_by=user.id)
    session.add(conversation)
    session.flush()
    session.add(Message(conversation_id=conversation.id, role="user", content=body.question))
    for model, content in result.answers.items():
        session.add(
            Message(conversation_id=conversation.id, role="assistant", content=content, model=model)
        )
    for voter, chosen in result.votes:
        session.add(Vote(conversation_id=conversation.id, voter_model=voter, chosen_model=chosen))
    session.commit()
    return {
        "conversation_id": conversation.id,
        "winner": result.winner,
        "answers": result.answers,
        "failures": result.failures,
    }


@router.get("/stats")
def stats(user: Member, session: TenantSession) -> dict[str, object]:
    wins = session.execute(
        select(Vote.chosen_model, func.count())
        .group_by(Vote.chosen_model)
        .order_by(Vote.chosen_model)
    )
    return {
        "conversations": session.scalar(select(func.count()).select_from(Conversation)),
        "messages": session.scalar(select(func.count()).select_from(Message)),
        "tokens": session.scalar(select(func.coalesce(func.sum(Message.tokens), 0))),
        "wins": {row[0]: row[1] for row in wins},
    }
