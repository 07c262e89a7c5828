"""The HTTP routes that call OpenRouter, end to end: mock -> app -> tenant database.

These tests drive the app with ``httpx.AsyncClient(transport=ASGITransport(app))`` inside the
test's own event loop, so the app's backoff sleeps run on the virtual clock (TestClient would
run the app on a loop of its own, in real time).
"""

import httpx
import pytest
import pytest_asyncio
from factories import OrgFactory
from sqlalchemy import select

from app.main import app
from app.models import Message, Vote

GPT, CLAUDE, GEMINI = "openai/gpt-4o", "anthropic/claude-sonnet-4", "google/gemini-2.5-pro"


@pytest.fixture
def acme_owner():
    OrgFactory(id="acme")
    return {"X-User-Id": "1"}


@pytest_asyncio.fixture
async def api():
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://council.test"
    ) as client:
        yield client


async def new_conversation(api, headers, title="Trip"):
    response = await api.post("/orgs/acme/conversations", headers=headers, json={"title": title})
    return response.json()["id"]


@pytest.mark.asyncio
async def test_ask_stores_question_and_answer(api, acme_owner, openrouter, tenancy):
    openrouter.model(GPT).script(openrouter.reply("Pack light.", usage={"total_tokens": 42}))
    conversation = await new_conversation(api, acme_owner)
    response = await api.post(
        f"/orgs/acme/conversations/{conversation}/ask",
        headers=acme_owner,
        json={"content": "What should I pack?"},
    )
    assert response.status_code == 201
    assert response.json()["content"] == "Pack light."
    rows = tenancy.tenant("acme").scalars(select(Message).order_by(Message.id)).all()
    assert [(m.role, m.content, m.tokens) for m in rows] == [
        ("user", "What should I pack?", 0),
        ("assistant", "Pack light.", 42),
    ]
    sent = openrouter.calls[0].messages
    assert sent[0]["role"] == "system"
    assert sent[-1] == {"role": "user", "content": "What should I pack?"}


@pytest.mark.asyncio
async def test_ask_retries_through_the_ladder_in_virtual_time(
    api, acme_owner, openrouter, virtual_clock
):
    openrouter.model(GPT).script(
        openrouter.rate_limited(retry_after=30),
        openrouter.server_error(503),
        openrouter.reply("Finally."),
    )
    conversation = await new_conversation(api, acme_owner)
    response = await api.post(
        f"/orgs/acme/conversations/{conversation}/ask", headers=acme_owner, json={"content": "?"}
    )
    assert response.json()["content"] == "Finally."
    assert virtual_clock.sleeps == [1, 2]


@pytest.mark.asyncio
async def test_ask_keeps_the_question_when_the_model_gives_up(
    api, acme_owner, openrouter, virtual_clock, tenancy
):
    openrouter.model(GPT).script(*[openrouter.server_error(502)] * 5)
    conversation = await new_conversation(api, acme_owner)
    response = await api.post(
        f"/orgs/acme/conversations/{conversation}/ask", headers=acme_owner, json={"content": "?"}
    )
    assert response.status_code == 502
    assert "did not answer" in response.json()["detail"]
    messages = tenancy.tenant("acme").scalars(select(Message.role)).all()
    assert messages == ["user"]


@pytest.mark.asyncio
async def test_council_route_records_answers_and_votes(api, acme_owner, openrouter, tenancy):
    for model, answer, ballot in [
        (GPT, "Paris.", "2"),
        (CLAUDE, "Paris, on the Seine.", "2"),
        (GEMINI, "Lyon.", "1"),
    ]:
        openrouter.model(model).script(openrouter.reply(answer), openrouter.reply(ballot))
    response = await api.post(
        "/orgs/acme/council", headers=acme_owner, json={"question": "Capital of France?"}
    )
    assert response.status_code == 201
    assert response.json()["winner"] == CLAUDE
    session = tenancy.tenant("acme")
    votes = session.scalars(select(Vote).order_by(Vote.id)).all()
    assert [(v.voter_model, v.chosen_model) for v in votes] == [
        (GPT, CLAUDE),
        (CLAUDE, CLAUDE),
        (GEMINI, GPT),
    ]
    stats = (await api.get("/orgs/acme/stats", headers=acme_owner)).json()
    assert stats["wins"] == {CLAUDE: 2, GPT: 1}
    assert stats["messages"] == 4


@pytest.mark.asyncio
async def test_council_with_no_answer_is_a_502_and_stores_nothing(
    api, acme_owner, openrouter, virtual_clock, tenancy
):
    openrouter.script(*[openrouter.server_error(500)] * 15)
    response = await api.post(
        "/orgs/acme/council",
        headers=acme_owner,
        json={"question": "Anyone?", "models": [GPT, CLAUDE, GEMINI]},
    )
    assert response.status_code == 502
    assert tenancy.tenant("acme").scalars(select(Vote)).all() == []


@pytest.mark.asyncio
async def test_council_results_stay_in_the_callers_tenant(api, openrouter, tenancy):
    OrgFactory(id="acme")
    OrgFactory(id="globex", owner_email="boss@globex.example")
    openrouter.default_reply("1")
    with tenancy.only("acme"):
        response = await api.post(
            "/orgs/acme/council",
            headers={"X-User-Id": "1"},
            json={"question": "Q?", "models": [GPT, CLAUDE]},
        )
    assert response.status_code == 201
    assert tenancy.tenant("globex").scalars(select(Vote)).all() == []
