"""The council: parallel answers through the global semaphore, then a vote."""

import pytest

from app.council import RANKING_INSTRUCTION, CouncilResult, run_council

KEY = "sk-or-v1-example-app-key-0123456789"
GPT, CLAUDE, GEMINI = "openai/gpt-4o", "anthropic/claude-sonnet-4", "google/gemini-2.5-pro"
QUESTION = "What is the capital of France?"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)


def member(openrouter, model, answer, vote):
    """One model's script: its answer, then its ballot."""
    openrouter.model(model).script(openrouter.reply(answer), openrouter.reply(vote))


@pytest.mark.asyncio
async def test_every_model_answers_and_the_most_voted_wins(openrouter, virtual_clock):
    member(openrouter, GPT, "Paris.", "2")
    member(openrouter, CLAUDE, "Paris, on the Seine.", "Answer 2 is best")
    member(openrouter, GEMINI, "Lyon.", "1")
    result = await run_council(QUESTION, [GPT, CLAUDE, GEMINI])
    assert result == CouncilResult(
        answers={GPT: "Paris.", CLAUDE: "Paris, on the Seine.", GEMINI: "Lyon."},
        failures={},
        votes=[(GPT, CLAUDE), (CLAUDE, CLAUDE), (GEMINI, GPT)],
        winner=CLAUDE,
    )
    assert virtual_clock.sleeps == []


@pytest.mark.asyncio
async def test_the_ranking_prompt_numbers_answers_without_naming_models(openrouter):
    member(openrouter, GPT, "Paris.", "1")
    member(openrouter, CLAUDE, "Paris!", "1")
    await run_council(QUESTION, [GPT, CLAUDE])
    prompt = openrouter.calls_for(CLAUDE)[1].messages[0]["content"]
    assert prompt == (
        f"Question: {QUESTION}\n\nAnswer 1:\nParis.\n\nAnswer 2:\nParis!\n\n{RANKING_INSTRUCTION}"
    )
    assert GPT not in prompt


@pytest.mark.asyncio
async def test_one_failing_model_does_not_sink_the_council(openrouter, virtual_clock):
    openrouter.model(GEMINI).script(*[openrouter.server_error(502)] * 5)
    member(openrouter, GPT, "Paris.", "1")
    member(openrouter, CLAUDE, "Paris!", "2")
    result = await run_council(QUESTION, [GEMINI, GPT, CLAUDE])
    assert result.answers == {GPT: "Paris.", CLAUDE: "Paris!"}
    assert result.failures == {
        GEMINI: f"{GEMINI}: gave up after 5 attempts, last: 502 Provider returned error"
    }
    assert len(openrouter.calls_for(GEMINI)) == 5  # never asked to vote
    assert result.winner == GPT  # a 1-1 tie goes to the model listed first
    assert virtual_clock.sleeps == [1, 2, 4, 8]


@pytest.mark.asyncio
async def test_a_flaky_model_recovers_within_its_retries(openrouter, virtual_clock):
    openrouter.model(GPT).script(
        openrouter.rate_limited(retry_after=5),
        openrouter.timeout(),
        openrouter.reply("Paris."),
        openrouter.reply("1"),
    )
    member(openrouter, CLAUDE, "Lyon.", "1")
    result = await run_council(QUESTION, [GPT, CLAUDE])
    assert result.failures == {}
    assert result.winner == GPT
    assert virtual_clock.sleeps == [1, 2]


@pytest.mark.asyncio
async def test_a_large_council_never_exceeds_the_global_semaphore(openrouter, virtual_clock):
    models = [f"vendor/model-{i:02d}" for i in range(12)]
    for model in models:
        openrouter.model(model).script(
            openrouter.reply(f"answer of {model}", latency=2), openrouter.reply("3", latency=1)
        )
    result = await run_council(QUESTION, models)
    assert openrouter.max_in_flight == 4  # reached, never exceeded
    assert len(openrouter.calls) == 24
    assert virtual_clock.now() == 3 * 2 + 3 * 1  # 12 answers then 12 votes, 4 at a time
    assert result.winner == models[2]
    assert len(result.votes) == 12


@pytest.mark.asyncio
async def test_unusable_ballots_are_ignored(openrouter):
    member(openrouter, GPT, "Paris.", "They are all good")
    member(openrouter, CLAUDE, "Paris!", "7")  # there is no answer 7
    openrouter.model(GEMINI).script(openrouter.reply("Paris?"), openrouter.error(403))
    result = await run_council(QUESTION, [GPT, CLAUDE, GEMINI])
    assert result.votes == []
    assert result.winner is None
    assert set(result.answers) == {GPT, CLAUDE, GEMINI}  # failing to vote keeps the answer


@pytest.mark.asyncio
async def test_when_every_model_fails_there_is_no_vote(openrouter):
    openrouter.default_reply(openrouter.error(401))
    result = await run_council(QUESTION, [GPT, CLAUDE])
    assert result == CouncilResult(
        answers={},
        failures={
            GPT: f"{GPT}: 401 No cookie auth credentials found",
            CLAUDE: result.failures[CLAUDE],
        },
        votes=[],
        winner=None,
    )
    assert len(openrouter.calls) == 2  # no retry of a 401, no ranking round


@pytest.mark.asyncio
async def test_a_model_listed_twice_is_asked_once(openrouter):
    member(openrouter, GPT, "Paris.", "1")
    result = await run_council(QUESTION, [GPT, GPT])
    assert result.answers == {GPT: "Paris."}
    assert result.votes == [(GPT, GPT)]
    assert len(openrouter.calls) == 2
